"""Admin building blocks shared by every app: the one way from a page to an operation, scoping, the
service filter, capped counts for big tables and CSV streaming."""

import base64
import csv
import json
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

from django.utils.translation import gettext
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import PAGE_VAR, ChangeList
from django.core.exceptions import ValidationError
from django.core.paginator import EmptyPage, InvalidPage, Page, PageNotAnInteger, Paginator
from django.db.models import Q
from django.http import Http404, HttpResponseBadRequest, StreamingHttpResponse
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import tree
from .api import operator_account_blocked
from .errors import DomainError
from .pickers import autocomplete_widget
from .scoping import in_scope, is_platform


def add_domain_error(form: forms.BaseForm, exc: DomainError):
    """Show a DomainError on the form: under each named field that the form has, else on top."""
    placed = False
    for name, reasons in (exc.fields or {}).items():
        if name in form.fields:
            for reason in reasons:
                form.add_error(name, reason)
            placed = True
    if not placed:
        form.add_error(None, exc.detail)


class OperationForm(forms.ModelForm):
    """A ModelForm that states the operation its page runs: ``perform(actor) -> instance``.

    It only validates; ``OperationAdminMixin.perform`` calls ``perform`` once the whole page is valid
    (this form and every inline formset). ``actor`` (the operator) is set by the admin's ``get_form``.
    """

    actor = None  # set by OperationAdminMixin.get_form

    def perform(self, actor):
        raise TypeError(f"{type(self).__name__} must define perform(actor)")


def adopt_saved(obj, saved):
    """Make ``obj`` (the admin's object: Django goes on with it for the change message, the log entry and
    the redirect) the row the operation saved: each concrete field's value copied by ``attname`` (a cached
    related object whose id changed is dropped by Django's descriptor), and ``obj`` marked as saved."""
    if saved is not obj:
        for field in obj._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.db = saved._state.db
    obj._state.adding = False
    return obj


class _Refused(Exception):
    """An operation's ``DomainError`` leaving the admin's transaction (``OperationAdminMixin``), with the
    prefix of the inline row it names (None: the main form)."""

    def __init__(self, error: DomainError, row_prefix: str | None = None):
        super().__init__(error)
        self.error, self.row_prefix = error, row_prefix


@contextmanager
def refused_on_row(row_form):
    """In ``OperationAdminMixin.perform``: a refusal of the operation run for this inline row is shown on
    that row (under the row's field it names, else atop the row), not on the main form."""
    try:
        yield
    except DomainError as exc:
        raise _Refused(exc, row_form.prefix) from exc


OPERATION_ERROR = "_admin_operation_error"  # the request attribute the refused operation's error rides on


