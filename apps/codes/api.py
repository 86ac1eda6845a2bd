"""REST API for activation codes, the code log and expiry notices (API.md "Activation codes").

Codes are addressed by their text (case, spaces and dashes ignored). Out-of-scope codes in the path
answer 404; ids in a body that are out of scope or absent answer 400 ``does_not_exist``.
"""

import django_filters
from django.utils.translation import gettext_lazy
from django_filters import rest_framework as drf_filters
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.accounts import rights
from apps.accounts.models import Account, Operator
from apps.core import clock
from apps.core.api import IdFilter, IsoDateTimeFilter, ServiceFilterMixin
from apps.core.errors import DoesNotExist
from apps.core.schema import error_responses
from apps.core.scoping import in_scope, is_platform

from . import operations, queries
from .models import CodeAction, CodeEvent, ExpiryNotice
from .serializers import (AccountRefSerializer, ApplySerializer, CodeEventSerializer, CodeSerializer,
                          ExpiryNoticeSerializer, GenerateSerializer, OptionalAccountRefSerializer, UnitSerializer)

WINDOW_ROLES = rights.DEALING_ROLES


def _account_or_none(pk) -> Account | None:
    return Account.objects.filter(pk=pk).first() if pk is not None else None



QUEUE_ERRORS = error_responses(
    s400=gettext_lazy("`unit_has_no_code` (the unit holds no live code), `code_not_new` (only a new code is queued), "
         "`unit_has_queued_code` (the unit holds one already), `code_expired`, `does_not_exist` (`unit`)"),
    s403=gettext_lazy("`billing_by_codes_off` (the service bills monthly), `account_blocked`, `outside_branch`"),
    s404=gettext_lazy("The code is not in your scope"), s409=gettext_lazy("`code_busy`: another request holds the code or the unit's code"))


class CodeFilter(ServiceFilterMixin):
    """The codes window's filters. Expired codes are hidden unless ``state=expired`` or
    ``include_expired=1`` (SPEC §9.1), as in the window."""

    state = django_filters.ChoiceFilter(
        choices=[("new", "new"), ("queued", "queued"), ("active", "active"), ("expired", "expired")], method="filter_state")
    include_expired = drf_filters.BooleanFilter(method="filter_nothing",
                                                   help_text=gettext_lazy("Also list expired codes (hidden by default)."))
    assigned = drf_filters.BooleanFilter(field_name="unit", lookup_expr="isnull", exclude=True)
    shared_with = IdFilter(field_name="shared_with_id")
    unit = IdFilter(field_name="unit_id")
    validity_days = IdFilter(field_name="validity_days", help_text=gettext_lazy("A whole number of days."))
    expires_before = IsoDateTimeFilter(field_name="expires_at", lookup_expr="lt")
    expires_after = IsoDateTimeFilter(field_name="expires_at", lookup_expr="gte")
    search = django_filters.CharFilter(method="filter_search", help_text=gettext_lazy("A code, a unit name or an IMEI."))

    def filter_state(self, queryset, name, value):
        return queries.filter_state(queryset, value, clock.now())

    def filter_nothing(self, queryset, name, value):
        return queryset  # read in ``filter_queryset``

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        if not data.get("state") and not data.get("include_expired"):
            queryset = queryset.exclude(queries.expired_q(clock.now()))
        return super().filter_queryset(queryset)

    def filter_search(self, queryset, name, value):
        code = queries.normalize_code(value)
        if code is not None:
            return queryset.filter(code=code)
        return queryset.filter(unit_id__in=queries.unit_ids_matching(self.request.user, value))


class CodeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The codes window over the API. ``apply`` is open to every role and throttled (30 a minute)."""

    serializer_class = CodeSerializer
    filterset_class = CodeFilter
    allowed_roles = WINDOW_ROLES
    lookup_field = "code"
    lookup_value_regex = "[^/]+"
    throttle_scope = None  # set to "apply_code" on the apply route only

    def get_queryset(self):
        return queries.codes_visible_to(self.request.user).order_by("-created_at", "id")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": clock.now()}

    def get_object(self):
        code = queries.normalize_code(self.kwargs["code"])
        obj = self.get_queryset().filter(code=code).first() if code else None
        if obj is None:
            raise Http404
        return obj

    def _answer(self, code, status_code=status.HTTP_200_OK):
        code.refresh_from_db()
        return Response(CodeSerializer(code, context=self.get_serializer_context()).data, status=status_code)

    @extend_schema(request=GenerateSerializer, responses={201: CodeSerializer(many=True)})
    @action(detail=False, methods=["post"], allowed_roles=rights.TOP_ONLY, pagination_class=None)
    def generate(self, request):
        body = GenerateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if is_platform(request.user):
            service = Account.objects.filter(pk=data.get("service"), parent__isnull=True).first()
            if service is None:
                raise DoesNotExist.field("service")
        else:
            service = request.user.account.service
        shared_with = None
        if data.get("shared_with") is not None:
            shared_with = _account_or_none(data["shared_with"])
            if shared_with is None:
                raise DoesNotExist.field("account")
        codes = operations.generate_codes(actor=request.user, service=service, quantity=data["quantity"],
                                          validity_days=data["validity_days"], shared_with=shared_with)
        return Response(CodeSerializer(codes, many=True, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=ApplySerializer, responses={200: CodeSerializer, **error_responses(
        s400=gettext_lazy("`unit_has_code` (the unit holds a live code: send `queue: true` to queue this one), `code_in_use`, "
             "`code_expired`, `code_queued`, `code_not_new` (with `queue`), `does_not_exist`"),
        s403=gettext_lazy("`billing_by_codes_off`, `account_blocked`, `outside_branch`"), s409=gettext_lazy("`code_busy`"))})
    @action(detail=False, methods=["post"], throttle_scope="apply_code",
            allowed_roles=rights.CODE_APPLYING_ROLES)
    def apply(self, request):
        body = ApplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        service = _account_or_none(data.get("service")) if is_platform(request.user) else None
        code = operations.apply_code(actor=request.user, code_text=data["code"], unit=data["unit"], service=service,
                                     queue=data["queue"])
        return self._answer(code)

    def _code_and_body(self, request, serializer_class):
        """The code in the path first (out of scope or absent: 404, SPEC §8.7), then the body (400)."""
        code = self.get_object()
        body = serializer_class(data=request.data)
        body.is_valid(raise_exception=True)
        return code, body.validated_data

    @extend_schema(request=UnitSerializer, responses={200: CodeSerializer, **QUEUE_ERRORS},
                   summary=gettext_lazy("Queue a new code on a unit that holds a live code: it starts when that code ends"))
    @action(detail=True, methods=["post"])
    def queue(self, request, code=None):
        code, data = self._code_and_body(request, UnitSerializer)
        return self._answer(operations.queue_code(actor=request.user, code=code, unit=data["unit"]))

    @extend_schema(request=None, responses={200: CodeSerializer, **error_responses(
        s400=gettext_lazy("`code_not_queued`"), s403=gettext_lazy("`billing_by_codes_off`, `account_blocked`"),
        s404=gettext_lazy("The code is not in your scope"),
        s409=gettext_lazy("`code_busy`"))}, summary=gettext_lazy("Take a queued code off its unit's queue: it is new again"))
    @action(detail=True, methods=["post"])
    def unqueue(self, request, code=None):
        return self._answer(operations.unqueue_code(actor=request.user, code=self.get_object()))

    @extend_schema(request=UnitSerializer, responses=CodeSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, code=None):
        code, data = self._code_and_body(request, UnitSerializer)
        return self._answer(operations.assign_code(actor=request.user, code=code, unit=data["unit"]))

    @extend_schema(request=None, responses=CodeSerializer)
    @action(detail=True, methods=["post"])
    def unassign(self, request, code=None):
        return self._answer(operations.unassign_code(actor=request.user, code=self.get_object()))

    @extend_schema(request=UnitSerializer, responses=CodeSerializer)
    @action(detail=True, methods=["post"])
    def reassign(self, request, code=None):
        code, data = self._code_and_body(request, UnitSerializer)
        return self._answer(operations.reassign_code(actor=request.user, code=code, unit=data["unit"]))

    @extend_schema(request=AccountRefSerializer, responses=CodeSerializer)
    @action(detail=True, methods=["post"])
    def share(self, request, code=None):
        code, data = self._code_and_body(request, AccountRefSerializer)
        target = _account_or_none(data["account"])
        return self._answer(operations.share_code(actor=request.user, code=code, account=target))

    @extend_schema(request=OptionalAccountRefSerializer, responses=CodeSerializer)
    @action(detail=True, methods=["post"])
    def unshare(self, request, code=None):
        code, data = self._code_and_body(request, OptionalAccountRefSerializer)
        pk = data.get("account")
        target = _account_or_none(pk)
        if pk is not None and target is None:
            raise DoesNotExist.field("account")
        return self._answer(operations.unshare_code(actor=request.user, code=code, account=target))


class CodeEventFilter(ServiceFilterMixin):
    """Declares the parameters (validation, schema); ``queries.filter_code_events`` applies them, as on
    the code log page."""

    since = IsoDateTimeFilter(method="filter_nothing")
    until = IsoDateTimeFilter(method="filter_nothing")
    action = django_filters.ChoiceFilter(choices=CodeAction.choices, method="filter_nothing")
    account = IdFilter(method="filter_nothing")
    unit = IdFilter(method="filter_nothing")
    code = django_filters.CharFilter(method="filter_nothing")

    class Meta:
        model = CodeEvent
        fields = ("since", "until", "action", "account", "unit", "code")

    def filter_nothing(self, queryset, name, value):
        return queryset  # applied together in ``filter_queryset``

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        return queries.filter_code_events(
            super().filter_queryset(queryset), since=data.get("since"), until=data.get("until"),
            action=data.get("action"), account_id=data.get("account"), unit=data.get("unit"), code=data.get("code"))


class CodeEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The append-only code log: reads only (every write answers 405)."""

    serializer_class = CodeEventSerializer
    filterset_class = CodeEventFilter
    allowed_roles = WINDOW_ROLES

    def get_queryset(self):
        return queries.code_events_visible_to(self.request.user).order_by("-at", "-id")


class ExpiryNoticeFilter(ServiceFilterMixin):
    class Meta:
        model = ExpiryNotice
        fields = ("service",)


class ExpiryNoticeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                          viewsets.GenericViewSet):
    serializer_class = ExpiryNoticeSerializer
    filterset_class = ExpiryNoticeFilter
    allowed_roles = WINDOW_ROLES

    def get_queryset(self):
        return queries.notices_visible_to(self.request.user).prefetch_related("recipients").order_by("name", "id")

    def perform_create(self, serializer):
        data = serializer.validated_data
        ids = set(data["recipients"])
        recipients = list(in_scope(Operator.objects.filter(pk__in=ids, account__isnull=False), self.request.user,
                                   "account").select_related("account"))
        if len(recipients) != len(ids):
            raise DoesNotExist.field("recipients")
        service = _account_or_none(data.get("service")) if is_platform(self.request.user) else None
        serializer.instance = operations.create_notice(
            actor=self.request.user, name=data["name"], text=data["text"], days_before=data["days_before"],
            repeat=data.get("repeat", False), send_email=data.get("send_email", True), recipients=recipients,
            service=service)
