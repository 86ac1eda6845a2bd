"""The account tree, operators and the ledger in the admin."""

from django.contrib import admin, messages
from django.db.models import Q
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.contrib.admin.views.main import ChangeList
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext as _

from .audit_views import AuditHistoryMixin
from apps.core.admin import (CappedListMixin, OperationAdminMixin, ScopedAdminMixin, add_domain_error, chosen_service_id,
                             invalid_filter_response, service_filter, stream_csv)
from apps.core.errors import DomainError
from apps.core.money import format_money
from apps.core.pickers import (PickerFiltersMixin, PickerListFilter, ScopedPickerMixin, asked_picker,
                               register_picker)
from apps.core.scoping import in_scope, is_platform, service_id_of

from . import operations
from .forms import AccountForm, BlockForm, OperatorChangeForm, OperatorCreationForm, PaymentForm
from .models import Account, LedgerEntry, Operator, Role
from .queries import accounts_visible_to, ledger_visible_to, operators_visible_to


def currency_of(account: Account) -> str:
    from apps.plans.inheritance import effective_settings

    service = account.service if account.service_id != account.pk else account
    return service.currency_format or effective_settings(service.plan)["currency_format"].value


def payment_block_warning(account: Account, amount, days) -> str | None:
    """What the account's blocking rule will do once this payment is posted, when it blocks (or keeps
    blocking) the account: the kernel's own rule (``_apply_blocking_rule``, with the account's combined
    thresholds) run on a copy holding the balance and days after the payment. None when it does not block."""
    from types import SimpleNamespace

    from apps.core import clock
    from apps.plans.inheritance import combined_settings

    from .models import BlockedBy
    from .operations import _BLOCKING_FIELDS, _apply_blocking_rule

    if account.blocked_by == BlockedBy.MANUAL:
        return None  # a manual block stays whatever the payment: the page says nothing new
    after = SimpleNamespace(**{name: getattr(account, "pk" if name == "id" else name) for name in _BLOCKING_FIELDS})
    after.balance, after.days = account.balance + amount, account.days + days
    settings = combined_settings(account)
    _apply_blocking_rule(after, settings, now=clock.now())
    if not after.blocked:
        return None
    pattern = currency_of(account)
    if after.blocked_by == BlockedBy.BALANCE:
        reason = _("the balance after it, %(balance)s, is below the block balance %(threshold)s") % {
            "balance": format_money(after.balance, pattern),
            "threshold": format_money(settings["block_balance"].value, pattern)}
    else:
        reason = _("the days counter after it, %(days)s, is below the minimum %(minimum)s") % {
            "days": after.days, "minimum": settings["min_days"].value}
    if account.blocked:
        return _("After this payment %(account)s stays blocked: %(reason)s.") % {"account": account.name,
                                                                                 "reason": reason}
    return _("This payment will block %(account)s: %(reason)s.") % {"account": account.name, "reason": reason}


class ParentFilter(PickerListFilter):
    """Accounts with dealer rights (or top accounts) the operator can see, as parents to filter by: a
    searchable picker (``accounts.filter.parent``)."""

    title = "parent"
    parameter_name = "parent"
    picker = "accounts.filter.parent"
    source = (Account, "parent")
    lookup = "parent_id"


class BlockingSoonFilter(admin.SimpleListFilter):
    """Accounts not blocked that the kernel predicts will be within 5 days (its own block warning, SPEC §8.3):
    the dashboard's "predicted to block" figure links here."""

    title = gettext_lazy("predicted to block")
    parameter_name = "blocking_soon"

    def lookups(self, request, model_admin):
        return [("1", gettext_lazy("Within 5 days"))]

    def queryset(self, request, queryset):
        if self.value() != "1":
            return queryset
        from apps.core import clock
        from apps.dashboard.queries import blocking_soon_ids

        return queryset.filter(pk__in=blocking_soon_ids(queryset, clock.now()))


class AccountChangeList(ChangeList):
    """Adds the kernel's block warnings to the page's accounts: one set-based call per page."""

    def get_results(self, request):
        super().get_results(request)
        from apps.core import clock
        from apps.services.queries import block_warnings

        warnings = block_warnings([a.pk for a in self.result_list], clock.now())
        for account in self.result_list:
            account.block_warning = warnings.get(account.pk, "")


