"""Admin forms for accounts and operators; every save is an operation."""

from django import forms
from django.contrib.auth import password_validation
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from apps.core.admin import OperationForm
from apps.core.money_fields import MoneyFormField
from apps.core.scoping import in_scope, is_platform
from apps.plans.models import Plan

from . import operations, rights
from .models import SERVICE_FORM_FIELDS, Account, Operator

OVERRIDE_FIELDS = operations.OVERRIDE_FIELDS
TRI_STATE = [("", _("Inherit from the plan")), ("true", _("On")), ("false", _("Off"))]


class TriStateField(forms.TypedChoiceField):
    """Null = inherited, or an explicit on/off."""

    def __init__(self, **kwargs):
        for ignored in ("required", "choices", "coerce", "empty_value", "max_length"):
            kwargs.pop(ignored, None)
        super().__init__(choices=TRI_STATE, coerce=lambda v: v == "true", empty_value=None, required=False, **kwargs)

    def prepare_value(self, value):
        """Null and the submitted empty choice both stay "inherit" (a redisplayed form must not flip to off)."""
        if value is None or value == "":
            return ""
        return "true" if value in (True, "true", "True") else "false"


class AccountForm(OperationForm):
    sub_plans_choice = forms.ModelMultipleChoiceField(queryset=Plan.objects.none(), required=False,
                                                      label=_("Sub-plans"), help_text=_("Plans this dealer may hand out."))
    payment_amount = MoneyFormField(required=False, label=_("Opening amount"))
    payment_days = forms.IntegerField(required=False, label=_("Opening days"))

    class Meta:
        model = Account
        fields = ("name", "parent", "plan", "dealer_rights", *OVERRIDE_FIELDS, *SERVICE_FORM_FIELDS, "currency_format")
        field_classes = {"block_by_balance": TriStateField, "limit_by_balance": TriStateField,
                         "block_by_days": TriStateField, "allow_unknown_services": TriStateField,
                         "block_balance": MoneyFormField, "deny_balance": MoneyFormField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        user = self.actor
        plans = Plan.objects.all() if is_platform(user) else Plan.objects.filter(service_id=user.account.service_id)
        if user is not None and not rights.may_hand_out_any_plan(user):
            plans = user.account.sub_plans.all()
        if "plan" in self.fields:
            self.fields["plan"].queryset = plans
        self.fields["sub_plans_choice"].queryset = plans
        if "parent" in self.fields:
            self.fields["parent"].queryset = in_scope(Account.objects.all(), user)
            self.fields["parent"].required = not is_platform(user)
        if self.instance.pk:
            self.fields["sub_plans_choice"].initial = list(self.instance.sub_plans.all())
            for name in ("payment_amount", "payment_days"):
                self.fields.pop(name)

    def perform(self, actor):
        data = self.cleaned_data
        overrides = {k: data.get(k) for k in OVERRIDE_FIELDS if k in data}
        if self.instance.pk is None:
            parent = data.get("parent")
            settings = {k: data[k] for k in (*SERVICE_FORM_FIELDS, "currency_format") if k in data and parent is None}
            payment = None
            if data.get("payment_amount") or data.get("payment_days"):
                payment = {"amount": data.get("payment_amount") or 0, "days": data.get("payment_days") or 0,
                           "description": "Opening payment"}
            return operations.create_account(
                actor=actor, name=data["name"], parent=parent, plan=data.get("plan"),
                dealer_rights=data.get("dealer_rights", False), sub_plans=list(data.get("sub_plans_choice") or []),
                overrides={k: v for k, v in overrides.items() if v is not None}, service_settings=settings,
                payment=payment,
            )
        original = Account.objects.get(pk=self.instance.pk)
        changes = {k: data[k] for k in self.changed_data if k in self.Meta.fields and k != "parent"}
        if "sub_plans_choice" in self.changed_data:
            changes["sub_plans"] = list(data["sub_plans_choice"])
        if not changes:
            return original
        return operations.update_account(actor=actor, account=original, changes=changes)


class PaymentForm(forms.Form):
    amount = MoneyFormField(required=False, initial=0, label=_("Amount"), help_text=_("Negative to take money off."))
    days = forms.IntegerField(required=False, initial=0, min_value=-100000, max_value=100000,
                              label=_("Days"), help_text=_("Negative to take days off."))
    description = forms.CharField(label=_("Description"), max_length=500, widget=forms.TextInput(attrs={"size": 60}))

    def clean(self):
        data = super().clean()
        if not self.errors and not (data.get("amount") or data.get("days")):
            raise forms.ValidationError(_("Give an amount or a number of days (both are 0)."))
        return data


class BlockForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=400, widget=forms.TextInput(attrs={"size": 60}))
    until = forms.DateTimeField(required=False, label=_("Until"),
                                help_text=_("Lifting an automatic block: automatic blocking is suspended until then "
                                            "(at most 30 days)."),
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))


class OperatorCreationForm(OperationForm):
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput, strip=False,
                               help_text=lazy(password_validation.password_validators_help_text_html, str)())

    class Meta:
        model = Operator
        fields = ("username", "email", "account", "role", "language")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].required = True
        self.fields["role"].choices = rights.operator_role_choices()

    def perform(self, actor):
        d = self.cleaned_data
        return operations.create_operator(actor=actor, username=d["username"], password=d["password"],
                                          email=d.get("email", ""), account=d["account"], role=d["role"],
                                          language=d.get("language", ""))


class OperatorChangeForm(OperationForm):
    class Meta:
        model = Operator
        fields = ("email", "is_active", "language")

    def perform(self, actor):
        original = Operator.objects.get(pk=self.instance.pk)
        return operations.update_operator(actor=actor, operator=original, email=self.cleaned_data["email"],
                                          is_active=self.cleaned_data["is_active"]
                                          if "is_active" in self.changed_data else None,
                                          language=self.cleaned_data["language"]
                                          if "language" in self.changed_data else None)
