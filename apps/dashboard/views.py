"""The dashboard on the admin home and the expiry forecast page (SPEC §9.4).

The home panel is rendered by ``{% dashboard_panel %}`` (templatetags/dashboard.py) inside the admin's
own index page, so the usual app list stays below it and the admin's URL stays the home. The forecast has
its own page and CSV download. Every figure links to the list it counts, with the filter that selects
exactly those rows (``?service=`` added for the platform operator).
"""

import csv
import io
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.accounts import rights
from apps.accounts.models import Account
from apps.plans.inheritance import currency_of
from apps.core import clock
from apps.core.admin import CappedPaginator
from apps.core.errors import DomainError
from apps.core.labels import labels_for
from apps.core.money import format_money
from apps.core.scoping import is_platform

from . import queries
from .chart import day_label, forecast_chart

BALANCE_COLUMN = 4  # the accounts list's "balance" column, for ``?o=`` (ascending)


def _list_url(url_name: str, scope: queries.Scope, **params) -> str:
    if is_platform(scope.user):
        params = {"service": scope.service.pk, **params}
    return f"{reverse(url_name)}?{urlencode(params)}" if params else reverse(url_name)


def figure_links(scope: queries.Scope) -> dict[str, str]:
    units, codes = "admin:units_unit_changelist", "admin:codes_activationcode_changelist"
    accounts = "admin:accounts_account_changelist"
    return {
        "units_active": _list_url(units, scope, active__exact=1),
        "units_inactive": _list_url(units, scope, active__exact=0),
        "codes_new": _list_url(codes, scope, state="new"),
        "codes_on_unit": _list_url(codes, scope, state="active_assigned"),
        "codes_running_unassigned": _list_url(codes, scope, state="active_unassigned"),
        "codes_queued": _list_url(codes, scope, state="queued"),
        "codes_expiring_7": _list_url(codes, scope, expiring_within=7),
        "codes_expiring_30": _list_url(codes, scope, expiring_within=30),
        "accounts_blocked": _list_url(accounts, scope, blocked__exact=1),
        "accounts_blocking_soon": _list_url(accounts, scope, blocking_soon=1),
        "lowest_balances": _list_url(accounts, scope, o=BALANCE_COLUMN),
        "discount": _list_url("discount_module", scope),
        "forecast": _list_url("dashboard-forecast", scope),
    }


def _currency(scope: queries.Scope) -> str:
    return currency_of(scope.service)


def panel_context(request) -> dict:
    """What the home panel shows this viewer: nothing for a role without a dashboard; the service chooser
    for the platform operator (and the figures once a service is chosen); the figures for the others."""
    user = request.user
    if not rights.may_see_dashboard(user):
        return {}
    context = {"show": True, "is_platform": is_platform(user)}
    if is_platform(user):
        context["services"] = list(queries.services_for_chooser(user).values_list("pk", "name"))
        if not request.GET.get("service"):
            return context
    try:
        scope = queries.scope_for(user, request.GET.get("service"))
    except DomainError as exc:
        return {**context, "error": exc.detail}
    now = clock.now()
    figures = queries.dashboard(scope, now, cap=CappedPaginator.CAP)
    currency = _currency(scope)
    links = figure_links(scope)
    # Each account on its real path from the viewer's level (North › North-East): two queries for the ten.
    accounts = Account.objects.only("pk", "name", "path").in_bulk([row["account"] for row in figures["lowest_balances"]])
    labels = labels_for(request).add(accounts.values())
    lowest = [{**row, "balance_text": format_money(row["balance"], currency), "label": labels(accounts[row["account"]]),
               "url": reverse("admin:accounts_account_change", args=[row["account"]])}
              for row in figures["lowest_balances"]]
    result = queries.forecast(scope, now)
    return {**context, "scope": scope, "figures": figures, "links": links, "lowest": lowest,
            "new_capped": figures["codes"]["new"] > CappedPaginator.CAP, "cap": CappedPaginator.CAP,
            # Formatted here: the template's date filter would convert to the viewer's zone (UTC for the platform).
            "now_local": timezone.localtime(now, scope.tz).strftime("%Y-%m-%d %H:%M"),
            "tz_name": scope.service.timezone,
            "forecast": result, "chart": forecast_chart(result), "chosen": scope.service.pk}


class ForecastForm(forms.Form):
    days = forms.IntegerField(label=gettext_lazy("Days"), min_value=1, max_value=queries.MAX_DAYS, required=False,
                              initial=queries.DEFAULT_DAYS)
    distributor = forms.TypedChoiceField(label=gettext_lazy("Distributor"), required=False, coerce=int,
                                         empty_value=None)

    def __init__(self, data, *, scope: queries.Scope):
        super().__init__(data)
        dealers = queries.accounts_in_scope(scope).filter(parent_id=scope.root.pk, dealer_rights=True)
        self.fields["distributor"].choices = [("", _("All")), *dealers.order_by("name").values_list("pk", "name")]


