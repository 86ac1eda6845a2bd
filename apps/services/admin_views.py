"""Custom admin pages of the kernel: an account's resolved services, the check-a-service tool and
the charge replay.

All read only; both are scoped by ``accounts_visible_to`` (an account out of scope is a 404) and
wrapped in ``admin.site.admin_view`` by ``admin_urls.py``.
"""

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.accounts import rights
from apps.accounts.models import Account, LedgerEntry
from apps.accounts.queries import accounts_visible_to, get_visible_account
from apps.core import clock, periods
from apps.core.pickers import register_picker, use_picker
from apps.core.admin import add_domain_error, operator_blocked
from apps.core.errors import DomainError, InvalidInput
from apps.core.money import format_money
from apps.core.scoping import is_platform
from apps.plans import cost_table as cost_tables
from apps.plans import operations as plan_ops
from apps.plans.inheritance import INHERITED_SETTINGS, combined_settings, currency_of
from apps.plans.models import AccountServiceOverride, ResetInterval, ServiceType

from apps.plans.models import CatalogueService
from .operations import MAX_QUANTITY, check_service, delete_service_override, set_service_override
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
        **admin.site.each_context(request), "title": gettext("Services of %(account)s") % {"account": account.name}, "account": account,
        "rows": rows, "unknown": unknown, "unknown_explanation": unknown[0].explanation if unknown else "",
        "warning": block_warnings([account.pk], now).get(account.pk),
        "opts": account._meta,
    }
    return TemplateResponse(request, "admin/services/account_services.html", context)


class CheckForm(forms.Form):
    account = forms.ModelChoiceField(label=_("Account"), queryset=None)
    service = forms.ChoiceField(label=_("Service"))
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=MAX_QUANTITY, initial=1)

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
    context = {**admin.site.each_context(request), "title": gettext("Check a service"), "form": form, "result": result}
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


# --- An account's own service overrides (issue 15 item 4) -----------------------------------------

class OverrideRowForm(forms.Form):
    """One override row: validated like a plan row (``plans.operations.clean_service_row``, the
    account's catalogue), written by ``set_service_override`` / ``delete_service_override``."""

    original = forms.CharField(required=False, widget=forms.HiddenInput)  # the saved row's name ("" for a new one)
    name = forms.CharField(required=False, label=_("Service"), widget=forms.TextInput(
        attrs={"size": 22, "list": "catalogue-names", "autocomplete": "off"}))
    interval = forms.ChoiceField(required=False, label=_("Interval"))
    cost_table = forms.CharField(required=False, label=_("Cost table"), max_length=2000, widget=forms.TextInput(
        attrs={"size": 28, "class": "cost-table-input", "autocomplete": "off", "spellcheck": "false"}))
    DELETE = forms.BooleanField(required=False, label=_("Remove"))

    service_id = None  # set by the page
    cost_table_warnings: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["interval"].choices = ResetInterval.choices

    @property
    def is_new(self) -> bool:
        return not (self.initial.get("original") or self.data.get(self.add_prefix("original")))

    def clean(self):
        data = super().clean()
        original = data.get("original") or ""
        if original:
            data["name"] = original  # a saved row keeps its name: remove it and add another to rename
        if self.errors or data.get("DELETE") or not (data.get("name") or "").strip():
            return data
        typed = data.get("cost_table") or ""
        try:
            data.update(plan_ops.clean_service_row(service_id=self.service_id, values={
                "name": data.get("name"), "interval": data.get("interval"), "cost_table": typed}))
        except InvalidInput as exc:
            add_domain_error(self, exc)
            return data
        # Read from the typed text: the canonical one writes every denial as a plain closing ``-1``.
        self.cost_table_warnings = cost_tables.denial_warnings(typed)
        return data


class BaseOverrideFormSet(forms.BaseFormSet):
    def clean(self):
        seen = set()
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            name = (data.get("name") or "").strip()
            if not name or data.get("DELETE"):
                continue
            if name in seen:
                form.add_error("name", _("'%(name)s' is listed twice.") % {"name": name})
            seen.add(name)


