"""The discount module page in the admin (SPEC §5): summary, accounts and their units, the month.

Only top users and the platform operator may open it (everyone else: 404); the platform operator
picks a service. The summary shows the last saved day; "Recalculate" (``?preview=1``) shows the
discount calculated now, saving nothing. The tables are always calculated now.
"""

from django.contrib import admin
from django.http import Http404
from django.template.response import TemplateResponse
from django.utils.translation import gettext

from apps.accounts.rights import may_open_discount_module
from apps.core import clock
from apps.core.errors import InvalidInput
from apps.core.scoping import is_platform

from . import queries
from .chart import month_chart
from .inputs import gather
from .templatetags.discounts import whole_percent

TOP_SUGGESTIONS = 3  # per unit and per account on the page; the API gives them all


def _shown(advice, answer, cache):
    """A unit's or account's suggestions as the page lists them: the change, the discount after
    (whole percent, truncated like every discount shown) and a note, all worded in Python (a
    template tag per suggestion cost seconds on a 10,000-unit page); once per distinct answer."""
    if id(answer) not in cache:
        cache[id(answer)] = (answer, {"discount": answer.discount, "suggestions": [
            {**s, "after": whole_percent(s["discount_after"]), "note": advice.note(s)} for s in answer.suggestions]})
    return cache[id(answer)][1]


def discount_module_view(request):
    user = request.user
    if not may_open_discount_module(user):
        raise Http404
    services = queries.discount_services_visible_to(user)
    context = {**admin.site.each_context(request), "title": "Discount module", "services": services,
               "is_platform": is_platform(user)}
    if is_platform(user) and not request.GET.get("service"):
        return TemplateResponse(request, "admin/discounts/module.html", context)
    try:
        service = queries.get_discount_service(user, request.GET.get("service"))
    except InvalidInput:
        raise Http404 from None
    preview = request.GET.get("preview") == "1"
    data = gather(service)
    report = queries.calculate_discount(service, data)
    advice = queries.ServiceAdvice(service, data)
    shown: dict = {}
    saved = None if preview else queries.latest_snapshot(service)
    today = queries.local_today(service, clock.now())
    history = queries.month_history(service, today.year, today.month)
    context.update({
        "title": f"Discount module: {service.name}", "service": service, "report": report, "preview": preview,
        "saved": saved, "summary": saved or report.summary, "history": history, "chart": month_chart(history),
        "advice": [(account, _shown(advice, advice.for_account(account.account_id, TOP_SUGGESTIONS), shown),
                    [(unit, _shown(advice, advice.for_unit(unit.unit_id, TOP_SUGGESTIONS), shown))
                     for unit in account.units])
                   for account in report.accounts],
        "after_top": advice.service_after_top(),
        "no_unit_change": gettext("No single change raises it."),
    })
    return TemplateResponse(request, "admin/discounts/module.html", context)
