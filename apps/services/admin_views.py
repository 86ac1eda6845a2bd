"""Custom admin pages of the kernel: an account's resolved services, and the check-a-service tool.

Both read only; both are scoped by ``accounts_visible_to`` (an account out of scope is a 404) and
wrapped in ``admin.site.admin_view`` by ``admin_urls.py``.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from apps.accounts.models import Account, LedgerEntry
from apps.accounts.queries import accounts_visible_to, get_visible_account
from apps.core import clock
from apps.core.pickers import register_picker, use_picker
from apps.core.errors import InvalidInput
from apps.core.money import format_money
from apps.plans.models import ServiceType

from .models import CatalogueService
from .operations import MAX_QUANTITY, check_service
from .queries import block_warnings, service_usage
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
