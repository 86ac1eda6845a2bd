"""The codes window, the expiry notices, and the unit page's code panel (SPEC §4, §8.5, §8.7).

The window is built for a million rows: scoped by an indexed prefix on ``holder_path``, a capped
count, no facets, no full count, joins declared up front, ordering on an indexed column. Bulk
actions show a confirmation page with counts and the refused rows, then run each row through its
operation; with "select all" they act on the whole filtered queryset.
"""

from datetime import datetime, time, timedelta
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.db import connection
from django.db.models import Exists, OuterRef, Q, Subquery
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, gettext_lazy, ngettext, pgettext

from apps.accounts import rights
from apps.accounts.audit_views import AuditHistoryMixin
from apps.accounts.models import Account
from apps.core import clock
from apps.core.html import format_cell
from apps.core.admin import (CURSOR_VAR, CappedListMixin, OperationAdminMixin, ReadOnlyAdminMixin, ScopedAdminMixin,
                             service_filter, stream_csv)
from apps.core.labels import PathLabelsMixin, label_kept, labels_for
from apps.core.pickers import PickerFiltersMixin, PickerListFilter, register_picker
from apps.core.scoping import is_platform
from apps.core.admin import add_domain_error, id_value
from apps.core.errors import DomainError
from apps.core.scoping import in_scope
from apps.units.models import Unit
from apps.units.queries import units_visible_to

from . import operations, pg, queries
from .forms import AssignUnitsForm, ExpiryNoticeForm, QueueUnitsForm, ShareForm, share_targets_for
from .models import VALIDITY_PRESETS, ActivationCode, CodeStatus, ExpiryNotice
from .window import STREAM_BASE, RestatedByStreams, WindowChangeList, WindowPaginator, streams_for

CSV_HEADER = ["code", "state", "validity_days", "created_at", "activated_at", "expires_at", "days_left",
              "unit", "unique_id", "account", "shared_with"]
REFUSED_SAMPLE = 50


def _tz_of(code: ActivationCode):
    """The page's zone (``accounts.middleware``: one zone for a person on every admin page, issue 15), not the
    code's service's: the platform operator sees UTC unless a service is chosen, like on every other page."""
    return timezone.get_current_timezone()


def _local(value: datetime | None, tz) -> str:
    return timezone.localtime(value, tz).strftime("%Y-%m-%d %H:%M") if value else "—"


def _local_cell(value: datetime | None, tz) -> str:
    """A date over its time, so the window's many columns fit beside the admin's navigation."""
    if value is None:
        return "—"
    local = timezone.localtime(value, tz)
    return format_cell('<span class="nowrap">{}</span><br><small>{}</small>', f"{local:%Y-%m-%d}", f"{local:%H:%M}")


def code_csv_rows(qs, now: datetime):
    """Every row of ``qs`` as CSV cells, streamed in chunks (one query per 2,000 rows)."""
    for code in qs.select_related("unit", "unit__account", "shared_with").iterator(chunk_size=2000):
        yield [code.code, code.state(at=now), code.validity_days, code.created_at.isoformat(),
               code.activated_at.isoformat() if code.activated_at else "",
               code.expires_at.isoformat() if code.expires_at else "", code.days_left(at=now) or "",
               code.unit.name if code.unit else "", code.unit.unique_id if code.unit else "",
               code.unit.account.name if code.unit else "", code.shared_with.name if code.shared_with else ""]


def named_change(event) -> str:
    """An event's ``key: before → after`` for a person: a unit named rather than numbered, and times in the
    page's zone (the log keeps ids and ISO instants; SPEC §9.8 "audit values")."""
    from django.utils.dateparse import parse_datetime

    from .models import CodeEvent

    def readable(values: dict) -> dict:
        out = dict(values)
        if out.get("unit") is not None and "unit_name" not in out and out["unit"] == event.unit_id:
            out["unit_name"] = event.unit_name
        for key, value in values.items():
            if key.endswith("_at") and isinstance(value, str):
                try:
                    moment = parse_datetime(value)
                except ValueError:
                    moment = None
                if moment is not None:
                    out[key] = f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"
        return out

    return CodeEvent(before=readable(event.before or {}), after=readable(event.after or {})).change_summary()


def batch_query(code: ActivationCode) -> str:
    """The query naming a code's batch (SPEC §4 "generate in batches"): the codes generated together
    share their service and creation instant (``generate_codes`` writes one ``created_at`` for the whole
    batch, a background job too), so (service, created_at) is the batch, with no column of its own."""
    return urlencode({"service": code.service_id, "created_at": code.created_at.isoformat()})


# --- the unit page's panel (wired into the unit admin by the units app) ------------------------------------

