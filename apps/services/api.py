"""REST API of the kernel (API.md "Accounts and the kernel"): resolved services, overrides,
check, consume, objects. Views are thin: validate the body, find the account in scope, call one
operation. Kernel denials are ``KernelDenied`` (403 ``{allowed: false, reason, detail, code}``).
"""

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import rights
from apps.accounts.models import Account
from apps.accounts.queries import get_visible_account
from apps.core import clock
from apps.plans.models import ResetInterval, ServiceType

from . import operations
from .queries import service_usage
from .replay import replay_charges, replay_range
from .resolution import resolve_services

KERNEL_ROLES = rights.DEALING_ROLES


class UsageSerializer(serializers.Serializer):
    own = serializers.IntegerField()
    subtree = serializers.IntegerField()


class ResolvedServiceSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    interval = serializers.CharField()
    cost_table = serializers.CharField(allow_blank=True)
    source = serializers.CharField(help_text=gettext_lazy("override, plan or unknown"))
    plan = serializers.CharField(allow_null=True, help_text=gettext_lazy("The plan whose row applies."))
    chain = serializers.ListField(child=serializers.CharField(), help_text=gettext_lazy("Plans walked, from the account's up."))
    explanation = serializers.CharField()
    allowed = serializers.BooleanField(help_text=gettext_lazy("Position 1 is allowed (balance and blocking aside)."))
    reason = serializers.CharField(allow_null=True)
    usage = UsageSerializer()


class OverrideSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    type = serializers.ChoiceField(choices=ServiceType.choices, required=False)
    interval = serializers.ChoiceField(choices=ResetInterval.choices, default=ResetInterval.NONE)
    cost_table = serializers.CharField(allow_blank=True, default="", max_length=2000, trim_whitespace=True)


class CheckInSerializer(serializers.Serializer):
    service = serializers.CharField(max_length=100)
    quantity = serializers.IntegerField(min_value=1, max_value=operations.MAX_QUANTITY, default=1)


class CheckOutSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)
    detail = serializers.CharField()
    cost = serializers.DecimalField(max_digits=16, decimal_places=4)


class ConsumeInSerializer(CheckInSerializer):
    idempotency_key = serializers.CharField(max_length=operations.MAX_KEY_LENGTH)


class ConsumeOutSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    cost = serializers.DecimalField(max_digits=16, decimal_places=4)
    usage = serializers.IntegerField()
    balance = serializers.DecimalField(max_digits=16, decimal_places=4)


class ObjectsInSerializer(serializers.Serializer):
    service = serializers.CharField(max_length=100)
    delta = serializers.IntegerField(min_value=-operations.MAX_DELTA, max_value=operations.MAX_DELTA)


DENIAL = OpenApiResponse(
    inline_serializer("KernelDenial", {"allowed": serializers.BooleanField(), "reason": serializers.CharField(),
                                        "detail": serializers.CharField(), "code": serializers.CharField()}),
    description=format_lazy(gettext_lazy("Denied: reason is one of {}"), ", ".join(operations.DENIAL_REASONS)),
)


def _resolution_body(resolution, usage) -> dict:
    return {
        "name": resolution.name, "type": resolution.type, "interval": resolution.interval,
        "cost_table": resolution.cost_table, "source": resolution.source,
        "plan": resolution.plan.name if resolution.plan else None, "chain": resolution.chain,
        "explanation": resolution.explanation, "allowed": resolution.allowed, "reason": resolution.reason,
        "usage": usage,
    }


class KernelView(APIView):
    allowed_roles = KERNEL_ROLES

    def account(self, pk):
        return get_visible_account(self.request.user, pk)


class AccountServicesView(KernelView):
    @extend_schema(responses=ResolvedServiceSerializer(many=True), summary=gettext_lazy("Resolved services of an account"))
    def get(self, request, pk):
        account = self.account(pk)
        resolutions = resolve_services(account)
        usage = service_usage(account, resolutions, clock.now())
        rows = [_resolution_body(r, usage[r.name]) for r in resolutions]
        return Response(ResolvedServiceSerializer(rows, many=True).data)  # a computed answer: a plain array


