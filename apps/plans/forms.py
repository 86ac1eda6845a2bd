"""Admin forms for plans and their service rows.

Forms validate with the models' rules and write nothing: a service row through ``ModelForm._post_clean``
(``PlanService``'s validators and ``clean``), a plan through ``operations.validate_plan`` (which runs
``Plan.full_clean`` after the rights and catalogue checks that need the operator). The admin saves the plan and then every service row through the operations once the whole
page (plan and inline rows) is valid, so a bad row leaves the plan untouched too.
"""

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export.forms import ConfirmImportForm, ImportForm

from apps.accounts.forms import TriStateField
from apps.accounts.models import Account
from apps.core.admin import add_domain_error
from apps.core.errors import DomainError
from apps.core.money_fields import MoneyFormField
from apps.core.scoping import in_scope, is_platform
from apps.core.money import DEFAULT_CURRENCY_FORMAT, currency_example, format_money

from . import cost_table, operations
from .models import DeviceTypeLimit, Modem, Plan, PlanService
from .operations import EXPORT_MODES

INHERIT = gettext_lazy("Inherit from the parent plan")
BOOLEAN_SETTINGS = ("block_by_balance", "limit_by_balance", "block_by_days", "allow_unknown_services")
MONEY_SETTINGS = ("block_balance", "deny_balance")


def _shown_setting(name: str, value, currency: str) -> str:
    """A setting's value as the plan form's inherited note shows it (money in the plan's currency pattern)."""
    if value is None or value == "":
        return _("nothing")
    if name in BOOLEAN_SETTINGS:
        return _("On") if value else _("Off")
    if name in MONEY_SETTINGS:
        return format_money(value, currency)
    if name == "currency_format":
        return f"{value} ({currency_example(value)})"
    if name == "history_period_days":
        return _("0 days (kept forever)") if value == 0 else _("%(days)s days") % {"days": value}
    if name == "device_type_limit":
        return str(DeviceTypeLimit(value).label)
    return str(value)


def currency_pattern(plan) -> str:
    """The currency pattern the plan's pages show money in (read with the inherited notes: no extra query)."""
    if plan is None or plan.pk is None:
        return DEFAULT_CURRENCY_FORMAT
    inherited_notes(plan)
    return getattr(plan, "_currency_pattern", DEFAULT_CURRENCY_FORMAT)


def inherited_notes(plan) -> dict[str, str]:
    """For each setting a plan may leave empty: what it gets then and from where ("Empty inherits 400 days
    from plan Base."), read from the plan's parent chain. One query per plan object (the service's plans),
    kept on it so the form and the read-only table share it."""
    from .inheritance import INHERITED_SETTINGS, ROOT_DEFAULTS, effective_settings

    if getattr(plan, "_inherited_notes", None) is not None:  # the form and the read-only table share them
        return plan._inherited_notes
    by_id = Plan.objects.filter(service_id=plan.service_id).select_related("service").in_bulk()
    parent = by_id.get(plan.parent_id)
    own = by_id.get(plan.pk, plan)
    if parent is None:
        inherited = {name: (ROOT_DEFAULTS[name], None) for name in INHERITED_SETTINGS}
    else:
        inherited = {name: (s.value, None if s.source == "default" else s.source_name)
                     for name, s in effective_settings(parent, by_id).items()}
    # Money as the service shows it everywhere (its own pattern, else its plans'), as the account pages do.
    service_pattern = own.service.currency_format if own.pk else ""
    currency = service_pattern or own.currency_format or inherited["currency_format"][0]
    plan._currency_pattern = currency
    notes = {}
    for name, (value, source) in inherited.items():
        shown = _shown_setting(name, value, currency)
        if source is None:
            notes[name] = _("Empty means the default: %(value)s.") % {"value": shown}
        else:
            notes[name] = _("Empty inherits %(value)s from plan %(plan)s.") % {"value": shown, "plan": source}
    plan._inherited_notes = notes
    return notes


