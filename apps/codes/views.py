"""The codes app's own admin pages: apply a code, generate codes, the code log, notice dismissal.

Each page extends ``admin/base_site.html`` and is wrapped in ``admin.site.admin_view`` (see
``admin_urls.py``); every write goes through ``operations``.
"""

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.accounts import rights
from apps.core import clock
from apps.core.admin import CappedPaginator, add_domain_error, stream_csv
from apps.core.errors import DomainError
from apps.core.scoping import is_platform

from . import operations, queries
from .admin import CSV_HEADER, code_csv_rows
from .forms import ApplyForm, GenerateForm, LogFilterForm
from .models import CodeStatus

SHOWN_AFTER_GENERATION = 1000
LOG_HEADER = ["at", "action", "actor", "code", "unit", "account", "before", "after"]


def _page(request, template: str, title: str, **context):
    return TemplateResponse(request, template, {**admin.site.each_context(request), "title": title, **context})


def _page_tz():
    """The page's zone, activated for admin pages by ``apps.accounts.middleware``: the operator's service's,
    the platform operator's chosen service's, else UTC."""
    return timezone.get_current_timezone()


def banner_context(request) -> dict:
    """The expiry notices this operator should see now, with the units concerned."""
    deliveries = list(queries.open_deliveries_for(request.user, clock.now())[:50])
    notices = {}
    for delivery in deliveries:
        notices.setdefault(delivery.notice, []).append(delivery)
    return {"expiry_notices": list(notices.items()), "operator_tz": _page_tz()}


def apply_view(request):
    """A code field and a picker of the operator's units: the restricted distributor's landing page."""
    if not request.user.has_perm("codes.apply_code"):
        raise PermissionDenied
    form = ApplyForm(request.POST or None, user=request.user)
    tz = _page_tz()
    if request.method == "POST" and form.is_valid():
        unit = form.cleaned_data["unit"]
        try:
            code = operations.apply_code(actor=request.user, code_text=form.cleaned_data["code"], unit=unit,
                                         queue=form.cleaned_data["queue"])
        except DomainError as exc:
            add_domain_error(form, exc)
            live = queries.current_codes_for_units([unit.pk]).get(unit.pk) if exc.code == "unit_has_code" else None
            if live is not None and live.expires_at is not None:  # offer to queue behind the live code
                form.offer_queue(f"{timezone.localtime(live.expires_at, tz):%Y-%m-%d %H:%M}")
        else:
            expires = timezone.localtime(code.expires_at, tz)
            if code.status == CodeStatus.QUEUED:
                starts = timezone.localtime(code.activated_at, tz)
                messages.success(request, gettext(
                    "Code queued on %(unit)s: it starts when the live code ends, %(starts)s, and keeps the unit "
                    "active until %(expires)s.") % {"unit": unit.name, "starts": f"{starts:%Y-%m-%d %H:%M}",
                                                     "expires": f"{expires:%Y-%m-%d %H:%M}"})
            else:
                messages.success(request, f"Code applied to {unit.name}: the unit is active "
                                          f"until {expires:%Y-%m-%d %H:%M}.")
            return redirect("codes-apply")
    return _page(request, "admin/codes/apply.html", "Apply an activation code", form=form,
                 **banner_context(request))


def generate_view(request):
    """Generate a batch; the result page lists the new codes and links their CSV."""
    user = request.user
    if not (rights.may_generate_codes(user) and (is_platform(user) or user.has_perm("codes.generate_codes"))):
        raise PermissionDenied
    form = GenerateForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            codes = operations.generate_codes(actor=user, service=form.service_account(), quantity=data["quantity"],
                                              validity_days=data["days"], shared_with=data.get("shared_with"))
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            created = codes[0].created_at
            csv_url = reverse("codes-generated-csv") + "?" + urlencode(
                {"service": codes[0].service_id, "created_at": created.isoformat()})
            return _page(request, "admin/codes/generated.html", f"{len(codes):,} codes generated",
                         codes=codes[:SHOWN_AFTER_GENERATION], total=len(codes), csv_url=csv_url,
                         shared_with=data.get("shared_with"), validity_days=data["days"])
    return _page(request, "admin/codes/generate.html", "Generate activation codes", form=form)


def generated_csv_view(request):
    """The CSV of one generated batch (same service, same creation instant), in the operator's scope."""
    from django.utils.dateparse import parse_datetime

    try:
        created_at = parse_datetime(request.GET.get("created_at", ""))
    except ValueError:  # well-formed but impossible (month 13)
        created_at = None
    service = request.GET.get("service", "")
    if created_at is None or not (service.isascii() and service.isdigit()):
        return HttpResponseBadRequest(_("This link needs the batch's “service” (an id) and “created_at” (a date and "
                                        "time): open it from the page of the generated codes."),
                                      content_type="text/plain; charset=utf-8")
    qs = queries.codes_visible_to(request.user).filter(service_id=int(service), created_at=created_at).order_by("id")
    now = clock.now()
    return stream_csv(f"activation-codes-{created_at:%Y%m%d-%H%M%S}.csv", CSV_HEADER, code_csv_rows(qs, now))


def log_view(request):
    """The code log report: a time range (default today), filters, CSV export of every matching row."""
    if not queries.may_use_codes_window(request.user):
        raise PermissionDenied
    # Bound even when empty: every action, and the range (today by default, in the page's time zone) is
    # written into the date boxes, so the page says which days it searched.
    params = request.GET.copy()
    today = timezone.localdate(clock.now())
    for name in ("since", "until"):
        if not params.get(name):
            params[name] = today.isoformat()
    form = LogFilterForm(params, user=request.user)
    events = queries.code_events_visible_to(request.user)
    if not form.is_valid():
        events = events.none()
    else:
        since, until = form.window()
        data = form.cleaned_data
        events = queries.filter_code_events(
            events, since=since, until=until, service_id=data["service"].pk if data.get("service") else None,
            action=data.get("action"), account_id=data["account"].pk if data.get("account") else None,
            unit=data.get("unit"), code=data.get("code"))
    events = events.order_by("-at", "-id")
    tz = _page_tz()
    if request.GET.get("format") == "csv":
        rows = ([timezone.localtime(e.at, tz).isoformat(), e.action, e.actor_name, e.code, e.unit_name,
                 e.account_name, e.before, e.after] for e in events.iterator(chunk_size=2000))
        return stream_csv(f"code-log-{clock.now():%Y%m%d-%H%M}.csv", LOG_HEADER, rows)
    page = CappedPaginator(events, 100).get_page(request.GET.get("p"))
    query = params.copy()
    query.pop("p", None)
    since, until = (form.cleaned_data["since"], form.cleaned_data["until"]) if form.is_valid() else (None, None)
    return _page(request, "admin/codes/log.html", "Code log", form=form, page=page, tz=tz,
                 query=query.urlencode(), capped=page.paginator.count > CappedPaginator.CAP,
                 since=since, until=until, tz_name=timezone.get_current_timezone_name())


@require_POST
def dismiss_notice_view(request, delivery_id: int):
    operations.dismiss_delivery(actor=request.user, delivery_id=delivery_id)
    next_url = request.POST.get("next", "")
    # Only a path of this site (never ``//elsewhere.example`` or ``https://elsewhere.example``).
    if not (next_url.startswith("/") and url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure())):
        next_url = reverse("admin:index")
    return HttpResponseRedirect(next_url)

