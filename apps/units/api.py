"""REST API for units, monitoring users and their access grants (API.md "Units and monitoring users").

Views are thin: input serializers check shapes and types, ids in bodies are resolved through the
scoped queries (out of scope or absent → 400 ``does_not_exist``, same text either way), and the
write is one call to ``apps.units.operations``.
"""

import django_filters
from django.utils.translation import gettext, gettext_lazy
from django_filters import rest_framework as drf_filters
from django.db.models import Q
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from apps.accounts import rights
from apps.accounts.queries import accounts_visible_to
from apps.core.api import IdFilter, IdInputField, ServiceFilterMixin
from apps.core.errors import DoesNotExist

from . import operations, queries
from .models import AccessGrant, DeactivationReason, EcoCriterion, MonitoringUser, SensorType, Unit

WRITER_ROLES = rights.DEALING_ROLES


def resolve(qs, pk, field: str):
    """The object ``pk`` of ``qs`` (already scoped), or 400 ``does_not_exist`` naming ``field``."""
    if pk is None:
        return None
    obj = qs.filter(pk=pk).first()
    if obj is None:
        raise DoesNotExist.field(field)
    return obj


# --- serializers -------------------------------------------------------------------------------------

class SensorSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    type = serializers.ChoiceField(choices=SensorType.choices)


class NamedItemSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class UnitSerializer(serializers.ModelSerializer):
    """A unit as the API answers it; ``code`` and ``code_expires_at`` come from the codes app, read
    once per page by the view and handed over in the context."""

    sensors = SensorSerializer(many=True, read_only=True)
    commands = NamedItemSerializer(many=True, read_only=True)
    service_intervals = NamedItemSerializer(many=True, read_only=True)
    eco_criteria = serializers.ListField(child=serializers.ChoiceField(choices=EcoCriterion.choices), read_only=True)
    code = serializers.SerializerMethodField()
    code_expires_at = serializers.SerializerMethodField()
    queued_code = serializers.SerializerMethodField()

    class Meta:
        model = Unit
        fields = ["id", "name", "account", "unique_id", "device_type", "modem", "active", "deactivated_at",
                  "deactivation_reason", "code", "code_expires_at", "queued_code", "sensors", "commands",
                  "service_intervals", "eco_driving", "road_limits_speeding", "eco_criteria", "created_at"]
        read_only_fields = fields

    def _code(self, unit):
        return self.context.get("codes", {}).get(unit.pk)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_code(self, unit):
        code = self._code(unit)
        return code.code if code is not None else None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_code_expires_at(self, unit):
        code = self._code(unit)
        if code is None or code.expires_at is None:
            return None
        return serializers.DateTimeField().to_representation(code.expires_at)

    @extend_schema_field(serializers.CharField(allow_null=True, help_text=gettext_lazy("The code queued to follow the live one.")))
    def get_queued_code(self, unit):
        code = self.context.get("queued_codes", {}).get(unit.pk)
        return code.code if code is not None else None


class UnitInputSerializer(serializers.Serializer):
    """The body of ``POST /units/`` and (partially) of ``PATCH /units/{id}/``."""

    name = serializers.CharField(max_length=200)
    account = IdInputField()
    unique_id = serializers.CharField(max_length=64)
    device_type = IdInputField(allow_null=True, required=False)
    modem = IdInputField(allow_null=True, required=False)
    sensors = SensorSerializer(many=True, required=False)
    commands = NamedItemSerializer(many=True, required=False)
    service_intervals = NamedItemSerializer(many=True, required=False)
    eco_driving = serializers.BooleanField(required=False)
    road_limits_speeding = serializers.BooleanField(required=False)
    eco_criteria = serializers.ListField(child=serializers.ChoiceField(choices=EcoCriterion.choices), required=False)


class UnitPatchSerializer(UnitInputSerializer):
    active = serializers.BooleanField(required=False)


class MonitoringUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = MonitoringUser
        fields = ["id", "name", "account", "created_at"]
        read_only_fields = fields


class MonitoringUserInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    account = IdInputField()


class GrantSerializer(serializers.ModelSerializer):
    class Meta:
        model = AccessGrant
        fields = ["id", "unit", "account"]
        read_only_fields = fields


class GrantInputSerializer(serializers.Serializer):
    unit = IdInputField(required=False, allow_null=True)
    account = IdInputField(required=False, allow_null=True)

    def validate(self, attrs):
        if (attrs.get("unit") is None) == (attrs.get("account") is None):
            raise serializers.ValidationError({"unit": [gettext("Give either a unit or an account, not both.")]})
        return attrs


# --- filters -----------------------------------------------------------------------------------------

