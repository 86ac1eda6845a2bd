"""API shapes for plans, plan services, the calculator and the catalogues (API.md "Plans")."""

from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.accounts.models import Account
from apps.core.money_fields import MoneySerializerField
from apps.core.api import IdRelatedMixin
from apps.core.scoping import in_scope
from apps.plans.models import DeviceType, Modem

from .cost_table import MAX_EVALUATE_COUNT, MAX_TEXT_LENGTH
from .models import CatalogueService, Plan, PlanService, ResetInterval, ServiceType
from .operations import EXPORT_MODES

MONEY = {"max_digits": 16, "decimal_places": 4}


@extend_schema_field(OpenApiTypes.INT)
class VisiblePlanField(IdRelatedMixin, serializers.PrimaryKeyRelatedField):
    """A plan id the caller can see; anything else is refused like an unknown id."""

    default_error_messages = {"does_not_exist": gettext_lazy("No such object."), "incorrect_type": gettext_lazy("Must be a plan id (integer).")}

    def get_queryset(self):
        from .queries import plans_visible_to

        return plans_visible_to(self.context["request"].user)


class ServiceAccountField(IdRelatedMixin, serializers.PrimaryKeyRelatedField):
    """A top account (service) the caller can see."""

    default_error_messages = {"does_not_exist": gettext_lazy("No such object."), "incorrect_type": gettext_lazy("Must be a service id (integer).")}

    def get_queryset(self):
        return in_scope(Account.objects.filter(parent__isnull=True), self.context["request"].user)


class CatalogueIdField(IdRelatedMixin, serializers.PrimaryKeyRelatedField):
    default_error_messages = {"does_not_exist": gettext_lazy("No such object."), "incorrect_type": gettext_lazy("Must be an id (integer).")}


# The model's rules are the operation's to run (``full_clean()`` in ``create_plan``, ``add_plan_service``…,
# answered one field at a time in the plans' wording): the fields built from the model do not copy its
# validators, so a body is checked once, by the same rules the admin's forms and the file import use. The
# serializer keeps the input's shape (types, lengths, choices). (A comment, not a docstring: the API schema
# would show a docstring as each serializer's description.)
class ValidatedByOperationMixin:
    def build_standard_field(self, field_name, model_field):
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        kwargs.pop("validators", None)
        return field_class, kwargs


class PlanSerializer(ValidatedByOperationMixin, serializers.ModelSerializer):
    service = ServiceAccountField(required=False)
    parent = VisiblePlanField(required=False, allow_null=True)
    block_balance = MoneySerializerField(required=False, allow_null=True)
    deny_balance = MoneySerializerField(required=False, allow_null=True)
    min_days = serializers.IntegerField(required=False, allow_null=True)
    history_period_days = serializers.IntegerField(required=False, allow_null=True)
    email = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=254)
    report_logo_url = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=200)
    device_types = CatalogueIdField(many=True, required=False, queryset=DeviceType.objects.all())
    modems = CatalogueIdField(many=True, required=False, queryset=Modem.objects.all())

    class Meta:
        model = Plan
        fields = ("id", "service", "name", "parent", "description", "email", "block_by_balance", "block_balance",
                  "limit_by_balance", "deny_balance", "block_by_days", "min_days", "allow_unknown_services",
                  "currency_format", "history_period_days", "retranslator_mask", "sms_sender", "command_sender",
                  "device_type_limit", "device_types", "modems", "report_logo_url", "report_color", "created_at")
        read_only_fields = ("created_at",)
        validators = []  # uniqueness and every other rule: the model's, run by the operations
        extra_kwargs = {"name": {"required": False, "validators": []}}


class SettingSerializer(serializers.Serializer):
    value = serializers.JSONField()
    source = serializers.CharField(help_text=gettext_lazy("'plan:<id>' or 'default'"))
    source_name = serializers.CharField()


class EffectiveServiceSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    interval = serializers.CharField()
    cost_table = serializers.CharField()
    description = serializers.CharField()
    plan = serializers.IntegerField(source="plan_id", help_text=gettext_lazy("The plan the row comes from."))
    plan_name = serializers.CharField()
    inherited = serializers.BooleanField()
    explanation = serializers.CharField()


class PlanServiceSerializer(ValidatedByOperationMixin, serializers.ModelSerializer):
    type = serializers.ChoiceField(choices=ServiceType.choices, required=False,
                                   help_text=gettext_lazy("Defaults to the catalogue's type; any other type is refused."))
    interval = serializers.ChoiceField(choices=ResetInterval.choices, required=False)
    cost_table = serializers.CharField(required=False, allow_blank=True, max_length=MAX_TEXT_LENGTH,
                                       trim_whitespace=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=500)
    plan = serializers.IntegerField(source="plan_id", read_only=True)

    class Meta:
        model = PlanService
        fields = ("id", "plan", "name", "type", "interval", "cost_table", "description")
        validators = []
        extra_kwargs = {"name": {"validators": []}}


class ImportInSerializer(serializers.Serializer):
    source_plans = VisiblePlanField(many=True, allow_empty=False)
    names = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list,
                                  help_text=gettext_lazy("Empty: every service of the chosen plans."))
    delete_existing = serializers.BooleanField(required=False, default=False)


class ImportOutSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    kept = serializers.IntegerField()
    removed = serializers.IntegerField()


class ExportInSerializer(serializers.Serializer):
    target_plans = VisiblePlanField(many=True, allow_empty=False)
    names = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list,
                                  help_text=gettext_lazy("Empty: every service of this plan."))
    mode = serializers.ChoiceField(choices=[(m, m) for m in EXPORT_MODES])


class ExportTargetSerializer(serializers.Serializer):
    plan = serializers.IntegerField()
    plan_name = serializers.CharField()
    added = serializers.IntegerField()
    replaced = serializers.IntegerField()
    kept = serializers.IntegerField()
    removed = serializers.IntegerField()


class ExportOutSerializer(serializers.Serializer):
    targets = ExportTargetSerializer(many=True)


class EvaluateInSerializer(serializers.Serializer):
    cost_table = serializers.CharField(allow_blank=True, max_length=MAX_TEXT_LENGTH, trim_whitespace=False)
    count = serializers.IntegerField(min_value=0, max_value=MAX_EVALUATE_COUNT)


class EvaluateOutSerializer(serializers.Serializer):
    canonical = serializers.CharField()
    total = serializers.DecimalField(**MONEY)
    prices = serializers.ListField(child=serializers.DecimalField(**MONEY, allow_null=True))
    flat_fee = serializers.DecimalField(**MONEY)
    denied_from = serializers.IntegerField(allow_null=True)
    warnings = serializers.ListField(
        child=serializers.CharField(),
        help_text=gettext_lazy("Sentences (in the operator's language) about what the table's negative item does when it is not "
                  "a plain closing -1: e.g. '1:-0.5' denies every use and is saved as '-1'. Empty otherwise."))


class CatalogueSerializer(serializers.ModelSerializer):
    service = ServiceAccountField(required=False, allow_null=True,
                                  help_text=gettext_lazy("Set for 'Apps: …' entries; the platform operator names it on create."))
    type = serializers.CharField(read_only=True)

    class Meta:
        model = CatalogueService
        fields = ("id", "name", "type", "description", "service")
        validators = []


class DeviceTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeviceType
        fields = ("id", "name")


class ModemSerializer(serializers.ModelSerializer):
    class Meta:
        model = Modem
        fields = ("id", "name", "limit_by_plans")  # its plan lists span services: read them on each plan