class OperationAdminMixin:
    """The one way from an admin page to an operation: every admin that writes through an operation uses it.

    Hook: ``perform(request, form, formsets, change) -> instance``. Django validates the main form and
    every inline formset first; only when all are valid does it save, and here ``save_model`` does
    nothing and ``save_related`` calls ``perform``, which runs the operation(s) from the validated data
    (``form.cleaned_data``, the formsets' rows) and returns the instance saved. That instance becomes the
    admin's object (``adopt_saved``). The default ``perform`` calls the form's ``perform(actor)``
    (``OperationForm``), for pages whose form is the operation's whole input. Each formset's bookkeeping
    (``new_objects``, ``changed_objects``, ``deleted_objects``, read by the change message) starts empty;
    ``perform`` appends what it saved. Nothing else is saved: no ``obj.save()``, ``save_m2m`` or
    ``formset.save()``.

    All of it runs inside the admin's transaction (``changeform_view``'s ``atomic``). A ``DomainError``
    raised by ``perform`` leaves that block, so everything the request wrote is rolled back; the view
    then runs again with the error attached to the request, and the form adds it while validating
    (``add_domain_error``: under the field it names, else on top; an operation run for one inline row
    inside ``refused_on_row(row_form)`` puts it on that row). The operator sees the page as posted, with
    the refusal, and nothing is saved. The form class also gets ``actor`` (the operator).
    """

    def perform(self, request, form, formsets, change):
        return form.perform(request.user)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _Refused as refused:  # rolled back: the exception left the view's atomic block
            setattr(request, OPERATION_ERROR, refused)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        attrs = {"actor": request.user}
        refused = getattr(request, OPERATION_ERROR, None)
        if refused is not None and refused.row_prefix is None:
            def clean(self):
                cleaned = form.clean(self)
                add_domain_error(self, refused.error)
                return cleaned

            attrs["clean"] = clean
        return type(form.__name__, (form,), attrs)

    def get_formsets_with_inlines(self, request, obj=None):
        refused = getattr(request, OPERATION_ERROR, None)
        for formset, inline in super().get_formsets_with_inlines(request, obj):
            if refused is not None and refused.row_prefix is not None:
                def clean(self, _formset=formset):
                    _formset.clean(self)
                    for row in self.forms:
                        if row.prefix == refused.row_prefix:
                            add_domain_error(row, refused.error)

                formset = type(formset.__name__, (formset,), {"clean": clean})
            yield formset, inline

    def save_model(self, request, obj, form, change):
        """Nothing here: ``save_related`` runs the operation, once the inline formsets are valid too."""

    def save_related(self, request, form, formsets, change):
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        try:
            saved = self.perform(request, form, formsets, change)
        except DomainError as exc:
            raise _Refused(exc) from exc
        adopt_saved(form.instance, saved)


def operator_blocked(request) -> bool:
    """Whether the operator's account (or an ancestor) is blocked, read once a request: every admin's
    permission checks (the sidebar asks each model's add/change/delete) share the answer."""
    cache_attr = "_operator_blocked"
    if not hasattr(request, cache_attr):
        setattr(request, cache_attr, operator_account_blocked(request.user))
    return getattr(request, cache_attr)


class ReadOnlyAdminMixin:
    """A page that only shows rows (journals, the ledger, an index entry): no add, change or delete,
    whatever the role's model permissions say. Writes to these rows go through their operations."""

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OutOfScopeIs404:
    """Another scope's object by id is a 404 (as in the API), not Django's redirect with a message."""

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404(gettext("No %(object)s with id %(object_id)s here.") % {"object": opts.verbose_name, "object_id": object_id})


