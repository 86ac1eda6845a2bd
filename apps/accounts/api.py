"""REST API: accounts, payments, the ledger, operators and their tokens (API.md)."""

import django_filters
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api import IdFilter, IsoDateTimeFilter, ServiceFilterMixin
from apps.core.errors import Forbidden, InvalidInput

from . import extensions, operations, rights
from .models import SERVICE_SETTING_FIELDS, Account, AuditEvent, LedgerEntry, Operator
from .queries import (accounts_visible_to, audit_events_visible_to, audit_in_subtree, ledger_visible_to,
                      operators_visible_to)
from .serializers import (AccountSerializer, AuditEventSerializer, LedgerEntrySerializer, OperatorSerializer, OperatorUpdateSerializer,
                          PaymentInSerializer, TokenSerializer)

MANAGING_ROLES = rights.DEALING_ROLES


class AccountFilter(ServiceFilterMixin):
    parent = IdFilter(field_name="parent_id")
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    class Meta:
        model = Account
        fields = ("parent", "service", "dealer_rights", "blocked", "name")


class AccountViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                     mixins.UpdateModelMixin, viewsets.GenericViewSet):
    serializer_class = AccountSerializer
    filterset_class = AccountFilter
    allowed_roles = MANAGING_ROLES
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return accounts_visible_to(self.request.user).select_related("plan").prefetch_related("sub_plans").order_by(
            "path")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        for name in ("blocked", "blocked_reason", "unblock_until", "confirm"):
            data.pop(name, None)
        parent = data.pop("parent", None)
        settings = {k: data.pop(k) for k in (*SERVICE_SETTING_FIELDS, "currency_format") if k in data}
        overrides = {k: data.pop(k) for k in operations.OVERRIDE_FIELDS if k in data}
        serializer.instance = operations.create_account(
            actor=self.request.user, name=data.get("name", ""), parent=parent, plan=data.get("plan"),
            dealer_rights=data.get("dealer_rights", False), sub_plans=data.get("sub_plans", []),
            overrides={k: v for k, v in overrides.items() if v is not None}, service_settings=settings,
            payment=data.get("payment"),
        )

    @transaction.atomic
    def perform_update(self, serializer):
        account = serializer.instance
        data = dict(serializer.validated_data)
        actor = self.request.user
        data.pop("payment", None)
        confirm = data.pop("confirm", False)
        if "billing_method" in data and data["billing_method"] != account.billing_method:
            extensions.codes["switch_billing_method"](actor=actor, service=account, method=data.pop("billing_method"),
                                                      confirm=confirm)
            account.refresh_from_db()
        data.pop("billing_method", None)
        blocked = data.pop("blocked", None)
        reason = data.pop("blocked_reason", None)
        until = data.pop("unblock_until", None)
        if data:
            account = operations.update_account(actor=actor, account=account, changes=data)
        if blocked is True and not account.blocked:
            account = operations.block_account(actor=actor, account=account, reason=reason or "")
        elif blocked is False and account.blocked:
            account = operations.unblock_account(actor=actor, account=account, reason=reason or "", until=until)
        elif blocked is not None and reason is not None and blocked == account.blocked and not reason:
            raise InvalidInput.field("blocked_reason", _("A reason is required."))
        account.refresh_from_db()
        serializer.instance = account

    @extend_schema(request=PaymentInSerializer, responses={201: LedgerEntrySerializer})
    @action(detail=True, methods=["post"])
    def payments(self, request, pk=None):
        account = self.get_object()
        body = PaymentInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        entry = extensions.kernel["record_payment"](actor=request.user, account=account, **body.validated_data)
        return Response(LedgerEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=LedgerEntrySerializer(many=True))
    @action(detail=True, methods=["get"])
    def ledger(self, request, pk=None):
        account = self.get_object()
        qs = LedgerFilter(request.GET, queryset=ledger_visible_to(request.user).filter(account=account)).qs
        page = self.paginate_queryset(qs.order_by("-at", "-id"))
        return self.get_paginated_response(LedgerEntrySerializer(page, many=True).data)


class LedgerFilter(django_filters.FilterSet):
    since = IsoDateTimeFilter(field_name="at", lookup_expr="gte")
    until = IsoDateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = LedgerEntry
        fields = ("kind", "service", "since", "until")

    @property
    def qs(self):
        if not self.is_valid():
            from rest_framework.exceptions import ValidationError

            raise ValidationError(self.errors)
        return super().qs


class OperatorFilter(ServiceFilterMixin):
    service_field = "account__service_id"
    account = IdFilter(field_name="account_id")

    class Meta:
        model = Operator
        fields = ("account", "role", "is_active")


class OperatorViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                      mixins.UpdateModelMixin, viewsets.GenericViewSet):
    filterset_class = OperatorFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_serializer_class(self):
        # The browsable API draws the list page's POST form with the list action and a POST request.
        creating = self.action == "create" or (self.action == "list" and self.request.method == "POST")
        return OperatorSerializer if creating else OperatorUpdateSerializer

    def get_queryset(self):
        return operators_visible_to(self.request.user).order_by("username")

    def perform_create(self, serializer):
        d = serializer.validated_data
        serializer.instance = operations.create_operator(
            actor=self.request.user, username=d["username"], password=d["password"], email=d.get("email", ""),
            account=d["account"], role=d["role"], language=d.get("language", ""))

    def perform_update(self, serializer):
        d = serializer.validated_data
        serializer.instance = operations.update_operator(actor=self.request.user, operator=serializer.instance,
                                                         email=d.get("email"), is_active=d.get("is_active"),
                                                         language=d.get("language"))

    @extend_schema(request=None, responses={201: TokenSerializer})
    @action(detail=True, methods=["post"])
    def token(self, request, pk=None):
        operator = self.get_object()
        key = operations.rotate_token(actor=request.user, operator=operator)
        return Response({"token": key}, status=status.HTTP_201_CREATED)

    def create(self, request, *args, **kwargs):
        if not rights.may_create_operators(request.user):
            raise Forbidden(_("Your role may not create operators."))
        return super().create(request, *args, **kwargs)


class AuditEventFilter(ServiceFilterMixin):
    """SPEC §9.8: ``since``/``until`` ISO datetimes (``until`` exclusive), ``actor`` an operator id,
    ``account`` an account id with its subtree, ``subject_type`` and ``subject_id``."""

    since = IsoDateTimeFilter(field_name="at", lookup_expr="gte")
    until = IsoDateTimeFilter(field_name="at", lookup_expr="lt")
    action = django_filters.CharFilter(field_name="action", max_length=40)
    actor = IdFilter(field_name="actor_id")
    account = IdFilter(method="filter_account", help_text=gettext_lazy("Account id: its events and its subtree's."))
    subject_type = django_filters.CharFilter(field_name="subject_type", max_length=30)
    subject_id = IdFilter(field_name="subject_id")

    class Meta:
        model = AuditEvent
        fields = ("since", "until", "action", "actor", "account", "subject_type", "subject_id")

    def filter_account(self, queryset, name, value):
        if value is None:
            return queryset
        account = accounts_visible_to(self.request.user).filter(pk=value).first()
        return audit_in_subtree(queryset, account) if account is not None else queryset.none()


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The append-only audit trail: reads only (every write answers 405), in the caller's scope."""

    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    allowed_roles = rights.DEALING_ROLES

    def get_queryset(self):
        return audit_events_visible_to(self.request.user).order_by("-at", "-id")