def unit_code_panel(unit) -> str:
    """HTML for a unit page: the live code and the code queued behind it, each with its expiry and days
    left, then the code history."""
    now = clock.now()
    code = queries.current_codes_for_units([unit.pk], now=now).get(unit.pk)
    queued = queries.queued_codes_for_units([unit.pk], now=now).get(unit.pk)
    tz = timezone.get_current_timezone()  # the page's zone, as the rest of the unit page
    if code is None:
        summary = format_html("<p>{}</p>", gettext("No activation code on this unit."))
    else:
        state = code.state(at=now)
        summary = format_html(
            "<p>{} <code>{}</code> — {} · {} {} · {} {} · <strong>{}</strong> {}</p>",
            gettext("Code"), code.display,
            {"active": pgettext("a code's state", "Active"), "expired": gettext("Expired")}.get(state, state),
            gettext("activated"), _local(code.activated_at, tz), gettext("expires"), _local(code.expires_at, tz),
            code.days_left(at=now) or 0, gettext("days left"))
    if queued is not None:
        summary = format_html(
            '{}<p class="queued-code">{} <code>{}</code> — {} {} · {} {} · {}</p>', summary,
            gettext("Queued next:"), queued.display, gettext("starts"), _local(queued.activated_at, tz),
            gettext("expires"), _local(queued.expires_at, tz),
            gettext("%(days)d days of validity") % {"days": queued.validity_days})
    history = list(queries.unit_code_history(unit.pk, limit=20))
    if not history:
        return format_html("{}<p>{}</p>", summary, gettext("No code history."))
    rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>", (
        (_local(e.at, tz), e.get_action_display(), e.code, e.actor_name) for e in history))
    return format_html('{}<table class="code-history"><thead><tr><th>{}</th><th>{}</th><th>{}</th>'
                       "<th>{}</th></tr></thead><tbody>{}</tbody></table>", summary, gettext("Time"),
                       gettext("Action"), gettext("Code"), gettext("By"), rows)


# --- list filters -----------------------------------------------------------------------------------------

class StateFilter(RestatedByStreams, admin.SimpleListFilter):
    """Derived state; expired codes are hidden unless asked for (SPEC §4)."""

    title = gettext_lazy("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("new", gettext("New")), ("queued", gettext("Queued on a unit")),
                ("active_assigned", gettext("Active on a unit")),
                ("active_unassigned", gettext("Active, unassigned")), ("expired", gettext("Expired")),
                ("all", gettext("All, with expired"))]

    def choices(self, changelist):
        """Django's first choice (no value: "All") is this filter's default, the codes not expired."""
        for index, choice in enumerate(super().choices(changelist)):
            if index == 0:
                choice["display"] = gettext("Not expired")
            yield choice

    def queryset(self, request, queryset):
        now = clock.now()
        if self.value() == "all":
            return queryset
        if self.value():
            return queries.filter_state(queryset, self.value(), now)
        return queryset.filter(queries.not_expired_q(now))