class PlanTriStateField(TriStateField):
    """inherit / on / off, worded for plans."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.choices = [("", INHERIT), ("true", _("On")), ("false", _("Off"))]

    def prepare_value(self, value):
        # A re-displayed form holds the submitted text: "" must stay "inherit", not turn into "off".
        if value in (None, ""):
            return ""
        return "true" if value in (True, "true", "True") else "false"


class PlanForm(forms.ModelForm):
    modems = forms.ModelMultipleChoiceField(
        queryset=Modem.objects.filter(limit_by_plans=True), required=False,
        widget=forms.CheckboxSelectMultiple,
        label=gettext_lazy("Modems"),
        help_text=gettext_lazy("Modems flagged “limit by billing plans” that this plan may use. Unflagged modems "
                               "are usable by every plan and are not listed."))

    report_logo_url = forms.URLField(required=False, assume_scheme="https", label=gettext_lazy("Report logo URL"))

    actor = None  # set by PlanAdmin.get_form

    class Meta:
        model = Plan
        fields = ("service", "name", "parent", "description", "block_by_balance", "block_balance",
                  "limit_by_balance", "deny_balance", "block_by_days", "min_days", "allow_unknown_services",
                  "currency_format", "history_period_days", "retranslator_mask", "sms_sender", "command_sender",
                  "device_type_limit", "device_types", "email", "report_logo_url", "report_color")
        field_classes = {**{name: PlanTriStateField for name in ("block_by_balance", "limit_by_balance",
                                                                 "block_by_days", "allow_unknown_services")},
                         "block_balance": MoneyFormField, "deny_balance": MoneyFormField}
        widgets = {"device_types": forms.CheckboxSelectMultiple,
                   "description": forms.Textarea(attrs={"rows": 2, "cols": 60}),
                   "retranslator_mask": forms.TextInput(attrs={"size": 60})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        user = self.actor
        if "service" in self.fields:
            self.fields["service"].queryset = in_scope(Account.objects.filter(parent__isnull=True), user)
            self.fields["service"].required = True
        if "parent" in self.fields:
            from .queries import plans_visible_to

            parents = plans_visible_to(user)
            if self.instance.pk:
                parents = parents.filter(service_id=self.instance.service_id).exclude(pk=self.instance.pk)
            self.fields["parent"].queryset = parents
        if "device_type_limit" in self.fields:
            self.fields["device_type_limit"].choices = [("", INHERIT), *DeviceTypeLimit.choices]
        if "history_period_days" in self.fields and not self.instance.pk:
            self.fields["history_period_days"].initial = 400
            self.fields["history_period_days"].help_text = _("Days of unit history kept; 0 = forever. A plan "
                                                             "with a parent may leave it empty to inherit.")
        if self.instance.pk:
            for name, note in inherited_notes(self.instance).items():
                if name in self.fields:
                    field = self.fields[name]
                    field.help_text = f"{field.help_text} {note}".strip() if field.help_text else note
        if self.instance.pk and "modems" in self.fields:
            self.fields["modems"].initial = list(self.instance.modems.all())

    def service_account(self) -> Account:
        if self.instance.pk:
            return self.instance.service
        if "service" in self.fields:
            return self.cleaned_data.get("service")
        return self.actor.account.service

    def changed_values(self) -> dict:
        """The operation's input: every field on create, the changed ones on update."""
        names = [n for n in self.Meta.fields if n != "service"] + ["modems"]
        if self.instance.pk:
            names = [n for n in names if n in self.changed_data]
        values = {n: self.cleaned_data.get(n) for n in names if n in self.fields}
        for many in ("device_types", "modems"):
            if many in values:
                values[many] = list(values[many] or [])
        for text in ("currency_format", "retranslator_mask", "sms_sender", "command_sender", "email",
                     "report_logo_url", "report_color"):
            if text in values and values[text] == "":
                values[text] = None
        return values

    def _post_clean(self):
        # No construct-and-validate of the model instance: the operation checks everything.
        if self.errors:
            return
        service = self.service_account()
        if service is None:
            return
        if not self.instance.pk:
            self.instance.service = service  # the inline rows validate against this service's catalogue
        try:
            operations.validate_plan(actor=self.actor, service=service,
                                     plan=self.instance if self.instance.pk else None, values=self.changed_values())
        except DomainError as exc:
            add_domain_error(self, exc)