class UnitFilter(ServiceFilterMixin):
    account = IdFilter(field_name="account_id")
    active = drf_filters.BooleanFilter()
    device_type = IdFilter(field_name="device_type_id")
    deactivation_reason = django_filters.ChoiceFilter(choices=DeactivationReason.choices)
    search = django_filters.CharFilter(method="filter_search", label=gettext_lazy("Name contains or unique id starts with"))

    class Meta:
        model = Unit
        fields = ["account", "active", "device_type", "deactivation_reason"]

    def filter_search(self, qs, name, value):
        return qs.filter(Q(name__icontains=value) | Q(unique_id__istartswith=value)) if value else qs


class MonitoringUserFilter(ServiceFilterMixin):
    account = IdFilter(field_name="account_id")
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    class Meta:
        model = MonitoringUser
        fields = ["account"]


# --- views -------------------------------------------------------------------------------------------

class UnitViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Units of the caller's scope. DELETE archives (the unit is kept, hidden, and its counters released)."""

    allowed_roles = WRITER_ROLES
    serializer_class = UnitSerializer
    filterset_class = UnitFilter

    def get_queryset(self):
        return queries.with_features(queries.units_visible_to(self.request.user)).order_by("name", "id")

    def get_serializer(self, *args, **kwargs):
        """Read the page's codes in one query (the codes app's reader) and hand them to the serializer."""
        instance = args[0] if args else kwargs.get("instance")
        if instance is not None:
            units = instance if isinstance(instance, (list, tuple)) else [instance]
            context = kwargs.setdefault("context", self.get_serializer_context())
            context["codes"] = operations.current_codes(u.pk for u in units)
            context["queued_codes"] = operations.queued_codes(u.pk for u in units)
        return super().get_serializer(*args, **kwargs)

    def _refetch(self, unit):
        return queries.with_features(Unit.objects.select_related("account")).get(pk=unit.pk)

    def _resolve_hardware(self, data: dict) -> dict:
        out = {}
        if "device_type" in data:
            out["device_type"] = resolve(queries.device_types(), data["device_type"], "device_type")
        if "modem" in data:
            out["modem"] = resolve(queries.modems(), data["modem"], "modem")
        return out

    @extend_schema(request=UnitInputSerializer, responses={201: UnitSerializer})
    def create(self, request):
        body = UnitInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        data["account"] = resolve(accounts_visible_to(request.user), data["account"], "account")
        data.update(self._resolve_hardware(data))
        unit = operations.create_unit(actor=request.user, **data)
        return Response(self.get_serializer(self._refetch(unit)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=UnitPatchSerializer, responses=UnitSerializer)
    def partial_update(self, request, pk=None):
        unit = self.get_object()
        body = UnitPatchSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        if "account" in changes:
            changes["account"] = resolve(accounts_visible_to(request.user), changes["account"], "account")
        changes.update(self._resolve_hardware(changes))
        unit = operations.update_unit(actor=request.user, unit=unit, changes=changes)
        return Response(self.get_serializer(self._refetch(unit)).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        operations.archive_unit(actor=request.user, unit=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class MonitoringUserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    allowed_roles = WRITER_ROLES
    serializer_class = MonitoringUserSerializer
    filterset_class = MonitoringUserFilter

    def get_queryset(self):
        return queries.monitoring_users_visible_to(self.request.user).order_by("name", "id")

    @extend_schema(request=MonitoringUserInputSerializer, responses={201: MonitoringUserSerializer})
    def create(self, request):
        body = MonitoringUserInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        account = resolve(accounts_visible_to(request.user), body.validated_data["account"], "account")
        user = operations.create_monitoring_user(actor=request.user, account=account,
                                                 name=body.validated_data["name"])
        return Response(MonitoringUserSerializer(user).data, status=status.HTTP_201_CREATED)


class GrantViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The access grants of one monitoring user (``/monitoring-users/{user_id}/grants/``)."""

    allowed_roles = WRITER_ROLES
    serializer_class = GrantSerializer

    def monitoring_user(self) -> MonitoringUser:
        return queries.get_visible_monitoring_user(self.request.user, self.kwargs["user_id"])

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user id
            return AccessGrant.objects.none()
        return AccessGrant.objects.filter(user=self.monitoring_user()).order_by("id")

    @extend_schema(request=GrantInputSerializer, responses={201: GrantSerializer})
    def create(self, request, user_id=None):
        user = self.monitoring_user()
        body = GrantInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        unit = resolve(queries.units_visible_to(request.user), body.validated_data.get("unit"), "unit")
        account = resolve(accounts_visible_to(request.user), body.validated_data.get("account"), "account")
        grant = operations.grant_access(actor=request.user, user=user, unit=unit, account=account)
        return Response(GrantSerializer(grant).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request, user_id=None, pk=None):
        grant = self.get_object()
        operations.revoke_access(actor=request.user, grant=grant)
        return Response(status=status.HTTP_204_NO_CONTENT)