def _forecast_request(request) -> tuple[queries.Scope | None, ForecastForm | None, str]:
    """The scope and the validated form of a forecast request; an error text when the service is missing
    or wrong (the platform operator's chooser is then shown)."""
    if not rights.may_see_dashboard(request.user):
        raise PermissionDenied
    try:
        scope = queries.scope_for(request.user, request.GET.get("service"))
    except DomainError as exc:
        return None, None, exc.detail
    data = request.GET.copy()
    data.setdefault("days", str(queries.DEFAULT_DAYS))  # shown in its box: the range the page shows
    form = ForecastForm(data, scope=scope)
    return scope, form, ""


def _run_forecast(scope, form) -> queries.Forecast:
    days = form.cleaned_data.get("days") or queries.DEFAULT_DAYS
    distributor = None
    if form.cleaned_data.get("distributor"):
        distributor = queries.distributor_in_scope(scope, form.cleaned_data["distributor"])
    return queries.forecast(scope, clock.now(), days=days, distributor=distributor)


PAGE_COLUMNS = 8  # distributors shown as their own column on the page (the CSV has every one)


def _page_columns(result: queries.Forecast) -> list[tuple[str, list[str]]]:
    """(heading, group keys) per column: the busiest distributors, then "Other distributors" for the rest
    (so the table fits the page at 1366 px), then "Direct"."""
    order = result.group_order()
    dealers = [k for k in order if k != queries.DIRECT]
    columns = [(result.names[k], [k]) for k in dealers[:PAGE_COLUMNS]]
    if len(dealers) > PAGE_COLUMNS:
        columns.append((_("Other distributors"), dealers[PAGE_COLUMNS:]))
    if queries.DIRECT in result.groups:
        columns.append((result.names[queries.DIRECT], [queries.DIRECT]))
    return columns


def _table_rows(result: queries.Forecast, columns) -> SafeString:
    """The table's rows (a day, its total, each column's count), built in one pass: 366 rows of ten cells
    through the template's loops were most of the page's time. Counts are integers; the day is escaped."""
    groups = [[result.groups[k] for k in keys] for _, keys in columns]
    rows = []
    for day, total in result.rows:
        cells = "".join(f'<td class="num">{sum(g.get(day, 0) for g in column)}</td>' for column in groups)
        zero = "" if total else ' class="zero"'
        rows.append(f'<tr{zero}><td>{escape(day_label(day))}</td><td class="num">{int(total)}</td>{cells}</tr>')
    return mark_safe("".join(rows))  # integers and escaped text only


def forecast_view(request):
    scope, form, error = _forecast_request(request)
    context = {**admin.site.each_context(request), "title": _("Expiry forecast"), "is_platform": is_platform(request.user),
               "services": list(queries.services_for_chooser(request.user).values_list("pk", "name")),
               "error": error if request.GET.get("service") or not is_platform(request.user) else "",
               "scope": scope, "form": form}
    status = 200
    if scope is not None and form.is_valid():
        result = _run_forecast(scope, form)
        columns = _page_columns(result)
        context.update({
            "forecast": result, "chart": forecast_chart(result), "tz_name": scope.service.timezone,
            "columns": [name for name, _ in columns],
            "table_rows": _table_rows(result, columns),
            "column_totals": [sum(sum(result.groups[k].values()) for k in keys) for _, keys in columns],
            "csv_query": urlencode({k: v for k, v in request.GET.items() if k in ("service", "days", "distributor")}),
            "chosen": scope.service.pk,
        })
    elif scope is not None or context["error"]:
        status = 400
    return TemplateResponse(request, "admin/dashboard/forecast.html", context, status=status)


def forecast_csv_view(request):
    """The forecast table as CSV: day, total, then one column per distributor ("direct" last)."""
    scope, form, error = _forecast_request(request)
    if scope is None or not form.is_valid():
        reason = error or "; ".join(f"{name}: {' '.join(errs)}" for name, errs in form.errors.items())
        return HttpResponseBadRequest(_("Invalid filter: %(reason)s") % {"reason": reason},
                                      content_type="text/plain; charset=utf-8")
    result = _run_forecast(scope, form)
    order = result.group_order()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("day (%(zone)s)") % {"zone": scope.service.timezone}, _("units"),
                     *[result.names[k] for k in order]])
    for day, total in result.rows:
        writer.writerow([day.isoformat(), total, *[result.groups[k].get(day, 0) for k in order]])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="forecast-{result.first_day.isoformat()}.csv"'
    return response
