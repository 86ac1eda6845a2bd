from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.money_fields import MoneySerializerField
from apps.core.api import IdRelatedMixin
from apps.plans.models import Plan
from apps.plans.queries import plans_visible_to

from . import operations, rights
from .models import SERVICE_SETTING_FIELDS, Account, AuditEvent, LedgerEntry, Operator

class PaymentInSerializer(serializers.Serializer):
    amount = MoneySerializerField(required=False, default=0)
    days = serializers.IntegerField(required=False, default=0, min_value=-100000, max_value=100000)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    idempotency_key = serializers.CharField(max_length=255, required=False, allow_blank=False)


class PlanRelatedField(IdRelatedMixin, serializers.PrimaryKeyRelatedField):
    """A plan id; any plan outside the caller's service is refused like an unknown id."""

    default_error_messages = {"does_not_exist": _("No such object."), "incorrect_type": _("Must be a plan id (integer).")}

    def get_queryset(self):
        request = self.context["request"]
        account = getattr(request.user, "account", None)
        return Plan.objects.all() if account is None else Plan.objects.filter(service_id=account.service_id)

    def get_choices(self, cutoff=None):
        """The browsable API's select lists the plans the viewer sees (a distributor: its own plan and
        sub-plans), not every plan of the service; the operations judge any other id of the service."""
        queryset = plans_visible_to(self.context["request"].user).order_by("name", "id")
        if cutoff is not None:
            queryset = queryset[:cutoff]
        return {self.to_representation(item): self.display_value(item) for item in queryset}


class ScopedAccountField(IdRelatedMixin, serializers.PrimaryKeyRelatedField):
    default_error_messages = {"does_not_exist": _("No such object."),
                              "incorrect_type": _("Must be an account id (integer).")}

    def get_queryset(self):
        from .queries import accounts_visible_to

        return accounts_visible_to(self.context["request"].user)


class AccountSerializer(serializers.ModelSerializer):
    parent = ScopedAccountField(required=False, allow_null=True)
    plan = PlanRelatedField(required=False, allow_null=True)
    sub_plans = PlanRelatedField(many=True, required=False)
    service = serializers.IntegerField(source="service_id", read_only=True)
    is_top = serializers.BooleanField(read_only=True)
    payment = PaymentInSerializer(write_only=True, required=False)
    block_balance = MoneySerializerField(required=False, allow_null=True)
    deny_balance = MoneySerializerField(required=False, allow_null=True)
    blocked = serializers.BooleanField(required=False)
    blocked_reason = serializers.CharField(required=False, allow_blank=True, max_length=400)
    unblock_until = serializers.DateTimeField(write_only=True, required=False)
    confirm = serializers.BooleanField(write_only=True, required=False, default=False)

    class Meta:
        model = Account
        fields = ("id", "name", "parent", "plan", "dealer_rights", "sub_plans", *operations.OVERRIDE_FIELDS,
                  *SERVICE_SETTING_FIELDS, "currency_format", "balance", "days", "blocked", "blocked_by", "blocked_reason", "blocked_at",
                  "is_top", "service", "payment", "unblock_until", "confirm")
        read_only_fields = ("balance", "days", "blocked_by", "blocked_at")


class LedgerEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name", read_only=True)

    class Meta:
        model = LedgerEntry
        fields = ("id", "at", "kind", "amount", "days", "service", "quantity", "window_start", "window_end",
                  "description", "actor")


class OperatorSerializer(serializers.ModelSerializer):
    password = serializers.CharField(write_only=True, required=True, style={"input_type": "password"})
    account = ScopedAccountField()
    role = serializers.ChoiceField(choices=rights.operator_role_choices())

    class Meta:
        model = Operator
        fields = ("id", "username", "password", "email", "account", "role", "is_active", "language")
        read_only_fields = ("is_active",)

    def validate(self, attrs):
        """Django's password validators (AUTH_PASSWORD_VALIDATORS), each reason listed on ``password``,
        with the other fields' errors; ``create_operator`` applies them again as the authority."""
        candidate = Operator(username=attrs.get("username", ""), email=attrs.get("email", ""))
        try:
            validate_password(attrs.get("password", ""), candidate)
        except DjangoValidationError as error:
            raise serializers.ValidationError({"password": list(error.messages)}) from None
        return attrs


class OperatorUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Operator
        fields = ("id", "username", "email", "account", "role", "is_active", "language")
        read_only_fields = ("username", "account", "role")


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)


class AuditEventSerializer(serializers.ModelSerializer):
    """One event of the audit trail (read-only)."""

    actor = serializers.CharField(source="actor_name")
    subject = serializers.CharField(source="subject_name")
    account = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = ("id", "at", "action", "actor", "subject_type", "subject_id", "subject", "account", "before",
                  "after", "reason")
        read_only_fields = fields

    @extend_schema_field({"type": "object", "nullable": True,
                          "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}})
    def get_account(self, obj):
        return {"id": obj.account_id, "name": obj.account_name} if obj.account_id else None
