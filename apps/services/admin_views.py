"""Custom admin pages of the kernel: an account's resolved services, the check-a-service tool and
the charge replay.

All read only; both are scoped by ``accounts_visible_to`` (an account out of scope is a 404) and
wrapped in ``admin.site.admin_view`` by ``admin_urls.py``.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from apps.accounts import rights
from apps.accounts.models import Account, LedgerEntry
from apps.accounts.queries import accounts_visible_to, get_visible_account
from apps.core import clock, periods
from apps.core.pickers import register_picker, use_picker
from apps.core.errors import InvalidInput
from apps.core.money import format_money
from apps.core.scoping import is_platform
from apps.plans.models import ServiceType

from apps.plans.models import CatalogueService
from .operations import MAX_QUANTITY, check_service
from .queries import block_warnings, service_usage
from .replay import replay_charges
from .resolution import ServiceIndex, catalogue_q, preloaded_settings, resolve_services


def account_services_view(request, pk):
    """Every service of the account as the kernel resolves it, with the source chain and usage."""
    if not request.user.has_perm("accounts.view_account"):
        raise PermissionDenied
    account = get_visible_account(request.user, pk)
    now = clock.now()
    resolutions = resolve_services(account)
    usage = service_usage(account, resolutions, now)
    # Services with a row (override or plan) get a line each; the many catalogue names the chain does
    # not mention share one explanation, so they are listed together below the table.
    rows = [{"resolution": r, "usage": usage[r.name], "type_label": ServiceType(r.type).label}
            for r in resolutions if r.resolves or r.reason == "no_plan"]
    unknown = [r for r in resolutions if not r.resolves and r.reason != "no_plan"]
    context = {
        **admin.site.each_context(request), "title": f"Services of {account.name}", "account": account,
        "rows": rows, "unknown": unknown, "unknown_explanation": unknown[0].explanation if unknown else "",
        "warning": block_warnings([account.pk], now).get(account.pk),
        "opts": account._meta,
    }
    return TemplateResponse(request, "admin/services/account_services.html", context)


class CheckForm(forms.Form):
    account = forms.ModelChoiceField(queryset=None)
    service = forms.ChoiceField()
    quantity = forms.IntegerField(min_value=1, max_value=MAX_QUANTITY, initial=1)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        use_picker(self.fields["account"], LedgerEntry, "account", "services.check.account")  # searchable
        self.fields["account"].queryset = accounts_visible_to(user).order_by("path")
        names = CatalogueService.objects.order_by("name").values_list("name", flat=True).distinct()
        if not user.is_superuser and getattr(user, "account", None) is not None:
            names = CatalogueService.objects.filter(catalogue_q(user.account.service_id)).order_by("name") \
                .values_list("name", flat=True)
        self.fields["service"].choices = [(n, n) for n in names]


register_picker("services.check.account", Account, may_use=lambda user: user.has_perm("services.check_service"))


def check_tool_view(request):
    """Ask the kernel "may this account use N of this service now?" and show the answer and cost."""
    if not request.user.has_perm("services.check_service"):
        raise PermissionDenied
    form = CheckForm(request.GET or None, user=request.user)
    result = None
    if form.is_valid():
        account = form.cleaned_data["account"]
        try:
            result = check_service(account=account, service=form.cleaned_data["service"],
                                   quantity=form.cleaned_data["quantity"])
        except InvalidInput as exc:
            form.add_error(None, exc.detail)
        else:
            # The service's own currency format wins; empty means the plan's (SPEC §1, §2.1).
            pattern = Account.objects.filter(pk=account.service_id).values_list("currency_format", flat=True).first()
            if not pattern:
                index = ServiceIndex(account.service_id, [account.pk])
                pattern = preloaded_settings(index.attach_plan(account))["currency_format"].value
            result = {"check": result, "cost": format_money(result.cost, pattern), "account": account}
    context = {**admin.site.each_context(request), "title": "Check a service", "form": form, "result": result}
    return TemplateResponse(request, "admin/services/check.html", context)


# --- Charge replay (SPEC §9.7) ------------------------------------------------------------------

class ReplayForm(forms.Form):
    service = forms.ModelChoiceField(queryset=Account.objects.none(), label=_("Service"),
                                     help_text=_("The service's top account."))
    account = forms.ModelChoiceField(queryset=Account.objects.none(), required=False, label=_("Account"),
                                     help_text=_("Empty: every account of the service."))
    since = forms.DateField(label=_("Since"), help_text=_("First local day (YYYY-MM-DD)."))
    until = forms.DateField(label=_("Until"), help_text=_("Last local day, included."))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if is_platform(user):
            self.fields["service"].queryset = Account.objects.filter(parent__isnull=True).order_by("name")
            self.fields["account"].queryset = Account.objects.order_by("path")
        else:
            del self.fields["service"]
            self.fields["account"].queryset = accounts_visible_to(user).order_by("path")

    def clean(self):
        data = super().clean()
        service = data.get("service") if "service" in self.fields else Account.objects.get(pk=self.user.account.service_id)
        data["service"] = service
        account = data.get("account")
        if service is not None and account is not None and account.service_id != service.pk:
            self.add_error("account", _("Not an account of this service."))
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            self.add_error("until", _("Must not be before since."))
        return data


def replay_view(request):
    """Recompute the charges of a range and list every window where the ledger differs (read only)."""
    user = request.user
    if not rights.may_replay_charges(user):
        raise PermissionDenied
    if "since" in request.GET or "until" in request.GET:
        form = ReplayForm(request.GET, user=user)
    else:  # a link naming the account (or service) only: the form, filled in, unbound
        form = ReplayForm(initial={k: v for k, v in request.GET.items() if k in ("service", "account")}, user=user)
    result = None
    if form.is_valid():
        data = form.cleaned_data
        result = replay_charges(data["service"], since=data["since"], until=data["until"], account=data["account"])
    zone = result and periods.as_zone(form.cleaned_data["service"].timezone)
    # Shown in the service's time zone whoever reads it (the platform operator's own zone is not the service's).
    rows = [{"difference": d, "window_start": f"{d.window_start.astimezone(zone):%Y-%m-%d %H:%M %Z}"}
            for d in result.differences] if result else []
    context = {**admin.site.each_context(request), "title": _("Replay charges"), "form": form, "result": result,
               "rows": rows}
    return TemplateResponse(request, "admin/services/replay.html", context)