class AssignedFilter(RestatedByStreams, admin.SimpleListFilter):
    title = gettext_lazy("assigned")
    parameter_name = "assigned"

    def lookups(self, request, model_admin):
        return [("yes", gettext("On a unit")), ("no", gettext("Not on a unit"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(unit__isnull=self.value() == "no")
        return queryset


class SharedWithFilter(PickerListFilter):
    """"Not shared", a distributor's own account, or any distributor it may share with: a searchable picker."""

    title = gettext_lazy("shared with")
    parameter_name = "shared_with"
    picker = "codes.filter.shared_with"
    source = (ActivationCode, "shared_with")
    lookup = "shared_with_id"

    def fixed_choices(self, request):
        own = getattr(request.user, "account", None)
        mine = [(str(own.pk), own.name)] if own is not None and not own.is_top else []  # a distributor's own codes
        return [("none", gettext("Not shared")), *mine]

    def fixed_queryset(self, request, queryset, value):
        if value == "none":
            # Unshared codes are held by the top account: none lies in a distributor's branch (said, so the
            # database does not walk the branch to find that out).
            whole = is_platform(request.user) or rights.sees_whole_service(request.user)
            return queryset.filter(shared_with__isnull=True) if whole else queryset.none()
        return queryset.filter(shared_with_id=int(value))


class AccountFilter(PickerListFilter):
    """The codes on units of an account or below it (searchable picker of the accounts in scope): a
    distributor's branch, a client's fleet. Queued codes count on the unit they wait on."""

    title = gettext_lazy("account")
    parameter_name = "account"
    picker = "codes.filter.account"
    source = (ActivationCode, "shared_with")
    lookup = "account"

    def queryset(self, request, queryset):
        value = id_value(self.value(), str(self.title))
        if value is None:
            return queryset
        account = in_scope(Account.objects.filter(pk=value), request.user).first()
        if account is None:
            raise IncorrectLookupParameters(gettext("No such account here."))
        if account.parent_id is None or account.pk == request.user.account_id:
            # The top account, or the viewer's own: every code the viewer sees on a unit is on a unit below it
            # (a code held in a branch goes only to that branch's units), so no list of units is needed.
            return queryset.filter(Q(unit__isnull=False) | Q(queued_on__isnull=False))
        # The subtree's units read once (one query); the codes on them found from the units by the unit indexes
        # (``queued_on`` is set exactly when the code is queued: its partial unique index answers), as one set
        # of ids the window's own filters then narrow. Written as an OR of two semi-joins into each of the
        # window's queries, it walked every code of the service, the 800,000 new ones included, in each of them
        # (1,000,000 codes: 850 ms, issue 15 in docs/performance.md).
        units = list(Unit.objects.filter(account__path__startswith=account.path).values_list("pk", flat=True))
        if connection.vendor == "postgresql":  # one array parameter, whose length the planner knows
            units = pg.bigint_rows(units)
        on_units = ActivationCode.objects.filter(unit_id__in=units).order_by().values("pk").union(
            ActivationCode.objects.filter(queued_on_id__in=units, status=CodeStatus.QUEUED).order_by().values("pk"),
            all=True)
        return queryset.filter(pk__in=on_units)


class ValidityFilter(admin.SimpleListFilter):
    title = gettext_lazy("validity")
    parameter_name = "validity_days"

    def lookups(self, request, model_admin):
        return [(str(d), ngettext("%(days)d day", "%(days)d days", d) % {"days": d}) for d in VALIDITY_PRESETS]

    def queryset(self, request, queryset):
        return queryset.filter(validity_days=int(self.value())) if (self.value() or "").isdigit() else queryset


class ExpiringWithinFilter(admin.SimpleListFilter):
    title = gettext_lazy("expiring within")
    parameter_name = "expiring_within"

    def lookups(self, request, model_admin):
        return [(str(d), ngettext("%(days)d day", "%(days)d days", d) % {"days": d}) for d in (7, 30)]

    def queryset(self, request, queryset):
        if self.value() in ("7", "30"):
            now = clock.now()
            # now < expires_at ≤ now + N days, queued codes too (SPEC §9.8), as the dashboard counts them.
            return queryset.filter(expires_at__gt=now, expires_at__lte=now + timedelta(days=int(self.value())))
        return queryset


class DateRangeFilter(admin.FieldListFilter):
    """From/to date inputs (inclusive days in the page's time zone) for a date-time field: ``<field>__gte`` /
    ``__lt``."""

    template = "admin/codes/date_range_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.lower_key, self.upper_key = f"{field_path}__from", f"{field_path}__to"
        super().__init__(field, request, params, model, model_admin, field_path)
        # Django's FieldListFilter has already moved the expected parameters into ``used_parameters``
        # (reading ``params`` here found none, so the date filters filtered nothing).
        self.lower, self.upper = self._date(self.lower_key), self._date(self.upper_key)
        self.title = {"activated_at": gettext("activation date"), "expires_at": gettext("expiry date")}.get(field_path,
                                                                                                     field_path)
        self.request_params = request.GET

    def _date(self, key):
        """The parameter's date; a value that is no date is the admin's invalid-filter answer (``?e=1``)."""
        value = self.used_parameters.get(key)
        value = (value[-1] if isinstance(value, list) else value) or ""
        try:
            day = parse_date(value)
        except ValueError:  # well-formed but impossible (2026-02-31)
            day = None
        if value and day is None:
            raise IncorrectLookupParameters(gettext("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": value})
        return day

    def expected_parameters(self):
        return [self.lower_key, self.upper_key]

    def has_output(self):
        return True

    def queryset(self, request, queryset):
        if self.lower:
            queryset = queryset.filter(**{f"{self.field_path}__gte": datetime.combine(
                self.lower, time.min, timezone.get_current_timezone())})
        if self.upper:
            queryset = queryset.filter(**{f"{self.field_path}__lt": datetime.combine(
                self.upper + timedelta(days=1), time.min, timezone.get_current_timezone())})
        return queryset

    def choices(self, changelist):
        keep = [(k, v) for k, values in self.request_params.lists() for v in values
                if k not in (self.lower_key, self.upper_key, "p", CURSOR_VAR)]
        yield {"lower_key": self.lower_key, "upper_key": self.upper_key, "lower": self.lower or "",
               "upper": self.upper or "", "keep": keep,
               "clear_url": changelist.get_query_string(remove=[self.lower_key, self.upper_key])}


# --- the units the bulk actions offer, and the searchable pickers of the codes pages -----------------------

def free_units_of(units, now: datetime):
    """The units without a live code (where "assign to selected units" may put one), in name order."""
    # A correlated NOT EXISTS: an index probe per candidate unit (the picker's search narrows them first),
    # not a hashed set of every live code of the service built per query (90,000 of them: ~250 ms a page).
    busy = ActivationCode.objects.filter(queries.live_q(now), unit_id=OuterRef("pk"))
    return units.filter(~Exists(busy)).order_by("name", "id")


def queueable_units_of(units, now: datetime):
    """The units holding a live code and none queued (where "queue on selected units" may queue one)."""
    live = ActivationCode.objects.filter(queries.live_q(now), unit_id=OuterRef("pk"))
    queued = ActivationCode.objects.filter(status=CodeStatus.QUEUED, queued_on_id=OuterRef("pk"))
    return units.filter(Exists(live)).filter(~Exists(queued)).order_by("name", "id")


def _may_assign(user) -> bool:
    return queries.may_use_codes_window(user) and user.has_perm("codes.assign_code")


# apps.core.pickers: the rows are the unit admin's (the viewer's scope, archived units left out), narrowed.
register_picker("codes.apply", Unit, may_use=lambda user: user.has_perm("codes.apply_code"))
register_picker("codes.assign", Unit, lambda request, units: free_units_of(units, clock.now()), _may_assign)
register_picker("codes.queue", Unit, lambda request, units: queueable_units_of(units, clock.now()), _may_assign)
register_picker("codes.log.account", Account, may_use=queries.may_use_codes_window)
register_picker("codes.filter.account", Account, may_use=queries.may_use_codes_window)
register_picker("codes.filter.shared_with", Account,
                lambda request, accounts: accounts.filter(pk__in=share_targets_for(request.user).values("pk")),
                queries.may_use_codes_window)
register_picker("codes.share", Account,
                lambda request, accounts: accounts.filter(pk__in=share_targets_for(request.user).values("pk")),
                lambda user: queries.may_use_codes_window(user) and user.has_perm("codes.share_code"))


# --- the codes window ---------------------------------------------------------------------------------

@admin.register(ActivationCode)
class ActivationCodeAdmin(PathLabelsMixin, AuditHistoryMixin, PickerFiltersMixin, ReadOnlyAdminMixin, CappedListMixin,
                          ScopedAdminMixin, admin.ModelAdmin):
    """The codes window. Read-only (``ReadOnlyAdminMixin``): codes are generated in batches on their own page,
    every change is an action (assign, share…, reassign on its own page), and codes and their history are kept."""

    audit_subject_type = "code"  # History: the audit trail's events of this code
    list_display = ("code_display", "unit_link", "account_name", "shared_with_label", "validity", "activation",
                    "estimated_expiration", "state_display", "days_left_display")
    # Not "service": a row shows nothing of it (its times are in the page's zone, ``_tz_of``).
    list_select_related = ("unit", "unit__account", "shared_with", "queued_on", "queued_on__account")
    list_filter = (service_filter("service"), StateFilter, AssignedFilter, AccountFilter, SharedWithFilter,
                   ValidityFilter,
                   ExpiringWithinFilter, ("activated_at", DateRangeFilter), ("expires_at", DateRangeFilter))
    search_fields = ("code",)
    search_help_text = gettext_lazy("A code (case, spaces and dashes ignored), a unit name or an IMEI.")
    ordering = ("-created_at", "id")  # newest first, a stable order (SPEC §8.7)
    keyset_ordering = ordering  # "Last" and its neighbours by cursor: one index range read (CappedChangeList)
    sortable_by = ("validity", "activation", "estimated_expiration")
    empty_value_display = "—"
    actions = ["assign_to_units", "queue_on_units", "reassign", "unassign", "share", "unshare", "export_csv"]
    readonly_fields = ("code", "service", "status", "validity_days", "created_at", "activated_at", "expires_at",
                       "unit", "shared_with", "cleared_at")
    fields = readonly_fields

    # -- scoping and rights --

    def get_queryset(self, request):
        return queries.codes_visible_to(request.user)

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        """The default view and each filter read their kinds of codes from one index each (``window``)."""
        whole = is_platform(request.user) or rights.sees_whole_service(request.user)
        streams = streams_for(request.GET, clock.now(), whole_service=whole)
        if streams and request.GET.get(AccountFilter.parameter_name):
            # A new code is on no unit: under the account filter its stream is empty, so it is not read (its
            # count and its page were half the time of a branch's codes at 1,000,000 codes).
            streams = [(q, nearest) for q, nearest in streams if q != Q(status=CodeStatus.NEW)] or streams
        return WindowPaginator(queryset, per_page, orphans, allow_empty_first_page, streams=streams,
                               base=getattr(request, STREAM_BASE, None))

    def get_changelist(self, request, **kwargs):
        return WindowChangeList

    def _window_user(self, request) -> bool:
        return queries.may_use_codes_window(request.user)

    def has_module_permission(self, request):
        return self._window_user(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return self._window_user(request) and super().has_view_permission(request, obj)

    def _may_write(self, request, perm: str) -> bool:
        return self._window_user(request) and request.user.has_perm(f"codes.{perm}") and not self._blocked(request)

    def has_assign_permission(self, request):
        return self._may_write(request, "assign_code")

    def has_share_permission(self, request):
        return self._may_write(request, "share_code")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # -- columns --

    def action_checkbox(self, obj):
        """The row's checkbox as one string: Django renders it through the form widget templates, a
        third of the page's rendering time at 100 rows. Same markup."""
        return format_cell('<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
                           helpers.ACTION_CHECKBOX_NAME, obj.pk,
                           gettext("Select this object for an action - %(obj)s") % {"obj": obj})

    @admin.display(description=gettext_lazy("code"), ordering="created_at")
    def code_display(self, obj):
        return format_cell('<code class="activation-code">{}<br>{}</code>', obj.code[:16], obj.code[16:])

    @admin.display(description=gettext_lazy("validity (days)"), ordering="validity_days")
    def validity(self, obj):
        return obj.validity_days

    @admin.display(description=gettext_lazy("unit"))
    def unit_link(self, obj):
        if obj.unit is None and obj.queued_on is not None:  # queued there (or started there: SPEC §9.8)
            unit = obj.queued_on
            if obj.state(at=clock.now()) == CodeStatus.QUEUED:
                return format_cell('{} <small>({})</small><br><small class="queued-on">{}</small>', unit.name,
                                   unit.unique_id, gettext("queued, next after the live code"))
            return format_cell("{} <small>({})</small>", unit.name, unit.unique_id)
        if obj.unit is None:
            return "—"
        return format_cell("{} <small>({})</small>", obj.unit.name, obj.unit.unique_id)

    def label_accounts(self, obj) -> list:
        unit = obj.unit or obj.queued_on
        return [unit.account if unit else None, obj.shared_with]

    @admin.display(description=gettext_lazy("account"))
    def account_name(self, obj):
        """The unit's account on its real path from the viewer's level (North › North-East)."""
        unit = obj.unit or obj.queued_on
        return self.path_of(obj, unit.account) if unit else "—"

    @admin.display(description=gettext_lazy("shared with"), ordering="shared_with__name")
    def shared_with_label(self, obj):
        return self.path_of(obj, obj.shared_with) if obj.shared_with_id else "—"

    @admin.display(description=gettext_lazy("activated"), ordering="activated_at")
    def activation(self, obj):
        if obj.state(at=clock.now()) == CodeStatus.QUEUED:  # the planned start: when the live code ends
            return format_cell("<small>{}</small><br>{}", gettext("starts"), _local_cell(obj.activated_at, _tz_of(obj)))
        return _local_cell(obj.activated_at, _tz_of(obj))

    @admin.display(description=gettext_lazy("expires (estimated)"), ordering="expires_at")
    def estimated_expiration(self, obj):
        if obj.expires_at is None:
            return format_cell('<span title="{}">{}</span>', gettext("The clock starts at the first assignment"),
                               gettext("%(days)d d after first use") % {"days": obj.validity_days})
        return _local_cell(obj.expires_at, _tz_of(obj))

    @admin.display(description=gettext_lazy("state"))
    def state_display(self, obj):
        now = clock.now()
        state = obj.state(at=now)
        if state == CodeStatus.NEW:
            label = gettext("New")
        elif state == CodeStatus.EXPIRED:
            label = gettext("Expired")
        elif state == CodeStatus.QUEUED:
            label = gettext("Queued")
        else:
            label = pgettext("a code's state", "Active") if obj.unit_id_at(now) else gettext("Active, unassigned")
        return format_cell('<span class="code-state code-state-{}">{}</span>', state, label)

    @admin.display(description=gettext_lazy("days left"))
    def days_left_display(self, obj):
        days = obj.days_left(at=clock.now())
        return "—" if days is None else days

    # -- search: a code, a unit name or an IMEI --

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        code = queries.normalize_code(term)
        if code is not None:
            return queryset.filter(code=code), False
        return queryset.filter(unit_id__in=queries.unit_ids_matching(request.user, term)), False

    # -- page context: notices banner and the links to the other codes pages --

    def changelist_view(self, request, extra_context=None):
        from .views import banner_context

        extra_context = {"title": gettext("Activation codes"), **(extra_context or {}), **banner_context(request),
                         "codes_links": admin_index_links(request)}
        return super().changelist_view(request, extra_context)

    # -- bulk actions --

    def _confirmation(self, request, queryset, *, action: str, title: str, refused_q: Q, reason, form=None,
                      extra=None):
        """The intermediate page: counts, a sample of refused rows with reasons, the form, and every
        field the second POST needs (the action, the selected ids, ``select_across``)."""
        refused_qs = queryset.filter(refused_q)
        total = queryset.count()
        refused = refused_qs.count()
        sample = [(c, reason(c)) for c in refused_qs.select_related("unit", "shared_with")[:REFUSED_SAMPLE]]
        context = {
            **self.admin_site.each_context(request), "title": title, "opts": self.model._meta,
            "action": action, "total": total, "refused": refused, "acting": total - refused, "sample": sample,
            "form": form, "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME, **(extra or {}),
        }
        return TemplateResponse(request, "admin/codes/activationcode/bulk_confirmation.html", context)

    def _report(self, request, done: int, skipped: list, verb: str):
        level = messages.SUCCESS if not skipped else messages.WARNING
        reasons = {}
        for _, reason in skipped:
            reasons[reason] = reasons.get(reason, 0) + 1
        detail = "; ".join(f"{n} × {r}" for r, n in reasons.items())
        text = gettext("%(action)s: %(done)d done, %(skipped)d skipped") % {"action": verb, "done": done,
                                                                            "skipped": len(skipped)}
        self.message_user(request, text + (f" ({detail})" if detail else ""), level)

    @admin.action(description=gettext_lazy("Assign to selected units (one code per unit)"), permissions=["assign"])
    def assign_to_units(self, request, queryset):
        now = clock.now()
        free_units = free_units_of(queries.scoped_units(request.user), now).select_related("account")
        form = AssignUnitsForm(request.POST if "confirm" in request.POST else None, units_qs=free_units,
                               user=request.user)
        if "confirm" in request.POST and form.is_valid():
            codes = queryset.filter(unit__isnull=True).exclude(queries.expired_q(now))
            pairs = operations.pair_codes_with_units(codes, form.cleaned_data["units"], now=now)
            done, skipped = operations.assign_codes_bulk(actor=request.user, pairs=pairs, now=now)
            unpaired = len(form.cleaned_data["units"]) - len(pairs)
            if unpaired > 0:
                self.message_user(request, gettext("%(count)d units got no code: fewer usable codes were selected.")
                                  % {"count": unpaired},
                                  messages.WARNING)
            return self._report(request, done, skipped, gettext("Assigned"))
        return self._confirmation(
            request, queryset, action="assign_to_units", title=gettext("Assign codes to units"),
            refused_q=Q(unit__isnull=False) | queries.expired_q(now), form=form,
            reason=lambda c: gettext("expired") if c.state(at=now) == CodeStatus.EXPIRED
            else gettext("already on %(unit)s") % {"unit": c.unit})

    @admin.action(description=gettext_lazy("Queue on selected units (starts when their live code ends)"),
                  permissions=["assign"])
    def queue_on_units(self, request, queryset):
        """Like "assign to selected units": the selected new codes, oldest first, are paired with the units
        chosen on the confirmation page (units holding a live code and no queued one), in name order."""
        now = clock.now()
        live_until = ActivationCode.objects.filter(unit=OuterRef("pk"), status=CodeStatus.ACTIVE).values("expires_at")
        units = (queueable_units_of(queries.scoped_units(request.user), now)
                 .annotate(live_until=Subquery(live_until[:1])).select_related("account"))
        form = QueueUnitsForm(request.POST if "confirm" in request.POST else None, units_qs=units, user=request.user)
        if "confirm" in request.POST and form.is_valid():
            pairs = operations.pair_codes_with_queues(queryset.filter(status=CodeStatus.NEW),
                                                      form.cleaned_data["units"])
            done, skipped = operations.queue_codes_bulk(actor=request.user, pairs=pairs, now=now)
            unpaired = len(form.cleaned_data["units"]) - len(pairs)
            if unpaired > 0:
                self.message_user(request, gettext("%(count)d units got no code: fewer new codes were selected.")
                                  % {"count": unpaired}, messages.WARNING)
            return self._report(request, done, skipped, gettext("Queued"))
        return self._confirmation(
            request, queryset, action="queue_on_units", title=gettext("Queue codes on units"), form=form,
            refused_q=~Q(status=CodeStatus.NEW),
            reason=lambda c: gettext("queued already") if c.state(at=now) == CodeStatus.QUEUED else
            gettext("expired") if c.state(at=now) == CodeStatus.EXPIRED else gettext("not new: already started"),
            extra={"note": gettext("Each code starts on its unit the instant the unit's live code ends: "
                                   "no day is lost.")})

    @admin.action(description=gettext_lazy("Reassign to another unit (one code)"), permissions=["assign"])
    def reassign(self, request, queryset):
        """Move one code from its unit to another in one step (``reassign_code``: one ``reassigned`` event,
        the clock keeps running): opens the code's reassign page."""
        from django.shortcuts import redirect

        codes = list(queryset.values_list("pk", flat=True)[:2])
        if len(codes) != 1:
            self.message_user(request, gettext("Select exactly one code to reassign: a code moves to one unit."),
                              messages.ERROR)
            return None
        return redirect("admin:codes_activationcode_reassign", codes[0])

    def get_urls(self):
        from django.urls import path

        view = self.admin_site.admin_view
        return [path("<int:pk>/reassign/", view(self.reassign_view), name="codes_activationcode_reassign"),
                *super().get_urls()]

    def _visible_code(self, request, pk) -> ActivationCode:
        from django.http import Http404

        code = (self.get_queryset(request).select_related("unit", "unit__account", "shared_with", "service",
                                                          "queued_on", "queued_on__account").filter(pk=pk).first())
        if code is None:
            raise Http404(gettext("No activation code with this id here."))
        return code

    def reassign_view(self, request, pk):
        """The reassign page: the code, its unit and a searchable picker of the units it may move to (units
        of the operator's scope without a live code); one operation, one ``reassigned`` event."""
        from .forms import ReassignForm

        if not self.has_assign_permission(request):
            raise PermissionDenied
        code = self._visible_code(request, pk)
        now = clock.now()
        units = free_units_of(units_visible_to(request.user), now).select_related("account")
        form = ReassignForm(request.POST or None, units_qs=units, user=request.user)
        movable = code.unit_id is not None and code.state(at=now) == CodeStatus.ACTIVE
        if request.method == "POST" and movable and form.is_valid():
            unit = form.cleaned_data["unit"]
            try:
                operations.reassign_code(actor=request.user, code=code.pk, unit=unit.pk, now=now)
            except DomainError as exc:
                add_domain_error(form, exc)
            else:
                self.message_user(request, gettext("Code %(code)s moved from %(old)s to %(new)s; its clock keeps "
                                                   "running.") % {"code": code.display, "old": code.unit.name,
                                                                  "new": unit.name}, messages.SUCCESS)
                return redirect("admin:codes_activationcode_change", code.pk)
        context = {**self.admin_site.each_context(request), "title": gettext("Reassign a code"),
                   "opts": self.model._meta, "code": code, "form": form, "movable": movable,
                   "account_label": labels_for(request)(code.unit.account) if code.unit else "",
                   "tz_name": timezone.get_current_timezone_name()}
        return TemplateResponse(request, "admin/codes/activationcode/reassign.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The code's page: its facts (state, unit, account, holder, clock, batch) and its history, the
        code log's events of this code that the operator may read, times in the page's zone."""
        from django.http import Http404

        if not self.has_view_permission(request) or request.method != "GET":
            raise PermissionDenied  # read-only: every change is an action (reassign has its own page)
        if not (object_id.isascii() and object_id.isdigit() and len(object_id) <= 18):
            raise Http404(gettext("No activation code with this id here."))
        code = self._visible_code(request, int(object_id))
        now = clock.now()
        events = list(queries.code_events_visible_to(request.user).filter(code_id=code.pk).order_by("-at", "-id")[:200])
        for event in events:
            event.named_change = named_change(event)
        label_kept(request, events)
        unit = code.unit or code.queued_on
        state = code.state(at=now)
        context = {
            **self.admin_site.each_context(request), "title": gettext("Activation code %(code)s") % {
                "code": code.display}, "opts": self.model._meta, "code": code, "events": events,
            "state": self.state_display(code), "unit": unit, "days_left": code.days_left(at=now),
            "account_label": labels_for(request)(unit.account) if unit else "",
            "shared_label": labels_for(request)(code.shared_with),
            "queued": state == CodeStatus.QUEUED, "may_reassign": self.has_assign_permission(request)
            and code.unit_id is not None and state == CodeStatus.ACTIVE,
            "batch_query": batch_query(code), "tz_name": timezone.get_current_timezone_name(),
            "object_id": code.pk, "original": code, "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/codes/activationcode/detail.html", context)

    @admin.action(description=gettext_lazy("Unassign from their units"), permissions=["assign"])
    def unassign(self, request, queryset):
        now = clock.now()
        if "confirm" in request.POST:
            done, skipped = operations.run_each(
                queryset.filter(unit__isnull=False).iterator(),
                lambda c: operations.unassign_code(actor=request.user, code=c, now=now))
            return self._report(request, done, skipped, gettext("Unassigned"))
        return self._confirmation(
            request, queryset, action="unassign", title=gettext("Unassign codes"),
            refused_q=Q(unit__isnull=True) | queries.expired_q(now),
            reason=lambda c: gettext("expired") if c.state(at=now) == CodeStatus.EXPIRED else gettext("not on a unit"),
            extra={"note": gettext("Their units are deactivated at once; the codes keep running.")})

    @admin.action(description=gettext_lazy("Share with a distributor"), permissions=["share"])
    def share(self, request, queryset):
        now = clock.now()
        form = ShareForm(request.POST if "confirm" in request.POST else None, user=request.user)
        if "confirm" in request.POST and form.is_valid():
            target = form.cleaned_data["account"]
            done, skipped = operations.run_each(
                queryset.iterator(), lambda c: operations.share_code(actor=request.user, code=c, account=target,
                                                                     now=now))
            return self._report(request, done, skipped, gettext("Shared with %(account)s") % {"account": target})
        return self._confirmation(
            request, queryset, action="share", title=gettext("Share codes"), form=form,
            refused_q=Q(unit__isnull=False) | queries.expired_q(now),
            reason=lambda c: gettext("expired") if c.state(at=now) == CodeStatus.EXPIRED
            else gettext("on unit %(unit)s") % {"unit": c.unit})

    @admin.action(description=gettext_lazy("Unshare (take back)"), permissions=["share"])
    def unshare(self, request, queryset):
        now = clock.now()
        if "confirm" in request.POST:
            done, skipped = operations.run_each(
                queryset.iterator(), lambda c: operations.unshare_code(actor=request.user, code=c, now=now))
            return self._report(request, done, skipped, gettext("Unshared"))
        own = Q(shared_with_id=request.user.account_id) if not is_platform(request.user) else Q(pk__in=[])
        return self._confirmation(
            request, queryset, action="unshare", title=gettext("Unshare codes"),
            refused_q=Q(shared_with__isnull=True) | Q(unit__isnull=False) | own,
            reason=lambda c: (gettext("not shared") if c.shared_with_id is None
                              else gettext("on unit %(unit)s") % {"unit": c.unit} if c.unit_id
                              else gettext("shared with your own account: an operator above takes it back")))

    @admin.action(description=gettext_lazy("Export selected as CSV"))
    def export_csv(self, request, queryset):
        now = clock.now()
        return stream_csv(f"activation-codes-{now:%Y%m%d-%H%M}.csv", CSV_HEADER, code_csv_rows(queryset, now))


@admin.register(ExpiryNotice)
class ExpiryNoticeAdmin(OperationAdminMixin, ScopedAdminMixin, admin.ModelAdmin):
    form = ExpiryNoticeForm
    scope_field = "author_account"
    list_display = ("name", "created_at", "days_before", "repeat", "send_email", "recipient_count")
    list_filter = (service_filter("service"),)
    search_fields = ("name",)
    ordering = ("name",)

    def get_queryset(self, request):
        from django.db.models import Count

        return queries.notices_visible_to(request.user).annotate(n_recipients=Count("recipients"))

    def has_module_permission(self, request):
        return queries.may_use_codes_window(request.user) and super().has_module_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False  # deliveries hang on notices: "never sent twice" needs them kept

    def get_fields(self, request, obj=None):
        fields = ["name", "text", "days_before", "repeat", "send_email", "recipients"]
        return (["service", *fields] if is_platform(request.user) and obj is None else fields)

    @admin.display(description=gettext_lazy("users"), ordering="n_recipients")
    def recipient_count(self, obj):
        return obj.n_recipients


def admin_index_links(request) -> list[tuple[str, str, str]]:
    """The codes pages an operator may open, for the admin index: (key, label, url). The key is stable in every
    language (the codes window leaves out its own link by key, never by its translated label)."""
    user = request.user
    links = []
    if user.has_perm("codes.apply_code"):
        links.append(("apply", gettext("Apply a code"), reverse("codes-apply")))
    if queries.may_use_codes_window(user):
        links.append(("window", gettext("Activation codes"), reverse("admin:codes_activationcode_changelist")))
        links.append(("log", gettext("Code log"), reverse("codes-log")))
    if user.has_perm("codes.generate_codes") and rights.may_generate_codes(user):
        links.append(("generate", gettext("Generate codes"), reverse("codes-generate")))
    return links