OverrideFormSet = forms.formset_factory(OverrideRowForm, formset=BaseOverrideFormSet, extra=2, max_num=200,
                                        validate_max=True)


def combined_rows(account) -> list[dict]:
    """The account's combined settings (plan chain + its own overrides), each with where it comes from."""
    settings = combined_settings(account)
    rows = []
    for name in INHERITED_SETTINGS:
        setting = settings[name]
        kind = setting.source.split(":", 1)[0]
        source = {"account": _("this account's override"), "plan": _("plan %(plan)s") % {"plan": setting.source_name},
                  "default": _("the default")}.get(kind, setting.source_name)
        value = setting.value
        rows.append({"name": name.replace("_", " "), "value": "—" if value in (None, "") else value,
                     "source": source, "own": kind == "account"})
    return rows


def service_rows(account) -> list[dict]:
    """Every service the chain or an override names, as the kernel resolves it, with its source."""
    rows = []
    for r in resolve_services(account):
        if not r.resolves:
            continue
        rows.append({"name": r.name, "type": ServiceType(r.type).label, "interval": r.interval,
                     "cost_table": r.cost_table, "allowed": r.allowed, "own": r.source == "override",
                     "source": (_("this account's override") if r.source == "override"
                                else _("plan %(plan)s") % {"plan": r.plan.name if r.plan else "?"}),
                     "chain": " › ".join(r.chain)})
    return rows


def account_overrides_view(request, pk):
    """The account's own service overrides (price and interval of one service for this account), edited like a
    plan's rows, beside its combined settings and services. Anyone who sees the account reads it; only an
    operator of a strict ancestor may change it (SPEC §8.1): everyone else gets it read-only."""
    if not request.user.has_perm("accounts.view_account"):
        raise PermissionDenied
    account = get_visible_account(request.user, pk)
    may_edit = rights.may_manage(request.user, account) and not operator_blocked(request)
    saved = list(AccountServiceOverride.objects.filter(account=account).order_by("name"))
    initial = [{"original": o.name, "name": o.name, "interval": o.interval, "cost_table": o.cost_table}
               for o in saved]
    formset = None
    if may_edit:
        formset = OverrideFormSet(request.POST if request.method == "POST" else None, initial=initial,
                                  prefix="overrides")
        for form in formset.forms:
            form.service_id = account.service_id
        if request.method == "POST" and formset.is_valid():
            changed = [f for f in formset.forms if f.has_changed() and (f.cleaned_data.get("name") or "").strip()]
            try:
                with transaction.atomic():  # all rows or none
                    for form in changed:
                        data = form.cleaned_data
                        try:
                            if data.get("DELETE"):
                                if data.get("original"):
                                    delete_service_override(actor=request.user, account=account, name=data["name"])
                            else:
                                set_service_override(actor=request.user, account=account, name=data["name"],
                                                     interval=data["interval"], cost_table=data["cost_table"],
                                                     type=data["type"])
                        except DomainError as exc:
                            add_domain_error(form, exc)
                            raise
            except DomainError:
                pass
            else:
                for form in changed:
                    for warning in form.cost_table_warnings:
                        messages.warning(request, _("Service “%(name)s”, cost table: %(warning)s") % {
                            "name": form.cleaned_data["name"], "warning": warning})
                messages.success(request, _("The service overrides of %(account)s are saved.") % {
                    "account": account.name} if changed else _("Nothing was changed."))
                return redirect(reverse("admin-account-overrides", args=[account.pk]))
    names = []
    if may_edit:
        names = CatalogueService.objects.filter(catalogue_q(account.service_id)).order_by("name") \
            .values_list("name", flat=True)
    context = {
        **admin.site.each_context(request), "title": _("Service overrides of %(account)s") % {"account": account.name},
        "account": account, "opts": account._meta, "formset": formset, "saved": saved, "may_edit": may_edit,
        "catalogue_names": names, "currency": currency_of(account), "evaluate_url": reverse("cost-table-evaluate"),
        "combined": combined_rows(account), "services": service_rows(account),
        "services_url": reverse("admin-account-services", args=[account.pk]),
    }
    return TemplateResponse(request, "admin/services/account_overrides.html", context)