class PlanServiceForm(forms.ModelForm):
    """One service row; validated by the model (``PlanService.clean``) with the plan's service catalogue."""

    class Meta:
        model = PlanService
        fields = ("name", "type", "interval", "cost_table", "description")
        widgets = {"cost_table": forms.TextInput(attrs={"size": 28, "class": "cost-table-input",
                                                        "autocomplete": "off", "spellcheck": "false"}),
                   "description": forms.TextInput(attrs={"size": 24}),
                   "name": forms.TextInput(attrs={"size": 22, "list": "catalogue-names"})}

    service_id = None  # set by the formset
    cost_table_warnings: list[str] = []  # what the typed cost table's denial does (set by ``clean``)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "type" in self.fields:  # absent when the row is read-only for this viewer (a distributor)
            self.fields["type"].required = False
            self.fields["type"].help_text = _("Empty: the catalogue's type.")

    def _post_clean(self):
        """The model's own validation (``PlanService`` validators and ``clean``) against the service's catalogue
        (the plan may not be saved yet); a row marked for deletion or already refused is not checked."""
        if self.errors or not self.cleaned_data or (self.prefix and self.cleaned_data.get("DELETE")):
            return
        typed = self.cleaned_data.get("cost_table") or ""
        self.instance.catalogue = operations.catalogue_types(self.service_id)
        super()._post_clean()
        if not self.errors:
            # Read from the typed text: the canonical one writes every denial as a plain closing ``-1``.
            self.cost_table_warnings = cost_table.denial_warnings(typed)
            self.cleaned_data.update(operations.row_values(self.instance))


class PlanServiceFormSet(forms.BaseInlineFormSet):
    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        form.service_id = self.instance.service_id
        return form

    @property
    def empty_form(self):
        form = super().empty_form
        form.service_id = self.instance.service_id
        return form

    def clean(self):
        super().clean()
        seen = set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or not form.cleaned_data or form.cleaned_data.get("DELETE"):
                continue
            name = form.cleaned_data.get("name")
            if name in seen:
                form.add_error("name", _("'%(name)s' is listed twice.") % {"name": name})
            seen.add(name)


# --- import/export between plans (admin actions) ---------------------------------------------------

class TransferForm(forms.Form):
    """Step 1 of the admin actions: where to, and how."""

    target = forms.ModelChoiceField(queryset=Plan.objects.none(), required=False, label=gettext_lazy("Into plan"))
    targets = forms.ModelMultipleChoiceField(queryset=Plan.objects.none(), required=False, label=gettext_lazy("To plans"),
                                             widget=forms.CheckboxSelectMultiple)
    delete_existing = forms.BooleanField(required=False, label=gettext_lazy("Delete all existing services of the target first"))
    mode = forms.ChoiceField(choices=[("add", gettext_lazy("Add only (skip names the target has)")),
                                      ("replace", gettext_lazy("Replace services with the same names")),
                                      ("sync", gettext_lazy("Synchronise (the target's table becomes exactly these "
                                                            "rows)"))],
                             label=gettext_lazy("Mode"), initial="add", widget=forms.RadioSelect, required=False)

    def __init__(self, *args, plans=None, direction="import", **kwargs):
        super().__init__(*args, **kwargs)
        self.direction = direction
        self.fields["target"].queryset = plans
        self.fields["targets"].queryset = plans
        if direction == "import":
            del self.fields["targets"], self.fields["mode"]
            self.fields["target"].required = True
        else:
            del self.fields["target"], self.fields["delete_existing"]
            self.fields["targets"].required = True
            self.fields["mode"].required = True

    def clean_mode(self):
        mode = self.cleaned_data.get("mode")
        if mode not in EXPORT_MODES:
            raise forms.ValidationError(_("Choose a mode."))
        return mode


FILE_MODES = [("add", gettext_lazy("Add only: keep rows whose names the plan already has")),
              ("replace", gettext_lazy("Replace rows with the same names")),
              ("sync", gettext_lazy("Synchronise: each plan named in the file gets exactly its rows"))]


class PlanServiceImportForm(ImportForm):
    """The CSV/XLSX upload form, with the mode and (for the platform operator) the service."""

    mode = forms.ChoiceField(choices=FILE_MODES, label=gettext_lazy("Mode"), initial="add", widget=forms.RadioSelect)
    service = forms.ModelChoiceField(queryset=Account.objects.filter(parent__isnull=True).order_by("name"),
                                     required=False,
                                     label=gettext_lazy("service"),
                                     help_text=gettext_lazy("The service whose plans the file's “plan” column names."))

    def __init__(self, formats, resources, actor=None, **kwargs):
        super().__init__(formats, resources, **kwargs)
        if actor is not None and not is_platform(actor):
            del self.fields["service"]
        else:
            self.fields["service"].required = True


class PlanServiceConfirmImportForm(ConfirmImportForm):
    """Carries the mode and service from the preview to the confirmation."""

    mode = forms.ChoiceField(choices=FILE_MODES, widget=forms.HiddenInput)
    service = forms.IntegerField(widget=forms.HiddenInput, required=False)