@admin.register(Account)
class AccountAdmin(AuditHistoryMixin, PickerFiltersMixin, ScopedPickerMixin, OperationAdminMixin, ScopedAdminMixin, admin.ModelAdmin):
    audit_subject_type = "account"  # History: the audit trail's events of this account
    form = AccountForm
    scope_field = ""
    autocomplete_fields = ("parent",)
    list_display = ("tree_name", "parent", "plan", "balance_display", "days", "dealer_rights", "blocked_display",
                    "warning")
    list_select_related = ("parent", "plan", "service", "service__plan")
    list_filter = (service_filter("service"), ParentFilter, "dealer_rights", "blocked", "blocked_by", BlockingSoonFilter)
    search_fields = ("name",)
    ordering = ("path",)
    readonly_fields = ("balance_display", "days", "blocked_display", "blocked_at")

    def get_fieldsets(self, request, obj=None):
        general = ["name", "parent", "plan", "dealer_rights", "sub_plans_choice"]
        if obj is not None:
            general.remove("parent")
        fieldsets = [(None, {"fields": general})]
        if obj is not None:
            fieldsets.insert(0, ("State", {"fields": ("balance_display", "days", "blocked_display", "blocked_at")}))
        else:
            fieldsets.append(("Opening payment", {"fields": ("payment_amount", "payment_days")}))
        fieldsets.append(("Overrides of the plan (empty = the plan's)", {
            "classes": ("collapse",), "fields": operations.OVERRIDE_FIELDS}))
        if is_platform(request.user) and (obj is None or obj.is_top):
            fieldsets.append(("Service settings (top accounts)", {
                "fields": ("timezone", "basic_package_units", "purchased_units", "discount_enabled",
                           "currency_format")}))
        elif obj is not None and obj.is_top and request.user.role == Role.TOP_USER:
            fieldsets.append(("Service settings", {"fields": ("currency_format",)}))
        return fieldsets

    def get_search_results(self, request, queryset, search_term):
        if is_platform(request.user) and asked_picker(request):
            queryset = queryset.select_related("service")  # ``picker_label`` names the service
        return super().get_search_results(request, queryset, search_term)

    def picker_label(self, request, obj) -> str:
        """A picker's row: the platform operator sees every service's accounts, so the service tells
        namesakes apart (as the unit form's choices do)."""
        if is_platform(request.user) and not obj.is_top:
            return f"{obj.service.name} › {obj.name}"
        return obj.name

    @admin.display(description="name", ordering="path")
    def tree_name(self, obj):
        return format_html('<span style="padding-left:{}em;white-space:nowrap">{}{}</span>', obj.depth * 1.2,
                           "↳ " if obj.depth else "", obj.name)

    @admin.display(description="balance", ordering="balance")
    def balance_display(self, obj):
        return format_money(obj.balance, currency_of(obj))

    @admin.display(description="blocked", ordering="blocked")
    def blocked_display(self, obj):
        if not obj.blocked:
            return "—"
        return format_html('<span style="color:#ba2121">Blocked ({})</span>: {}', obj.get_blocked_by_display(),
                           obj.blocked_reason)

    @admin.display(description="warning")
    def warning(self, obj):
        return getattr(obj, "block_warning", "")

    def get_changelist(self, request, **kwargs):
        return AccountChangeList

    def change_view(self, request, object_id, form_url="", extra_context=None):
        account = self.get_object(request, object_id)
        links = self._account_links(request, account) if account is not None else []
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "account_links": links})

    def _account_links(self, request, obj) -> list[tuple[str, str]]:
        links = [(reverse("admin:accounts_ledgerentry_changelist") + f"?account__id__exact={obj.pk}", "Ledger")]
        if operations.may_manage(request.user, obj):
            links.append((reverse("admin:accounts_account_payment", args=[obj.pk]), "Make a payment"))
            links.append((reverse("admin:accounts_account_block", args=[obj.pk]),
                           "Unblock" if obj.blocked else "Block"))
        if obj.is_top and is_platform(request.user):
            links.append((reverse("admin:accounts_account_billing_method", args=[obj.pk]),
                          f"Billing: {obj.get_billing_method_display()}"))
        links.append((reverse("admin-account-services", args=[obj.pk]), "Services and usage"))
        links.append((reverse("services-check"), "Check a service"))
        if is_platform(request.user) or request.user.role == Role.TOP_USER:
            links.append((reverse("services-replay") + f"?service={obj.service_id}&account={obj.pk}",
                          gettext("Replay charges")))
        return links

    def has_delete_permission(self, request, obj=None):
        return False  # accounts are never deleted: block them


    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/payment/", view(self.payment_view), name="accounts_account_payment"),
            path("<int:pk>/block/", view(self.block_view), name="accounts_account_block"),
            path("<int:pk>/billing-method/", view(self.billing_method_view), name="accounts_account_billing_method"),
            *super().get_urls(),
        ]

    def _get_visible(self, request, pk) -> Account:
        try:
            return accounts_visible_to(request.user).get(pk=pk)
        except Account.DoesNotExist:
            raise Http404 from None

    def payment_view(self, request, pk):
        """A payment in two steps: the form, then a confirmation that shows the result, then the ledger."""
        account = self._get_visible(request, pk)
        if not (request.user.has_perm("accounts.make_payment") and operations.may_manage(request.user, account)):
            raise PermissionDenied
        form = PaymentForm(request.POST or None)
        confirming = False
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            if request.POST.get("confirm") == "yes":
                try:
                    operations.record_payment(actor=request.user, account=account, amount=data["amount"] or 0,
                                              days=data["days"] or 0, description=data["description"])
                except DomainError as exc:
                    add_domain_error(form, exc)
                else:
                    self.message_user(request, f"Payment recorded for {account.name}.", messages.SUCCESS)
                    return redirect(reverse("admin:accounts_ledgerentry_changelist")
                                    + f"?account__id__exact={account.pk}")
            else:
                confirming = True
        amount, days = (form.cleaned_data.get("amount") or 0, form.cleaned_data.get("days") or 0) if confirming \
            else (0, 0)
        context = {
            **self.admin_site.each_context(request), "title": f"Payment for {account.name}", "account": account,
            "form": form, "confirming": confirming, "opts": self.model._meta,
            "balance": format_money(account.balance, currency_of(account)),
            "balance_after": format_money(account.balance + amount, currency_of(account)),
            "amount": format_money(amount, currency_of(account)), "days": days, "days_after": account.days + days,
            "block_warning": payment_block_warning(account, amount, days) if confirming else None,
        }
        return TemplateResponse(request, "admin/accounts/payment.html", context)

    def block_view(self, request, pk):
        account = self._get_visible(request, pk)
        if not (request.user.has_perm("accounts.block_account") and operations.may_manage(request.user, account)):
            raise PermissionDenied
        form = BlockForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                if account.blocked:
                    operations.unblock_account(actor=request.user, account=account, reason=form.cleaned_data["reason"],
                                               until=form.cleaned_data.get("until"))
                    msg = f"{account.name} is unblocked."
                else:
                    operations.block_account(actor=request.user, account=account, reason=form.cleaned_data["reason"])
                    msg = f"{account.name} is blocked."
            except DomainError as exc:
                add_domain_error(form, exc)
            else:
                self.message_user(request, msg, messages.SUCCESS)
                return redirect("admin:accounts_account_change", account.pk)
        context = {**self.admin_site.each_context(request), "account": account, "form": form,
                   "title": f"{'Unblock' if account.blocked else 'Block'} {account.name}", "opts": self.model._meta}
        return TemplateResponse(request, "admin/accounts/block.html", context)


    def billing_method_view(self, request, pk):
        """Switch a service between monthly billing and activation codes, after a confirmation
        that says how many units it deactivates or reactivates (platform operator only)."""
        from apps.codes.operations import switch_billing_method
        from apps.core.errors import Conflict

        account = self._get_visible(request, pk)
        if not (is_platform(request.user) and account.is_top):
            raise PermissionDenied
        target = "monthly" if account.billing_method == "activation_codes" else "activation_codes"
        counts, error = None, None
        try:
            if request.method == "POST":
                result = switch_billing_method(actor=request.user, service=account, method=target, confirm=True)
                self.message_user(request, f"{account.name} now bills by {target.replace('_', ' ')}: "
                                           f"{result.get('units_deactivated', 0)} unit(s) deactivated, "
                                           f"{result.get('units_reactivated', 0)} reactivated.", messages.SUCCESS)
                return redirect("admin:accounts_account_change", account.pk)
            switch_billing_method(actor=request.user, service=account, method=target, confirm=False)
        except Conflict as exc:
            counts = exc.extra
        except DomainError as exc:
            error = exc.detail
        context = {**self.admin_site.each_context(request), "account": account, "target": target, "counts": counts,
                   "error": error, "opts": self.model._meta, "title": f"Switch billing method of {account.name}"}
        return TemplateResponse(request, "admin/accounts/billing_method.html", context)