class AccountServiceOverrideView(KernelView):
    @extend_schema(request=OverrideSerializer, responses=OverrideSerializer, summary=gettext_lazy("Set the account's own row"))
    def put(self, request, pk, name):
        account = self.account(pk)
        data = _valid(OverrideSerializer, request)
        override = operations.set_service_override(actor=request.user, account=account, name=name, **data)
        return Response({"name": override.name, "type": override.type, "interval": override.interval,
                         "cost_table": override.cost_table})

    @extend_schema(responses={204: None}, summary=gettext_lazy("Remove the account's own row"))
    def delete(self, request, pk, name):
        operations.delete_service_override(actor=request.user, account=self.account(pk), name=name)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CheckView(KernelView):
    allow_when_blocked = True  # a question, not a change: answered (with the denial) while blocked

    @extend_schema(request=CheckInSerializer, responses=CheckOutSerializer, summary=gettext_lazy("May the account use N of S?"))
    def post(self, request, pk):
        account = self.account(pk)
        data = _valid(CheckInSerializer, request)
        return Response(operations.check_service(account=account, **data).as_dict())


class ConsumeView(KernelView):
    # The kernel refuses a blocked operator itself: the operator's account and its ancestors are in
    # the chain of every account it sees (403 ``account_blocked`` / ``ancestor_blocked``, the denial
    # stored under the key like any other), so ``IsOperator``'s own read is not repeated here.
    allow_when_blocked = True

    @extend_schema(request=ConsumeInSerializer, responses={200: ConsumeOutSerializer, 403: DENIAL},
                   summary=gettext_lazy("Use an on-demand service (idempotent)"))
    def post(self, request, pk):
        data = _valid(ConsumeInSerializer, request)
        # No ``self.account(pk)``: the operation reads the account with its chain and answers 404
        # when the user does not see it, one statement fewer on the busiest endpoint.
        return Response(operations.consume_service(account=pk, actor=request.user, **data))


class ObjectsView(KernelView):
    @extend_schema(request=ObjectsInSerializer,
                   responses={200: inline_serializer("ObjectsOut", {"service": serializers.CharField(),
                                                                    "usage": serializers.IntegerField()}),
                              403: DENIAL},
                   summary=gettext_lazy("Create (+N) or delete (−N) objects of a periodic service"))
    def post(self, request, pk):
        account = self.account(pk)
        data = _valid(ObjectsInSerializer, request)
        usage = operations.move_objects(account=account, actor=request.user, **data)
        return Response({"service": data["service"], "usage": usage})


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ReplayDifferenceSerializer(serializers.Serializer):
    service = serializers.CharField()
    window_start = serializers.DateTimeField(help_text=gettext_lazy("The window's start (UTC); for a call of a service "
                                                       "without a reset window, the time of the charge."))
    ledger = serializers.DecimalField(max_digits=16, decimal_places=4, allow_null=True,
                                      help_text=gettext_lazy("The amount charged (positive); null: no row."))
    recomputed = serializers.DecimalField(max_digits=16, decimal_places=4, allow_null=True,
                                          help_text=gettext_lazy("The amount the plans in force then give; null: no window "
                                                    "the plans explain."))


class ReplaySerializer(serializers.Serializer):
    matches = serializers.BooleanField()
    differences = ReplayDifferenceSerializer(many=True)


_REPLAY_ERROR = inline_serializer("ReplayError", {"detail": serializers.CharField(), "code": serializers.CharField(),
                                                  "fields": serializers.DictField(required=False)})


class ReplayView(KernelView):
    """Recompute the account's own charges whose windows ended between two local dates (both
    included) and compare them with its ledger (SPEC §9.7, §9.8). Top users and the platform
    operator; read-only."""

    allowed_roles = rights.TOP_ONLY

    @extend_schema(
        parameters=[OpenApiParameter("since", OpenApiTypes.DATE, required=True,
                                     description=gettext_lazy("First local day (the service's time zone).")),
                    OpenApiParameter("until", OpenApiTypes.DATE, required=True, description=gettext_lazy("Last local day, included."))],
        responses={200: ReplaySerializer,
                   400: OpenApiResponse(_REPLAY_ERROR, description=gettext_lazy("since/until missing, not a date, or until "
                                                                   "before since (invalid).")),
                   401: OpenApiResponse(_REPLAY_ERROR, description=gettext_lazy("No or bad credentials.")),
                   403: OpenApiResponse(_REPLAY_ERROR, description=gettext_lazy("Not a top user or the platform operator.")),
                   404: OpenApiResponse(_REPLAY_ERROR, description=gettext_lazy("The account is not in the caller's scope."))},
        summary=gettext_lazy("Replay the account's charges against its ledger"))
    def get(self, request, pk):
        account = self.account(pk)
        since, until = replay_range(request.query_params.get("since"), request.query_params.get("until"))
        result = replay_charges(Account.objects.get(pk=account.service_id), since=since, until=until, account=account)
        return Response(ReplaySerializer({
            "matches": result.matches,
            "differences": [{"service": d.service, "window_start": d.window_start, "ledger": d.ledger,
                             "recomputed": d.recomputed} for d in result.differences]}).data)
