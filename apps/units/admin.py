"""Units (with their features inline) and monitoring users (with their grants inline) in the admin.

Every save goes through ``apps.units.operations`` (``apps.core.admin.OperationAdminMixin``). A unit and its
feature lists are one operation, run once the inline formsets are valid too. When it refuses, the admin's
request transaction is rolled back and the form is shown again with the refusal under the field it names.
Deleting a unit archives it.
"""

from django.utils.translation import gettext, gettext_lazy
from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.timezone import localtime

from apps.accounts.audit_views import AuditHistoryMixin
from apps.accounts.models import Account
from apps.accounts.queries import accounts_visible_to
from apps.core import clock
from apps.core.admin import (CappedListMixin, OperationAdminMixin, OutOfScopeIs404, ReadOnlyAdminMixin,
                             ScopedAdminMixin, ServiceListFilter, refused_on_row, service_filter)
from apps.core.errors import DomainError
from apps.core.exports import export_list, path_label, path_names
from apps.core.labels import PathLabelsMixin, kept_account, labels_for, unit_label
from apps.core.pickers import (PickerFiltersMixin, PickerListFilter, ScopedPickerMixin, asked_picker, autocomplete_widget,
                               register_picker)

from . import extensions, operations, queries
from .models import (AccessGrant, DeactivationReason, EcoCriterion, MonitoringUser, Sensor, ServiceInterval, Unit,
                     UnitCommand, UnitEvent)

FEATURE_INLINE_MODELS = {Sensor: "sensors", UnitCommand: "commands", ServiceInterval: "service_intervals"}


class ScopedAccountFilter(PickerListFilter):
    """Accounts of the operator's subtree that may hold units (never a top account): a searchable picker."""

    title = gettext_lazy("account")
    parameter_name = "account"
    picker = "units.unit.account"
    source = (Unit, "account")
    lookup = "account_id"


# --- units -------------------------------------------------------------------------------------------

class DeactivationReasonFilter(admin.SimpleListFilter):
    """Why listed units are deactivated (archived units are never listed, so that reason is left out)."""

    title = gettext_lazy("deactivation reason")
    parameter_name = "deactivation_reason"

    def lookups(self, request, model_admin):
        return [(value, label) for value, label in DeactivationReason.choices
                if value not in (DeactivationReason.NONE, DeactivationReason.ARCHIVED)]

    def queryset(self, request, queryset):
        return queryset.filter(deactivation_reason=self.value()) if self.value() else queryset


class UnitAdminForm(forms.ModelForm):
    eco_criteria = forms.MultipleChoiceField(label=gettext_lazy("Eco criteria"), choices=EcoCriterion.choices, required=False,
                                             widget=forms.CheckboxSelectMultiple,
                                             help_text=gettext_lazy("Only the highest-scoring criterion counts for the discount."))

    class Meta:
        model = Unit
        fields = ["name", "account", "unique_id", "device_type", "modem", "eco_driving", "road_limits_speeding",
                  "eco_criteria"]


class FeatureInline(admin.TabularInline):
    extra = 1

    def has_add_permission(self, request, obj=None):
        return request.user.has_perm("units.change_unit") or request.user.has_perm("units.add_unit")

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("units.change_unit") or request.user.has_perm("units.add_unit")

    def has_delete_permission(self, request, obj=None):
        return request.user.has_perm("units.change_unit")


class SensorInline(FeatureInline):
    model = Sensor
    fields = ("name", "type")


class CommandInline(FeatureInline):
    model = UnitCommand
    fields = ("name",)
    verbose_name = gettext_lazy("command")


class ServiceIntervalInline(FeatureInline):
    model = ServiceInterval
    fields = ("name",)


def feature_lists(formsets) -> dict:
    """``{"sensors": [...], ...}`` for each inline whose rows changed: a list given replaces the list."""
    out = {}
    for formset in formsets:
        key = FEATURE_INLINE_MODELS.get(formset.model)
        if key is None or not formset.has_changed():
            continue
        rows = []
        for row in formset.forms:
            data = row.cleaned_data
            if not data or data.get("DELETE"):
                continue
            rows.append({"name": data["name"], **({"type": data["type"]} if "type" in data else {})})
        out[key] = rows
    return out


