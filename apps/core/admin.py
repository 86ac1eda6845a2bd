"""Admin building blocks shared by every app: operation-backed forms, scoping, the service filter,
capped counts for big tables and CSV streaming."""

import csv

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseBadRequest, StreamingHttpResponse
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from .errors import DomainError
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
    """A ModelForm whose save is an operation, run at the end of validation.

    The admin wraps the whole request in one transaction, so running the operation during
    validation is safe: a refusal becomes a form error naming the field, and nothing is written.
    Subclasses implement ``perform(actor) -> instance``; the admin's ``save_model`` then does nothing.
    """

    actor = None  # set by OperationAdminMixin.get_form

    def perform(self, actor):
        raise TypeError(f"{type(self).__name__} must define perform(actor)")

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        try:
            self.instance = self.perform(self.actor)
        except DomainError as exc:
            add_domain_error(self, exc)


class OperationAdminMixin:
    """Admin whose writes go through ``OperationForm.perform`` (never ``obj.save()``)."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def save_model(self, request, obj, form, change):
        """The operation already saved it during validation."""

    def save_related(self, request, form, formsets, change):
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


class OutOfScopeIs404:
    """Another scope's object by id is a 404 (as in the API), not Django's redirect with a message."""

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404(f"No {opts.verbose_name} with id {object_id} here.")


class ScopedAdminMixin(OutOfScopeIs404):
    """Rows and foreign-key choices limited to the operator's subtree; read-only while blocked."""

    scope_field = "account"  # the path from this model to its owning account ("" for Account itself)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100

    def get_queryset(self, request):
        return in_scope(super().get_queryset(request), request.user, self.scope_field)

    def _blocked(self, request) -> bool:
        from .api import operator_account_blocked

        cache_attr = "_operator_blocked"
        if not hasattr(request, cache_attr):
            setattr(request, cache_attr, operator_account_blocked(request.user))
        return getattr(request, cache_attr)

    def has_add_permission(self, request, *args):
        return super().has_add_permission(request, *args) and not self._blocked(request)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not self._blocked(request)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not self._blocked(request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        from apps.accounts.models import Account

        if db_field.related_model is Account:
            kwargs["queryset"] = in_scope(Account.objects.all(), request.user)
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

    title = _("service")
    parameter_name = "service"
    service_field = "account__service"

    def lookups(self, request, model_admin):
        if not is_platform(request.user):
            return ()
        from apps.accounts.models import Account

        return [(a.pk, a.name) for a in Account.objects.filter(parent__isnull=True).order_by("name")]

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
    first page.
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
