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
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext as _

from .audit_views import AuditHistoryMixin
from apps.core.admin import (CappedListMixin, OperationAdminMixin, ReadOnlyAdminMixin, ScopedAdminMixin,
                             add_domain_error, chosen_service_id,
                             invalid_filter_response, service_filter, stream_csv)
from apps.core.errors import Conflict, DomainError
from apps.core.exports import export_list, path_label, path_names
from apps.core.labels import PathLabelsMixin, labels_for, labels_for_row
from apps.core.money import format_money
from apps.core.pickers import (PickerFiltersMixin, PickerListFilter, ScopedPickerMixin, asked_picker,
                               register_picker)
from apps.core.scoping import in_scope, is_platform, service_id_of
from apps.core import clock
from apps.plans.inheritance import currency_of
from apps.plans.models import AccountServiceOverride, PlanService

from . import extensions, operations, rights
from .forms import AccountForm, BlockForm, OperatorChangeForm, OperatorCreationForm, PaymentForm
from .models import SERVICE_FORM_FIELDS, Account, BillingMethod, LedgerEntry, Operator
from .queries import accounts_visible_to, ledger_visible_to, operators_visible_to

# The ledger's CSV is a report: its headers are in the reader's language (SPEC §9.8 "Languages").
LEDGER_CSV_HEADER = [gettext_lazy("at"), gettext_lazy("account"), gettext_lazy("kind"), gettext_lazy("amount"),
                     gettext_lazy("days"), gettext_lazy("service"), gettext_lazy("quantity"),
                     gettext_lazy("window start"), gettext_lazy("window end"), gettext_lazy("cost table"),
                     gettext_lazy("description"), gettext_lazy("actor")]


class ParentFilter(PickerListFilter):
    """Accounts with dealer rights (or top accounts) the operator can see, as parents to filter by: a
    searchable picker (``accounts.filter.parent``)."""

    title = gettext_lazy("parent")
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
        return queryset.filter(pk__in=extensions.dashboard["blocking_soon_ids"](queryset, clock.now()))


class AccountChangeList(ChangeList):
    """Adds the kernel's block warnings to the page's accounts: one set-based call per page."""

    def get_results(self, request):
        super().get_results(request)
        warnings = extensions.kernel["block_warnings"]([a.pk for a in self.result_list], clock.now())
        for account in self.result_list:
            account.block_warning = warnings.get(account.pk, "")


