"""API shapes of codes, code events and expiry notices (API.md "Activation codes")."""

from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core import clock
from apps.core.api import IdInputField

from .models import MAX_BATCH, MAX_VALIDITY_DAYS, ActivationCode, CodeEvent, ExpiryNotice


class CodeSerializer(serializers.ModelSerializer):
    """A code as of the request's instant (``now`` in the context): derived state and days left.

    A queued code carries ``queued_on`` (the unit it waits on) and its planned clock (``activated_at``
    = the live code's expiry); from that instant it reads as active on that unit (SPEC §9.8)."""

    state = serializers.SerializerMethodField()
    days_left = serializers.SerializerMethodField()
    unit = serializers.SerializerMethodField()
    shared_with = serializers.IntegerField(source="shared_with_id", allow_null=True, read_only=True)
    queued_on = serializers.SerializerMethodField()

    class Meta:
        model = ActivationCode
        fields = ("code", "state", "validity_days", "created_at", "activated_at", "expires_at", "days_left", "unit",
                  "shared_with", "queued_on")
        read_only_fields = fields

    def _now(self):
        return self.context.get("now") or clock.now()

    @extend_schema_field(serializers.ChoiceField(choices=["new", "queued", "active", "expired"]))
    def get_state(self, obj) -> str:
        return obj.state(at=self._now())

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_unit(self, obj) -> int | None:
        return obj.unit_id_at(self._now())

    @extend_schema_field(serializers.IntegerField(allow_null=True, help_text=gettext_lazy("The unit this code is queued on.")))
    def get_queued_on(self, obj) -> int | None:
        return obj.queued_on_id_at(self._now())

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_days_left(self, obj) -> int | None:
        return obj.days_left(at=self._now())


class GenerateSerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_BATCH)
    validity_days = serializers.IntegerField(min_value=1, max_value=MAX_VALIDITY_DAYS)
    shared_with = IdInputField(required=False, allow_null=True)
    service = IdInputField(required=False, help_text=gettext_lazy("Platform operator: the service (top account id)."))


class UnitSerializer(serializers.Serializer):
    unit = IdInputField()


class AccountRefSerializer(serializers.Serializer):
    account = IdInputField()


class OptionalAccountRefSerializer(serializers.Serializer):
    account = IdInputField(required=False, allow_null=True)


class ApplySerializer(serializers.Serializer):
    code = serializers.CharField(max_length=80)
    unit = IdInputField()
    service = IdInputField(required=False, help_text=gettext_lazy("Platform operator: the unit's service."))
    queue = serializers.BooleanField(required=False, default=False,
                                     help_text=gettext_lazy("Queue the code on a unit that holds a live code (without it: "
                                               "400 unit_has_code)."))


# The project's error shape (apps/core/errors.py), for the schema's error answers.
class CodeEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name")
    unit = serializers.SerializerMethodField()
    account = serializers.SerializerMethodField()

    class Meta:
        model = CodeEvent
        fields = ("id", "at", "action", "actor", "code", "unit", "account", "before", "after")
        read_only_fields = fields

    @extend_schema_field({"type": "object", "nullable": True,
                          "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}})
    def get_unit(self, obj):
        return {"id": obj.unit_id, "name": obj.unit_name} if obj.unit_id else None

    @extend_schema_field({"type": "object", "nullable": True,
                          "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}})
    def get_account(self, obj):
        return {"id": obj.account_id, "name": obj.account_name} if obj.account_id else None


class RecipientsField(serializers.ListField):
    """Operator ids: written as a list, read back as the notice's recipients (sorted)."""

    child = IdInputField()

    def get_attribute(self, instance):
        return sorted(r.pk for r in instance.recipients.all())


class ExpiryNoticeSerializer(serializers.ModelSerializer):
    recipients = RecipientsField(allow_empty=False, max_length=1000)
    service = IdInputField(required=False, write_only=True,
                                       help_text=gettext_lazy("Platform operator: the service the notice belongs to."))

    class Meta:
        model = ExpiryNotice
        fields = ("id", "name", "text", "days_before", "repeat", "send_email", "recipients", "created_at", "service")
        read_only_fields = ("id", "created_at")