class LedgerServiceFilter(admin.SimpleListFilter):
    """The ledger's service-name filter. Its choices are the names the viewer's plans and account overrides
    configure (the only services that charge), read from those small tables: never a ``DISTINCT`` over the
    ledger, which reads the whole scope (issue 16). The parameter stays Django's ``service__exact``; a name
    typed there that no plan configures still filters."""

    title = gettext_lazy("service name")
    parameter_name = "service__exact"

    def lookups(self, request, model_admin):
        from apps.plans.models import AccountServiceOverride, PlanService

        user = request.user
        service_id = chosen_service_id(request) if is_platform(user) else service_id_of(user)
        plan_rows, overrides = PlanService.objects.all(), in_scope(AccountServiceOverride.objects.all(), user,
                                                                   "account")
        if service_id is not None:
            plan_rows = plan_rows.filter(plan__service_id=service_id)
            overrides = overrides.filter(account__service_id=service_id)
        names = plan_rows.order_by().values_list("name", flat=True).union(
            overrides.order_by().values_list("name", flat=True))  # (no ORDER BY inside a UNION on SQLite)
        return [(name, name) for name in sorted(names)]

    def queryset(self, request, queryset):
        return queryset.filter(service=self.value()) if self.value() else queryset


@admin.register(LedgerEntry)
class LedgerAdmin(CappedListMixin, ScopedAdminMixin, admin.ModelAdmin):
    """Capped count (``CappedListMixin``: ``COUNT`` of at most 10,001 rows, however many the scope holds)."""

    list_display = ("at", "account", "kind", "amount", "days", "service", "quantity", "window_start", "description",
                    "actor_name")
    list_select_related = ("account",)
    list_filter = (service_filter("account__service"), "kind", "periodic", LedgerServiceFilter, "at")
    search_fields = ("account__name", "description")
    ordering = ("-at", "-id")
    keyset_ordering = ordering  # "Last" and its neighbours by cursor (CappedChangeList)
    actions = None
    fields = ("at", "account", "kind", "amount", "days", "service", "quantity", "periodic", "window_start",
              "window_end", "cost_table", "description", "actor", "actor_name")

    def get_queryset(self, request):
        return ledger_visible_to(request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [path("export.csv", self.admin_site.admin_view(self.export_csv), name="accounts_ledger_export"),
                *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        query = request.GET.urlencode()
        extra_context = {**(extra_context or {}),
                         "export_url": reverse("admin:accounts_ledger_export") + (f"?{query}" if query else "")}
        return super().changelist_view(request, extra_context)

    def export_csv(self, request):
        """Every ledger row the current filters select (streamed, scoped)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            cl = self.get_changelist_instance(request)
        except IncorrectLookupParameters as exc:
            return invalid_filter_response(exc)
        rows = cl.get_queryset(request).values_list(
            "at", "account__name", "kind", "amount", "days", "service", "quantity", "window_start", "window_end",
            "cost_table", "description", "actor_name").iterator(chunk_size=2000)
        return stream_csv("ledger.csv", ["at", "account", "kind", "amount", "days", "service", "quantity",
                                         "window_start", "window_end", "cost_table", "description", "actor"], rows)


@admin.register(Operator)
class OperatorAdmin(OperationAdminMixin, ScopedAdminMixin, UserAdmin):
    add_form = OperatorCreationForm
    form = OperatorChangeForm
    list_display = ("username", "account", "role", "email", "is_active", "last_login")
    list_select_related = ("account",)
    list_filter = (service_filter("account__service"), "role", "is_active")
    search_fields = ("username", "email", "account__name")
    ordering = ("username",)
    add_fieldsets = ((None, {"fields": ("username", "password", "email", "account", "role")}),)
    fieldsets = ((None, {"fields": ("username", "account", "role", "email", "is_active", "last_login")}),)
    readonly_fields = ("username", "account", "role", "last_login")
    filter_horizontal = ()
    autocomplete_fields = ("account",)
    actions = ["rotate_tokens"]

    def get_queryset(self, request):
        return operators_visible_to(request.user)

    def get_readonly_fields(self, request, obj=None):
        """The add page sets username, account and role (``add_fieldsets``); only the change page shows them
        read-only. (Read-only on the add page, they left ``OperatorCreationForm`` without its fields.)"""
        return self.readonly_fields if obj is not None else ()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "account":
            kwargs["queryset"] = in_scope(Account.objects.all(), request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate operators instead: their names stay in the ledger and code log

    @admin.action(description="Create a new API token (the old one stops working)", permissions=["change"])
    def rotate_tokens(self, request, queryset):
        for operator in queryset[:20]:
            try:
                key = operations.rotate_token(actor=request.user, operator=operator)
            except DomainError as exc:
                self.message_user(request, f"{operator.username}: {exc.detail}", messages.ERROR)
            else:
                self.message_user(request, f"New API token for {operator.username} (shown once): {key}",
                                  messages.WARNING)


# Pickers (apps.core.pickers): a new account's parent and a new operator's account, any account in scope.
register_picker("accounts.account.parent", Account)
register_picker("accounts.operator.account", Account)
register_picker("accounts.filter.parent", Account,
                lambda request, accounts: accounts.filter(Q(dealer_rights=True) | Q(parent__isnull=True)))