class ScopedAdminMixin(OutOfScopeIs404):
    """Rows and foreign-key choices limited to the operator's subtree; read-only while blocked."""

    scope_field = "account"  # the path from this model to its owning account ("" for Account itself)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100

    def get_queryset(self, request):
        return in_scope(super().get_queryset(request), request.user, self.scope_field)

    def _blocked(self, request) -> bool:
        return operator_blocked(request)

    def has_add_permission(self, request, *args):
        return super().has_add_permission(request, *args) and not self._blocked(request)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not self._blocked(request)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not self._blocked(request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        autocomplete_widget(self, db_field, request, kwargs)
        if db_field.related_model is tree.account_model():
            kwargs["queryset"] = in_scope(db_field.related_model.objects.all(), request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def id_value(value: str | None, name: str) -> int | None:
    """A list filter's id value: None when absent, an int when ASCII digits, else the admin's "invalid
    filter" answer (``IncorrectLookupParameters``: the list reloads with ``?e=1``), never a 500."""
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise IncorrectLookupParameters(_("“%(value)s” is not a valid %(name)s.") % {"value": value, "name": name})
    return int(value)


def invalid_filter_response(exc: Exception) -> HttpResponseBadRequest:
    """A page without a list to reload (a CSV export) answers a filter it cannot apply with 400 and the reason."""
    return HttpResponseBadRequest(_("Invalid filter: %(reason)s") % {"reason": exc},
                                  content_type="text/plain; charset=utf-8")


def chosen_service_id(request) -> int | None:
    """The service the platform operator chose with the "Service" filter (``?service=<id>``); None for
    everyone else, or when none (or no valid one) is chosen. Other filters narrow their choices to it."""
    if not is_platform(request.user):
        return None
    value = request.GET.get("service", "")
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


class ServiceListFilter(admin.SimpleListFilter):
    """The platform operator's "Service" filter (every list); hidden for everyone else."""

    title = gettext_lazy("service")
    parameter_name = "service"
    service_field = "account__service"

    def lookups(self, request, model_admin):
        if not is_platform(request.user):
            return ()
        services = tree.account_model().objects.filter(parent__isnull=True).order_by("name")
        return [(a.pk, a.name) for a in services]

    def service_lookup(self) -> str:
        return f"{self.service_field}_id"

    def queryset(self, request, queryset):
        if not is_platform(request.user):
            return queryset
        service_id = id_value(self.value(), "service")
        return queryset if service_id is None else queryset.filter(**{self.service_lookup(): service_id})


def service_filter(field: str) -> type[ServiceListFilter]:
    """A ServiceListFilter following ``field`` (e.g. ``"service"`` or ``"account__service"``)."""
    return type(f"ServiceFilter_{field}", (ServiceListFilter,), {"service_field": field})


class _OpenPage(Page):
    """A page past the counted rows: whether another follows is known from one extra row fetched."""

    def __init__(self, object_list, number, paginator, *, more: bool):
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self):
        return self.more

    def end_index(self):
        return self.start_index() + len(self.object_list) - 1


MAX_OFFSET = 2**63 - 1  # beyond it the database refuses the OFFSET (a 500) rather than return nothing


class ScopedRelatedFilter(admin.RelatedOnlyFieldListFilter):
    """A foreign-key filter whose choices are the related objects of the rows this operator sees (never
    Django's default of every row of the related table), narrowed to the platform operator's chosen
    service."""

    def field_choices(self, field, request, model_admin):
        rows = model_admin.get_queryset(request)
        service_id = chosen_service_id(request)
        service_filter_ = next((f for f in model_admin.list_filter if isinstance(f, type)
                                and issubclass(f, ServiceListFilter)), None)
        if service_id is not None and service_filter_ is not None:
            rows = rows.filter(**{f"{service_filter_.service_field}_id": service_id})
        pk_qs = rows.distinct().values_list(f"{self.field_path}__pk", flat=True)
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(include_blank=False, limit_choices_to={"pk__in": pk_qs}, ordering=ordering)


class CappedPaginator(Paginator):
    """Counts at most ``CAP + 1`` rows, so a page of a million-row table never counts them all.

    The admin shows "10,000+" (``templates/admin/pagination.html``); exact counts matter less than a fast
    first page. Every page stays reachable: a page past the counted rows is read with one extra row
    (``OFFSET``), which says whether another page follows; a page past the end raises ``EmptyPage``.
    """

    CAP = 10_000

    @cached_property
    def count(self):
        if hasattr(self.object_list, "order_by"):  # counting needs no ORDER BY (a sort of the whole set)
            return self.object_list.order_by()[: self.CAP + 1].count()
        return len(self.object_list)

    @property
    def capped(self) -> bool:
        """True when there are more rows than counted: ``admin/pagination.html`` then shows "10,000+"."""
        return self.count > self.CAP

    @property
    def counted_pages(self) -> int:
        """The pages known to be full from the count alone."""
        return self.CAP // self.per_page if self.capped else self.num_pages

    def validate_number(self, number):
        if not self.capped:
            return super().validate_number(number)
        try:  # past the counted pages the end is unknown: a page exists if it has rows (``page``)
            return super().validate_number(number)
        except EmptyPage:
            number = int(number)
            if number < 1 or number * self.per_page >= MAX_OFFSET:  # no table has rows that far
                raise
            return number

    def _slice(self, bottom: int, top: int):
        """Rows ``bottom``–``top`` of the list. Deep in a queryset the offset is taken on the ids alone
        (``pk IN (… OFFSET … LIMIT …)``): the skipped rows are not joined to their related rows."""
        qs = self.object_list
        if bottom == 0 or not hasattr(qs, "values") or qs.query.distinct or qs.query.combinator:
            return qs[bottom:top]
        return qs.filter(pk__in=qs.values("pk")[bottom:top])

    def page(self, number):
        number = self.validate_number(number)
        if number <= self.counted_pages:  # as Django's ``page``, through ``_slice``
            bottom = (number - 1) * self.per_page
            top = bottom + self.per_page
            if top + self.orphans >= self.count:
                top = self.count
            page = self._get_page(self._slice(bottom, top), number, self)
        else:
            bottom = (number - 1) * self.per_page
            rows = list(self._slice(bottom, bottom + self.per_page + 1))
            if not rows:
                raise EmptyPage(_("That page contains no results"))
            page = _OpenPage(rows[:self.per_page], number, self, more=len(rows) > self.per_page)
        self.current = page
        return page

    def get_page(self, number):
        """As Django's, but a number past the end of a capped list gives its real last page (one exact
        count, only for such a number), not the last counted one; below 1, the first page."""
        if not self.capped:
            return super().get_page(number)
        try:
            return self.page(number)
        except PageNotAnInteger:
            return self.page(1)
        except EmptyPage:
            if int(number) < 1:
                return self.page(1)
            exact = self.object_list.order_by().count() if hasattr(self.object_list, "order_by") else len(
                self.object_list)
            return self.page(max(1, -(-exact // self.per_page)))

    def get_elided_page_range(self, number=1, *, on_each_side=3, on_ends=2):
        """Past the cap the last page is unknown: the range ends at the current page, the next if it
        exists, or the counted pages, whichever is further, then an ellipsis."""
        if not self.capped:
            yield from super().get_elided_page_range(number, on_each_side=on_each_side, on_ends=on_ends)
            return
        current = getattr(self, "current", None)
        number = current.number if current is not None else 1
        known = max(self.counted_pages, number + (1 if current is not None and current.has_next() else 0))
        pages = sorted({*range(1, min(on_ends, known) + 1),
                        *range(max(1, number - on_each_side), min(known, number + on_each_side) + 1)})
        previous = 0
        for page in pages:
            if page > previous + 1:
                yield self.ELLIPSIS
            yield page
            previous = page
        yield self.ELLIPSIS


CURSOR_VAR = "cursor"
_KEY_PLACEHOLDER = "0key0"  # a key an admin change URL's ``<path:object_id>`` takes as it is


class _KeyPlaceholder:
    """A row whose key is the placeholder: ``ChangeList.url_for_result`` reverses the change URL with it once."""

    def __init__(self, attname: str):
        setattr(self, attname, _KEY_PLACEHOLDER)


class CappedChangeList(ChangeList):
    """A changelist over a ``CappedPaginator`` that never lies about where it is.

    - ``?p=N`` past the capped count works (next/previous beyond "10,000+"); a page past the end or
      below 1 is a 404 (Django's ``?e=1`` redirect would silently show page 1 again).
    - ``?all`` on a list longer than ``list_max_show_all`` says so instead of quietly showing a page.
    - With the admin's ``keyset_ordering`` (non-null fields, e.g. ``("-created_at", "id")``) and that
      order in effect, ``?cursor=`` pages by key: ``a.<key>`` the rows after a row, ``b.<key>`` those
      before it, ``last`` the last page. Such a page costs one indexed range read, whatever its depth:
      the "Last" link opens one, and its previous/next links are cursors too. Numbered pages keep their
      numbers (``?p=``), their offset taken on the ids alone (``CappedPaginator._slice``).
    """

    def __init__(self, request, *args, **kwargs):
        self.cursor = request.GET.get(CURSOR_VAR)
        self.keyset_page = False
        super().__init__(request, *args, **kwargs)
        # Each row's link carries the list's filters back to it. Django adds them row by row
        # (``add_preserved_filters`` resolves every row's URL to learn it is not the list's own: a quarter of a
        # hundred rows' rendering); the query is the same for every row, so it is built once here and the rows
        # take Django's shortcut (no filters to add).
        self.row_query = urlencode(dict(parse_qsl(self.preserved_filters))) if self.preserved_filters else ""
        self.preserved_filters = ""

    def url_for_result(self, result):
        """Django's change URL of the row (``reverse`` once a page, the row's quoted key put in), with the list's
        filters."""
        key = str(quote(getattr(result, self.pk_attname)))
        if key.isascii() and key.replace("_", "").isalnum():  # nothing ``reverse`` escapes: one reversed URL serves
            template = self.__dict__.get("_change_url")
            if template is None:
                template = self._change_url = super().url_for_result(_KeyPlaceholder(self.pk_attname))
            url = template.replace(_KEY_PLACEHOLDER, key)
        else:
            url = super().url_for_result(result)
        return f"{url}?{self.row_query}" if self.row_query else url

    def get_filters_params(self, params=None):
        lookup_params = super().get_filters_params(params)
        lookup_params.pop(CURSOR_VAR, None)
        self.params.pop(CURSOR_VAR, None)  # the search form's hidden fields
        return lookup_params

    def get_query_string(self, new_params=None, remove=None):
        """Links (filters, sorting, pages) start from the first page unless they name a cursor."""
        return super().get_query_string(new_params, [*(remove or []), CURSOR_VAR])

    # -- keyset --

    def _keyset_fields(self):
        wanted = list(getattr(self.model_admin, "keyset_ordering", None) or ())
        if not wanted or [str(o) for o in self.queryset.query.order_by] != wanted:
            return None
        return [(self.lookup_opts.get_field(name.lstrip("-")), name.startswith("-")) for name in wanted]

    @staticmethod
    def _encode(fields, row) -> str:
        values = [field.get_prep_value(getattr(row, field.attname)) for field, _ in fields]
        text = json.dumps([v.isoformat() if hasattr(v, "isoformat") else v for v in values])
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @staticmethod
    def _decode(fields, text: str) -> list:
        try:
            raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            if not isinstance(raw, list) or len(raw) != len(fields) or None in raw:
                raise ValueError
            values = [field.clean(value, None) for (field, _), value in zip(fields, raw, strict=True)]
            # In UTC: PostgreSQL refuses offsets past ±15:59 that Python accepts.
            return [v.astimezone(UTC) if isinstance(v, datetime) else v for v in values]
        except (ValueError, TypeError, OverflowError, RecursionError, ValidationError) as exc:
            raise Http404(_("This page link is malformed; start again from the first page.")) from exc

    @staticmethod
    def _beyond(fields, values, *, forward: bool) -> Q:
        """Rows strictly after ``values`` in the list's order (``forward``) or strictly before it. The
        leading bound is also stated alone, so the database starts its index range there."""
        def step(name, descending, value, strict):
            lookup = ("lt" if descending == forward else "gt") + ("" if strict else "e")
            return Q(**{f"{name}__{lookup}": value})

        names = [(field.name, descending) for field, descending in fields]
        alternatives = Q()
        for i, (name, descending) in enumerate(names):
            equal = Q(**{n: v for (n, _), v in zip(names[:i], values[:i], strict=True)})
            alternatives |= equal & step(name, descending, values[i], strict=True)
        return step(*names[0], values[0], strict=False) & alternatives

    def _keyset_results(self, fields):
        """The page the cursor names; ``newer``/``older``: whether rows come before/after it."""
        per_page, qs = self.list_per_page, self.queryset
        if self.cursor == "last":
            rows, newer, older = list(qs.reverse()[:per_page])[::-1], True, False
        elif self.cursor[:2] == "a.":
            after = list(qs.filter(self._beyond(fields, self._decode(fields, self.cursor[2:]), forward=True))
                         [:per_page + 1])
            rows, newer, older = after[:per_page], True, len(after) > per_page
        elif self.cursor[:2] == "b.":
            before = list(qs.reverse().filter(self._beyond(fields, self._decode(fields, self.cursor[2:]),
                                                           forward=False))[:per_page + 1])
            # At the top the page may be short: walking back never shows a row twice.
            rows, newer, older = before[:per_page][::-1], len(before) > per_page, True
        else:
            raise Http404(_("This page link is malformed; start again from the first page."))
        self.result_list = rows
        self.keyset_page = True
        self.first_url = self.get_query_string(remove=[CURSOR_VAR])
        self.previous_url = (self.get_query_string({CURSOR_VAR: "b." + self._encode(fields, rows[0])})
                             if newer and rows else None)
        self.next_url = (self.get_query_string({CURSOR_VAR: "a." + self._encode(fields, rows[-1])})
                         if older and rows else None)
        self.last_url = self.get_query_string({CURSOR_VAR: "last"}) if older else None

    # -- results --

    def get_results(self, request):
        fields = self._keyset_fields()
        if self.cursor is not None and fields is None:
            raise Http404(_("Page links by position work only in the list's default order; "
                            "start again from the first page."))
        # "Show all" only for a list known to be short: never for a capped count, whatever the admin's limit.
        self.list_max_show_all = min(self.list_max_show_all, getattr(self.model_admin.paginator, "CAP",
                                                                      self.list_max_show_all))
        try:
            super().get_results(request)
        except IncorrectLookupParameters as exc:
            if isinstance(exc.__context__, InvalidPage):
                raise Http404(_("There is no page %(number)s in this list.") % {"number": self.page_num}) from exc
            raise
        if not self.multi_page and not (self.show_all and self.can_show_all):
            # One page holds every row: Django reads the unsliced queryset, which PostgreSQL plans as a sort
            # of every row the filters might match (a whole branch when none does). The page's own slice
            # has the LIMIT the count found.
            self.result_list = self.paginator.page(1).object_list
        if self.show_all and not self.can_show_all:
            messages.warning(request, _("“Show all” lists at most %(limit)s rows and this list has more: it is "
                                        "shown %(per_page)s rows a page.")
                             % {"limit": self.list_max_show_all, "per_page": self.list_per_page})
        if self.cursor is not None and self.multi_page:
            self._keyset_results(fields)
            return
        page = getattr(self.paginator, "current", None)
        paged = self.multi_page and page is not None
        self.first_url = self.get_query_string(remove=[PAGE_VAR]) if paged and page.number > 1 else None
        self.previous_url = (self.get_query_string({PAGE_VAR: page.number - 1})
                             if paged and page.has_previous() else None)
        self.next_url = self.get_query_string({PAGE_VAR: page.number + 1}) if paged and page.has_next() else None
        self.last_url = (self.get_query_string({CURSOR_VAR: "last"})
                         if paged and fields is not None and page.has_next() and self.paginator.capped else None)


class CappedListMixin:
    """For a ModelAdmin over a big table: the capped count and the honest changelist above."""

    paginator = CappedPaginator
    show_full_result_count = False
    keyset_ordering: tuple[str, ...] | None = None

    def get_changelist(self, request, **kwargs):
        return CappedChangeList


class _Echo:
    def write(self, value):
        return value


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value) -> str:
    """Neutralise spreadsheet formulas (CSV injection): a leading = + - @ gets a quote."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def stream_csv(filename: str, header: list[str], rows) -> StreamingHttpResponse:
    """Stream every row (an iterator of sequences) as CSV without loading them all."""
    writer = csv.writer(_Echo())

    def generate():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([escape_cell(v) for v in row])

    response = StreamingHttpResponse(generate(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# django-celery-beat's scheduler models: the platform operator's only (its admin registered them before this
# module is discovered); top users and distributors read the jobs on "Scheduled jobs" (apps.core.jobs).
def _hide_beat_models():
    from .jobs import hide_beat_models

    hide_beat_models(admin.site)


_hide_beat_models()