@admin.register(Unit)
class UnitAdmin(PathLabelsMixin, AuditHistoryMixin, PickerFiltersMixin, ScopedPickerMixin, CappedListMixin, OperationAdminMixin, ScopedAdminMixin, admin.ModelAdmin):
    audit_subject_type = "unit"  # History: the audit trail's events of this unit
    form = UnitAdminForm
    autocomplete_fields = ("account",)
    inlines = [SensorInline, CommandInline, ServiceIntervalInline]
    list_display = ("name", "unique_id", "account_label", "device_type", "active", "deactivated", "reason")
    list_select_related = ("account", "device_type")
    list_filter = (service_filter("service"), ScopedAccountFilter, "active", "device_type", DeactivationReasonFilter)
    search_fields = ("name", "^unique_id")
    search_help_text = gettext_lazy("Name contains, or IMEI starts with.")
    ordering = ("name", "id")
    readonly_fields = ("active", "deactivated_at", "deactivation_reason", "code_panel")
    actions = ["activate_selected", "deactivate_selected"]
    delete_confirmation_template = "admin/units/unit/archive_confirmation.html"

    def changelist_view(self, request, extra_context=None):
        from django.urls import reverse

        query = request.GET.copy()
        query.pop("p", None)
        base = reverse("admin:units_unit_export") + "?" + (query.urlencode() + "&" if query else "")
        return super().changelist_view(request, {**(extra_context or {}), "export_csv_url": base + "format=csv",
                                                 "export_xlsx_url": base + "format=xlsx"})

    def get_urls(self):
        from django.urls import path

        return [path("export/", self.admin_site.admin_view(self.export_view), name="units_unit_export"),
                *super().get_urls()]

    def export_view(self, request):
        """CSV or XLSX of the units the list's filters select, in scope, names (and account paths) not ids."""
        def rows(queryset):
            names = path_names(queryset.order_by().values_list("account__path", flat=True).distinct())
            tz = timezone.get_current_timezone()
            for unit in queryset.select_related("account", "device_type").order_by("name", "id").iterator(2000):
                yield [unit.name, unit.unique_id, unit.account.name, path_label(request.user, unit.account, names),
                       unit.device_type.name if unit.device_type else "", unit.active,
                       timezone.localtime(unit.deactivated_at, tz).isoformat() if unit.deactivated_at else "",
                       unit.get_deactivation_reason_display() if unit.deactivation_reason else ""]

        return export_list(request, self, filename="units", rows=rows, header=[
            "name", "unique_id", "account", "account_path", "device_type", "active", "deactivated_at", "reason"])

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": ("name", "account", "unique_id", "device_type", "modem")}),
            (gettext("Eco driving"), {"fields": ("eco_driving", "road_limits_speeding", "eco_criteria")}),
        ]
        if obj is not None:
            fieldsets.insert(1, (gettext("State"), {"fields": ("active", "deactivated_at", "deactivation_reason",
                                                      "code_panel")}))
        return fieldsets

    def get_queryset(self, request):
        return queries.units_visible_to(request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "account":
            kwargs["queryset"] = (accounts_visible_to(request.user).filter(parent__isnull=False)
                                  .select_related("service").order_by("path"))
            autocomplete_widget(self, db_field, request, kwargs)
            field = admin.ModelAdmin.formfield_for_foreignkey(self, db_field, request, **kwargs)
            # The chosen account labelled as the picker's rows are: its path from the viewer's level.
            target = self.admin_site.get_model_admin(db_field.related_model)
            field.label_from_instance = lambda account: target.picker_label(request, account)
            return field
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def label_accounts(self, obj) -> list:
        return [obj.account]

    @admin.display(description=gettext_lazy("account"), ordering="account__name")
    def account_label(self, obj):
        return self.path_of(obj, obj.account)

    def get_search_results(self, request, queryset, search_term):
        if asked_picker(request):
            queryset = queryset.select_related("account")  # each row's label names its account's path
        return super().get_search_results(request, queryset, search_term)

    def picker_label(self, request, obj) -> str:
        """A picker's row: the name, the IMEI and the account's path tell namesakes apart."""
        return unit_label(labels_for(request), obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # a unit is archived one at a time, never bulk-deleted
        return actions

    @admin.display(description=gettext_lazy("deactivated at"), ordering="deactivated_at")
    def deactivated(self, obj):
        return date_format(localtime(obj.deactivated_at), "Y-m-d H:i") if obj.deactivated_at else ""

    @admin.display(description=gettext_lazy("reason"), ordering="deactivation_reason")
    def reason(self, obj):
        return obj.get_deactivation_reason_display() if obj.deactivation_reason else ""

    @admin.display(description=gettext_lazy("activation code"))
    def code_panel(self, obj):
        """The codes app's panel for this unit (its code, days left, actions), when that app provides one."""
        panel = extensions.codes.get("panel")
        return panel(obj) if panel else "—"

    # --- saving through the operations ---

    def perform(self, request, form, formsets, change):
        """The unit and its feature lists, in one operation."""
        data = form.cleaned_data
        lists = feature_lists(formsets)
        if change:
            changes = {name: data[name] for name in form.changed_data if name in operations.UNIT_FIELDS}
            return operations.update_unit(actor=request.user, unit=form.instance, changes={**changes, **lists})
        return operations.create_unit(
            actor=request.user, account=data["account"], name=data["name"], unique_id=data["unique_id"],
            device_type=data.get("device_type"), modem=data.get("modem"),
            eco_driving=data.get("eco_driving", False),
            road_limits_speeding=data.get("road_limits_speeding", False),
            eco_criteria=list(data.get("eco_criteria") or []), **lists)

    def get_deleted_objects(self, objs, request):
        """Archiving removes nothing but the unit's grants; list the units only."""
        return [str(obj) for obj in objs], {"units": len(objs)}, set(), []

    def delete_view(self, request, object_id, extra_context=None):
        return super().delete_view(request, object_id, {"title": gettext("Archive unit"), **(extra_context or {})})

    def delete_model(self, request, obj):
        operations.archive_unit(actor=request.user, unit=obj)

    def response_delete(self, request, obj_display, obj_id):
        response = super().response_delete(request, obj_display, obj_id)
        storage = messages.get_messages(request)
        list(storage)  # drop Django's "deleted successfully": the unit was archived
        self.message_user(request, gettext("The unit “%(unit)s” was archived.") % {"unit": obj_display}, messages.SUCCESS)
        return response

    # --- bulk (de)activation with a confirmation page ---

    def _activation_action(self, request, queryset, *, active: bool):
        """First POST: a confirmation page with what will change and what will be refused and why.
        Second POST (``confirm``): one operation per unit; the message counts done and skipped."""
        now = clock.now()
        units = list(queryset.select_related("account__service").order_by("name", "id"))
        codes = operations.current_codes(u.pk for u in units) if active else {}
        to_change, unchanged, refused = [], [], []
        for unit in units:
            if unit.active == active:
                unchanged.append(unit)
                continue
            reason = operations.activation_refusal(unit, active=active, now=now, codes=codes)
            (refused.append((unit, reason)) if reason else to_change.append(unit))
        if request.POST.get("confirm") == "yes":
            done, skipped = 0, len(unchanged)
            for unit in to_change + [u for u, _ in refused]:
                try:
                    operations.set_unit_active(actor=request.user, unit=unit, active=active, now=now)
                    done += 1
                except DomainError:
                    skipped += 1
            text = (gettext("Activated %(done)s unit(s); skipped %(skipped)s.") if active
                    else gettext("Deactivated %(done)s unit(s); skipped %(skipped)s."))
            self.message_user(request, text % {"done": done, "skipped": skipped},
                              messages.SUCCESS if done else messages.WARNING)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Activate units") if active else gettext("Deactivate units"),
            "opts": self.model._meta, "activating": active,
            "action": request.POST.get("action"), "select_across": request.POST.get("select_across", "0"),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "to_change": to_change[:100], "to_change_count": len(to_change), "unchanged_count": len(unchanged),
            "refused": refused[:100], "refused_count": len(refused),
        }
        return TemplateResponse(request, "admin/units/unit/activation_confirmation.html", context)

    @admin.action(description=gettext_lazy("Activate selected units"), permissions=["change"])
    def activate_selected(self, request, queryset):
        return self._activation_action(request, queryset, active=True)

    @admin.action(description=gettext_lazy("Deactivate selected units"), permissions=["change"])
    def deactivate_selected(self, request, queryset):
        return self._activation_action(request, queryset, active=False)


# --- monitoring users ---------------------------------------------------------------------------------

class GrantInline(admin.TabularInline):
    """Grants are given or taken away, never edited: existing rows are read-only, with a delete box."""

    model = AccessGrant
    fields = ("unit", "account")
    autocomplete_fields = ("unit", "account")
    extra = 1

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request, obj=None):
        return obj is not None and request.user.has_perm("units.change_monitoringuser")

    def has_delete_permission(self, request, obj=None):
        return request.user.has_perm("units.change_monitoringuser")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("unit", "account")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        """No add/change/view links beside the pickers: a grant names existing objects only."""
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in ("unit", "account") and field is not None:
            for flag in ("can_add_related", "can_change_related", "can_view_related", "can_delete_related"):
                setattr(field.widget, flag, False)
        return field

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "unit":
            kwargs["queryset"] = queries.units_visible_to(request.user)
        elif db_field.name == "account":
            kwargs["queryset"] = accounts_visible_to(request.user).order_by("path")
        autocomplete_widget(self, db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class MonitoringUserForm(forms.ModelForm):
    class Meta:
        model = MonitoringUser
        fields = ["name", "account"]


@admin.register(MonitoringUser)
class MonitoringUserAdmin(PathLabelsMixin, PickerFiltersMixin, OperationAdminMixin, ScopedAdminMixin, admin.ModelAdmin):
    form = MonitoringUserForm
    autocomplete_fields = ("account",)
    inlines = [GrantInline]
    list_display = ("name", "account_label", "grant_count", "created_at")
    list_select_related = ("account",)
    list_filter = (service_filter("service"), ScopedAccountFilter)
    search_fields = ("name",)
    ordering = ("name", "id")

    def get_queryset(self, request):
        return queries.monitoring_users_visible_to(request.user).annotate(grants_total=Count("grants"))

    def label_accounts(self, obj) -> list:
        return [obj.account]

    @admin.display(description=gettext_lazy("account"), ordering="account__name")
    def account_label(self, obj):
        return self.path_of(obj, obj.account)

    def get_readonly_fields(self, request, obj=None):
        return ("name", "account", "created_at") if obj is not None else ()

    def has_delete_permission(self, request, obj=None):
        return False  # the discount's history reads monitoring users; nothing removes them here

    @admin.display(description=gettext_lazy("grants"), ordering="grants_total")
    def grant_count(self, obj):
        return obj.grants_total

    def perform(self, request, form, formsets, change):
        """A new user is created (its name and account are read-only afterwards); then, on its page, new
        grant rows are granted and ticked rows revoked, each through its operation (a refusal shown on its row)."""
        user = form.instance
        if not change:
            user = operations.create_monitoring_user(actor=request.user, account=form.cleaned_data["account"],
                                                     name=form.cleaned_data["name"])
        for formset in formsets:
            for row in formset.forms:
                data = row.cleaned_data
                if not data:
                    continue
                with refused_on_row(row):
                    if data.get("DELETE") and row.instance.pk:
                        operations.revoke_access(actor=request.user, grant=row.instance)
                    elif not row.instance.pk and not data.get("DELETE"):
                        operations.grant_access(actor=request.user, user=user, unit=data.get("unit"),
                                                account=data.get("account"))
        return user



# --- pickers (apps.core.pickers): the rows each searchable picker of these pages offers ------------------

def _accounts_below_top(request, accounts):
    return accounts.filter(parent__isnull=False)  # a unit never sits on a top account (its form's choices)


register_picker("units.unit.account", Account, _accounts_below_top)
register_picker("units.monitoringuser.account", Account)
register_picker("units.accessgrant.account", Account)
register_picker("units.accessgrant.unit", Unit)


# --- unit log -----------------------------------------------------------------------------------------

class EventServiceFilter(ServiceListFilter):
    """The platform operator's "Service" filter, on the event's service id snapshot."""

    def service_lookup(self) -> str:
        return "service_id_snapshot"


@admin.register(UnitEvent)
class UnitEventAdmin(PathLabelsMixin, ReadOnlyAdminMixin, CappedListMixin, OutOfScopeIs404, admin.ModelAdmin):
    """The audit trail of units, monitoring users and grants: read-only, scoped by the account path."""

    list_display = ("at", "action", "unit_name", "account_label", "actor_name", "summary")
    list_filter = (EventServiceFilter, "action")
    search_fields = ("unit_name", "=unit_id_snapshot")
    ordering = ("-at", "-id")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100

    def get_queryset(self, request):
        return queries.unit_events_visible_to(request.user)

    def label_accounts(self, obj) -> list:
        return [kept_account(obj.account_path, obj.account_name)]

    @admin.display(description=gettext_lazy("account"), ordering="account_name")
    def account_label(self, obj):
        """The account as the event kept it (its name then), on today's path from the viewer's level."""
        return self.path_of(obj, kept_account(obj.account_path, obj.account_name)) or obj.account_name

    @admin.display(description=gettext_lazy("details"))
    def summary(self, obj):
        """``name: Old → New; sensors: 2`` rather than raw JSON."""
        parts = []
        for key, value in (obj.details or {}).items():
            if isinstance(value, dict) and {"from", "to"} <= value.keys():
                parts.append(f"{key}: {value['from'] or '—'} → {value['to'] or '—'}")
            elif isinstance(value, dict):
                parts.append(f"{key}: " + ", ".join(f"{k} {v}" for k, v in value.items()))
            else:
                parts.append(f"{key}: {value}")
        return "; ".join(parts)

