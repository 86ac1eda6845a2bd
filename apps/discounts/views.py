"""The discount module page in the admin (SPEC §5): summary, accounts and their units, the month.

Only top users and the platform operator may open it (everyone else: 404); the platform operator
picks a service. The page never calculates: it reads one page of a stored table (``tables``) — the
table the daily job saved with the last snapshot, or a recalculation asked with the Recalculate
button (``?calculation=<id>``), computed by a Celery task while the page shows its progress
(refreshing itself, no JavaScript needed). A fixed number of queries, whatever the service's size
(a test asserts it).
"""

from urllib.parse import urlencode

from django.contrib import admin
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext

from apps.accounts.rights import may_open_discount_module
from apps.core import clock
from apps.core.errors import InvalidInput
from apps.core.scoping import is_platform

from . import queries, tables
from .chart import month_chart
from .models import DiscountAccountRow, DiscountCalculation

ACCOUNTS_PER_PAGE = 50
UNITS_PER_PAGE = 50


def _int(value, default=None):
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


class _Paging:
    """A page of ``count`` rows (the count is stored with the table: no ``COUNT`` query)."""

    def __init__(self, count: int, asked, per_page: int, param: str, base: dict):
        self.count, self.per_page, self.param = count, per_page, param
        self.pages = max(1, -(-count // per_page))
        self.number = min(_int(asked, 1), self.pages)
        self.offset = (self.number - 1) * per_page
        self.first_row = self.offset + 1 if count else 0
        self.last_row = min(self.offset + per_page, count)
        self._base = base

    def url(self, number: int) -> str:
        return "?" + urlencode({**self._base, self.param: number})

    @property
    def previous_url(self):
        return self.url(self.number - 1) if self.number > 1 else None

    @property
    def next_url(self):
        return self.url(self.number + 1) if self.number < self.pages else None


def _service_for(request, value):
    try:
        return queries.get_discount_service(request.user, value)
    except InvalidInput:
        raise Http404 from None


def cap_explanation(summary, basic_package_units: int) -> str | None:
    """Why the applied discount is below the current one, when the maximum caps it (SPEC §5, §8.6)."""
    if summary is None or summary.current is None or summary.applied >= summary.current:
        return None
    from .templatetags.discounts import whole_percent

    n = summary.in_use
    return gettext(
        "The applied discount (%(applied)s) is below the current discount (%(current)s) because the maximum caps "
        "it: the maximum is (units in use %(n)s − basic-package units %(basic)s) / %(n)s = %(maximum)s, and the "
        "applied discount is the smaller of the two. More units in use beyond the basic package raise the "
        "maximum.") % {"applied": whole_percent(summary.applied), "current": whole_percent(summary.current),
                       "n": n, "basic": basic_package_units, "maximum": whole_percent(summary.maximum)}


def discount_module_view(request):
    user = request.user
    if not may_open_discount_module(user):
        raise Http404
    platform = is_platform(user)
    context = {**admin.site.each_context(request), "title": gettext("Discount module"), "is_platform": platform}
    if platform:
        context["services"] = queries.discount_services_visible_to(user)
        if not request.GET.get("service"):
            return TemplateResponse(request, "admin/discounts/module.html", context)
    service = _service_for(request, request.GET.get("service"))
    base = {"service": service.pk} if platform else {}

    calculation_id = request.GET.get("calculation")
    if calculation_id not in (None, ""):
        calculation = DiscountCalculation.objects.filter(
            pk=_int(calculation_id, 0), service=service, kind=DiscountCalculation.Kind.RECALCULATION).first()
        if calculation is None:
            raise Http404
        base["calculation"] = calculation.pk
    else:
        calculation = tables.latest_daily(service)
    ready = calculation is not None and calculation.state == DiscountCalculation.State.DONE
    recalculation = calculation is not None and calculation.kind == DiscountCalculation.Kind.RECALCULATION
    saved = queries.latest_snapshot(service) if not recalculation else None
    if ready:
        summary = calculation
    else:
        summary = saved
    today = queries.local_today(service, clock.now())
    history = queries.month_history(service, today.year, today.month)
    context.update({
        "title": gettext("Discount module: %(service)s") % {"service": service.name}, "service": service,
        "calculation": calculation, "ready": ready, "recalculation": recalculation, "saved": saved,
        "summary": summary, "history": history, "chart": month_chart(history),
        "cap_explanation": cap_explanation(summary, calculation.basic_package_units if ready
                                           else service.basic_package_units),
        "recalculate_url": reverse("discount_module_recalculate"),
        # Worded once here, not in a template include per row (rows render in a loop of 50).
        "no_unit_change": gettext("No single change raises it."),
        "no_account_change": gettext("No single change of the account or of a grant raises it (see its units)."),
        "saved_url": "?" + urlencode({"service": service.pk}) if platform else "?",
    })
    if ready:
        account_id = request.GET.get("account")
        if account_id not in (None, ""):
            account = DiscountAccountRow.objects.filter(calculation=calculation, account_id=_int(account_id, 0)).first()
            if account is None:
                raise Http404
            paging = _Paging(account.units, request.GET.get("page"), UNITS_PER_PAGE, "page",
                             {**base, "account": account.account_id})
            context.update({"account": account, "paging": paging, "back_url": "?" + urlencode(base),
                            "unit_rows": tables.page_of_units(calculation, account, paging.offset, UNITS_PER_PAGE)})
        else:
            paging = _Paging(calculation.accounts, request.GET.get("page"), ACCOUNTS_PER_PAGE, "page", base)
            context.update({"paging": paging, "account_rows": tables.page_of_accounts(
                calculation, paging.offset, ACCOUNTS_PER_PAGE), "drill_base": urlencode(base)})
    return TemplateResponse(request, "admin/discounts/module.html", context)


def recalculate_view(request):
    """POST: queue a recalculation of the service and show its progress page (GET: back to the module)."""
    if not may_open_discount_module(request.user):
        raise Http404
    if request.method != "POST":
        return redirect("discount_module")
    service = _service_for(request, request.POST.get("service") or request.GET.get("service"))
    calculation = tables.start_recalculation(actor=request.user, service=service)
    query = {"service": service.pk} if is_platform(request.user) else {}
    return redirect(reverse("discount_module") + "?" + urlencode({**query, "calculation": calculation.pk}))