@admin.register(Account)
class AccountAdmin(PathLabelsMixin, AuditHistoryMixin, PickerFiltersMixin, ScopedPickerMixin, OperationAdminMixin, ScopedAdminMixin, admin.ModelAdmin):
    audit_subject_type = "account"  # History: the audit trail's events of this account
    form = AccountForm
    scope_field = ""
    autocomplete_fields = ("parent",)
    # The tree (indented names, in path order) shows each parent: no column for it, so every column fits at
    # 1366 px beside the filters (issue 15).
    list_display = ("tree_name", "plan", "balance_display", "days", "dealer_rights", "blocked_display",
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
            fieldsets.insert(0, (_("State"), {"fields": ("balance_display", "days", "blocked_display", "blocked_at")}))
        else:
            fieldsets.append((_("Opening payment"), {"fields": ("payment_amount", "payment_days")}))
        fieldsets.append((_("Overrides of the plan (empty = the plan's)"), {
            "classes": ("collapse",), "fields": operations.OVERRIDE_FIELDS}))
        if is_platform(request.user) and (obj is None or obj.is_top):
            fieldsets.append((_("Service settings (top accounts)"), {
                "fields": (*SERVICE_FORM_FIELDS, "currency_format")}))
        elif obj is not None and obj.is_top and rights.may_change_currency_format(request.user, obj):
            fieldsets.append((_("Service settings"), {"fields": ("currency_format",)}))
        return fieldsets

    def get_search_results(self, request, queryset, search_term):
        if is_platform(request.user) and asked_picker(request):
            queryset = queryset.select_related("service")  # ``picker_label`` names the service
        return super().get_search_results(request, queryset, search_term)

    def label_accounts(self, obj) -> list:
        return [obj]

    def picker_label(self, request, obj) -> str:
        """A picker's row: the account's real path as the viewer may see it (North › North-East; the
        platform operator's start with the service, which tells namesakes apart). The names on the page's
        paths are read once (``prime_picker_labels``), not a query per row."""
        return labels_for(request)(obj)

    @admin.display(description=gettext_lazy("name"), ordering="path")
    def tree_name(self, obj):
        """The tree (indented, in path order) and the account's real path from the viewer's level, its
        ancestors quiet: a filtered or searched list still says where each account is (North › North-East)."""
        label = labels_for_row(obj, obj)
        ancestors = label[:-len(obj.name)] if label.endswith(obj.name) else ""
        return format_html('<span style="display:inline-block;padding-left:{}em">{}<span class="quiet">{}</span>'
                           '<span style="white-space:nowrap">{}</span></span>', obj.depth * 1.2,
                           "↳ " if obj.depth else "", ancestors, obj.name)

    @admin.display(description=gettext_lazy("balance"), ordering="balance")
    def balance_display(self, obj):
        return format_money(obj.balance, currency_of(obj))

    @admin.display(description=gettext_lazy("blocked"), ordering="blocked")
    def blocked_display(self, obj):
        if not obj.blocked:
            return "—"
        return format_html('<span style="color:#ba2121">{}</span>: {}',
                           _("Blocked (%(by)s)") % {"by": obj.get_blocked_by_display()}, obj.blocked_reason)

    @admin.display(description=gettext_lazy("warning"))
    def warning(self, obj):
        return getattr(obj, "block_warning", "")

    def get_changelist(self, request, **kwargs):
        return AccountChangeList

    def change_view(self, request, object_id, form_url="", extra_context=None):
        account = self.get_object(request, object_id)
        links = self._account_links(request, account) if account is not None else []
        extra = {"account_links": links}
        if account is not None and request.method == "GET":
            # Its combined settings and services with the source of each (plan chain or its own override).
            extra.update(combined=extensions.kernel["combined_rows"](account),
                         services=extensions.kernel["service_rows"](account),
                         overrides_url=reverse("admin-account-overrides", args=[account.pk]),
                         services_url=reverse("admin-account-services", args=[account.pk]))
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def _account_links(self, request, obj) -> list[tuple[str, str]]:
        links = [(reverse("admin:accounts_ledgerentry_changelist") + f"?account__id__exact={obj.pk}", _("Ledger"))]
        if operations.may_manage(request.user, obj):
            links.append((reverse("admin:accounts_account_payment", args=[obj.pk]), _("Make a payment")))
            links.append((reverse("admin:accounts_account_block", args=[obj.pk]),
                           _("Unblock") if obj.blocked else _("Block")))
        if obj.is_top and is_platform(request.user):
            links.append((reverse("admin:accounts_account_billing_method", args=[obj.pk]),
                          _("Billing: %(method)s") % {"method": obj.get_billing_method_display()}))
        links.append((reverse("admin-account-services", args=[obj.pk]), _("Services and usage")))
        links.append((reverse("admin-account-overrides", args=[obj.pk]), gettext("Service overrides")))
        links.append((reverse("services-check"), _("Check a service")))
        if rights.may_replay_charges(request.user):
            links.append((reverse("services-replay") + f"?service={obj.service_id}&account={obj.pk}",
                          gettext("Replay charges")))
        return links

    def has_delete_permission(self, request, obj=None):
        return False  # accounts are never deleted: block them


    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("export/", view(self.export_view), name="accounts_account_export"),
            path("<int:pk>/payment/", view(self.payment_view), name="accounts_account_payment"),
            path("<int:pk>/block/", view(self.block_view), name="accounts_account_block"),
            path("<int:pk>/billing-method/", view(self.billing_method_view), name="accounts_account_billing_method"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        query = request.GET.copy()
        query.pop("p", None)
        base = reverse("admin:accounts_account_export") + "?" + (query.urlencode() + "&" if query else "")
        return super().changelist_view(request, {**(extra_context or {}), "export_csv_url": base + "format=csv",
                                                 "export_xlsx_url": base + "format=xlsx"})

    def export_view(self, request):
        """CSV or XLSX of the accounts the list's filters select, in scope, names (and paths) not ids."""
        def rows(queryset):
            accounts = list(queryset.select_related("parent", "plan", "service", "service__plan").order_by("path"))
            names = path_names(a.path for a in accounts)
            for a in accounts:
                yield [a.name, path_label(request.user, a, names), a.parent.name if a.parent else "",
                       a.plan.name if a.plan else "", a.balance, a.days, a.dealer_rights, a.blocked,
                       a.get_blocked_by_display() if a.blocked else "", a.blocked_reason]

        return export_list(request, self, filename="accounts", rows=rows, header=[
            "name", "path", "parent", "plan", "balance", "days", "dealer_rights", "blocked", "blocked_by",
            "blocked_reason"])

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
                    extensions.kernel["record_payment"](actor=request.user, account=account,
                                                        amount=data["amount"] or 0, days=data["days"] or 0,
                                                        description=data["description"])
                except DomainError as exc:
                    add_domain_error(form, exc)
                else:
                    self.message_user(request, _("Payment recorded for %(account)s.") % {"account": account.name}, messages.SUCCESS)
                    return redirect(reverse("admin:accounts_ledgerentry_changelist")
                                    + f"?account__id__exact={account.pk}")
            else:
                confirming = True
        amount, days = (form.cleaned_data.get("amount") or 0, form.cleaned_data.get("days") or 0) if confirming \
            else (0, 0)
        context = {
            **self.admin_site.each_context(request), "title": _("Payment for %(account)s") % {"account": account.name}, "account": account,
            "form": form, "confirming": confirming, "opts": self.model._meta,
            "balance": format_money(account.balance, currency_of(account)),
            "balance_after": format_money(account.balance + amount, currency_of(account)),
            "amount": format_money(amount, currency_of(account)), "days": days, "days_after": account.days + days,
            "block_warning": extensions.kernel["payment_block_warning"](account, amount, days) if confirming else None,
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
                    msg = _("%(account)s is unblocked.") % {"account": account.name}
                else:
                    operations.block_account(actor=request.user, account=account, reason=form.cleaned_data["reason"])
                    msg = _("%(account)s is blocked.") % {"account": account.name}
            except DomainError as exc:
                add_domain_error(form, exc)
            else:
                self.message_user(request, msg, messages.SUCCESS)
                return redirect("admin:accounts_account_change", account.pk)
        context = {**self.admin_site.each_context(request), "account": account, "form": form,
                   "title": (_("Unblock %(account)s") if account.blocked else _("Block %(account)s")) % {"account": account.name}, "opts": self.model._meta}
        return TemplateResponse(request, "admin/accounts/block.html", context)


    def billing_method_view(self, request, pk):
        """Switch a service between monthly billing and activation codes, after a confirmation
        that says how many units it deactivates or reactivates (platform operator only)."""
        account = self._get_visible(request, pk)
        if not (is_platform(request.user) and account.is_top):
            raise PermissionDenied
        target = "monthly" if account.billing_method == "activation_codes" else "activation_codes"
        counts, error = None, None
        try:
            if request.method == "POST":
                result = extensions.codes["switch_billing_method"](actor=request.user, service=account, method=target,
                                                                   confirm=True)
                self.message_user(request, _("%(account)s now bills by %(method)s: %(deactivated)s unit(s) deactivated, "
                                             "%(reactivated)s reactivated.") % {
                    "account": account.name, "method": BillingMethod(target).label.lower(),
                    "deactivated": result.get("units_deactivated", 0),
                    "reactivated": result.get("units_reactivated", 0)}, messages.SUCCESS)
                return redirect("admin:accounts_account_change", account.pk)
            extensions.codes["switch_billing_method"](actor=request.user, service=account, method=target,
                                                      confirm=False)
        except Conflict as exc:
            counts = exc.extra
        except DomainError as exc:
            error = exc.detail
        context = {**self.admin_site.each_context(request), "account": account, "target": target, "counts": counts,
                   "error": error, "opts": self.model._meta, "title": _("Switch billing method of %(account)s") % {"account": account.name}}
        return TemplateResponse(request, "admin/accounts/billing_method.html", context)


class LedgerServiceFilter(admin.SimpleListFilter):
    """The ledger's service-name filter. Its choices are the names the viewer's plans and account overrides
    configure (the only services that charge), read from those small tables: never a ``DISTINCT`` over the
    ledger, which reads the whole scope (issue 16). The parameter stays Django's ``service__exact``; a name
    typed there that no plan configures still filters."""

    title = gettext_lazy("service name")
    parameter_name = "service__exact"

    def lookups(self, request, model_admin):
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
class LedgerAdmin(PathLabelsMixin, ReadOnlyAdminMixin, CappedListMixin, ScopedAdminMixin, admin.ModelAdmin):
    """Capped count (``CappedListMixin``: ``COUNT`` of at most 10,001 rows, however many the scope holds)."""

    # Eight columns that fit beside the navigation and the filters at 1366 px (issue 15): the time as date over
    # time, the service with its quantity and window in one cell.
    list_display = ("at_display", "account_label", "kind", "amount", "days", "service_display", "description",
                    "actor_display")
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

    def label_accounts(self, obj) -> list:
        return [obj.account]

    @admin.display(description=gettext_lazy("account"), ordering="account__name")
    def account_label(self, obj):
        return self.path_of(obj, obj.account)

    @admin.display(description=gettext_lazy("at"), ordering="at")
    def at_display(self, obj):
        local = timezone.localtime(obj.at)
        return format_html('<span style="white-space:nowrap">{}</span><br><small>{}</small>', f"{local:%Y-%m-%d}",
                           f"{local:%H:%M}")

    @admin.display(description=gettext_lazy("service"), ordering="service")
    def service_display(self, obj):
        if not obj.service:
            return "—"
        quantity = f" × {obj.quantity}" if obj.quantity not in (None, 0, 1) else ""
        if obj.window_start is None:
            return f"{obj.service}{quantity}"
        return format_html("{}{}<br><small>{} {}</small>", obj.service, quantity, gettext("window from"),
                           f"{timezone.localtime(obj.window_start):%Y-%m-%d %H:%M}")

    @admin.display(description=gettext_lazy("by"), ordering="actor_name")
    def actor_display(self, obj):
        return obj.actor_name

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
        return stream_csv("ledger.csv", [str(h) for h in LEDGER_CSV_HEADER], rows)


@admin.register(Operator)
class OperatorAdmin(PathLabelsMixin, OperationAdminMixin, ScopedAdminMixin, UserAdmin):
    add_form = OperatorCreationForm
    form = OperatorChangeForm
    list_display = ("username", "account_label", "role", "email", "is_active", "last_login")
    list_select_related = ("account",)
    list_filter = (service_filter("account__service"), "role", "is_active")
    search_fields = ("username", "email", "account__name")
    ordering = ("username",)
    add_fieldsets = ((None, {"fields": ("username", "password", "email", "account", "role", "language")}),)
    fieldsets = ((None, {"fields": ("username", "account", "role", "email", "is_active", "language",
                                    "last_login")}),)
    readonly_fields = ("username", "account", "role", "last_login")
    filter_horizontal = ()
    autocomplete_fields = ("account",)
    actions = ["rotate_tokens"]

    def get_queryset(self, request):
        return operators_visible_to(request.user)

    def label_accounts(self, obj) -> list:
        return [obj.account]

    @admin.display(description=gettext_lazy("account"), ordering="account__name")
    def account_label(self, obj):
        return self.path_of(obj, obj.account) if obj.account_id else "—"

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

    @admin.action(description=gettext_lazy("Create a new API token (the old one stops working)"), permissions=["change"])
    def rotate_tokens(self, request, queryset):
        for operator in queryset[:20]:
            try:
                key = operations.rotate_token(actor=request.user, operator=operator)
            except DomainError as exc:
                self.message_user(request, f"{operator.username}: {exc.detail}", messages.ERROR)
            else:
                self.message_user(request, _("New API token for %(operator)s (shown once): %(key)s") % {
                    "operator": operator.username, "key": key},
                                  messages.WARNING)


# Pickers (apps.core.pickers): a new account's parent and a new operator's account, any account in scope.
register_picker("accounts.account.parent", Account)
register_picker("accounts.operator.account", Account)
register_picker("accounts.filter.parent", Account,
                lambda request, accounts: accounts.filter(Q(dealer_rights=True) | Q(parent__isnull=True)))
