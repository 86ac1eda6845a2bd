"""REST API of the dashboard and the expiry forecast (API.md "Additions"; SPEC §9.4, §9.8).

Top users, distributors and the platform operator (who names the service with ``service``); a restricted
distributor gets 403. Both answers are computed, not paged: the dashboard an object, the forecast a plain
array of one row per local day (SPEC §9.8 "Lists").
"""

from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from apps.codes.models import ActivationCode
from apps.core import clock
from apps.core.schema import error_responses

from . import queries

PERCENT = {"max_digits": 5, "decimal_places": 2}
SERVICE_PARAM = OpenApiParameter(
    "service", OpenApiTypes.INT, description=gettext_lazy("The service's top account id: required for the platform operator, "
                                             "ignored for everyone else."))



COMMON_ERRORS = {"s401": gettext_lazy("No or bad credentials."),
                 "s403": gettext_lazy("`permission_denied`: a restricted distributor has no dashboard.")}


class UnitFiguresSerializer(serializers.Serializer):
    active = serializers.IntegerField()
    inactive = serializers.IntegerField()


class CodeFiguresSerializer(serializers.Serializer):
    new = serializers.IntegerField(help_text=gettext_lazy("Never assigned (queued codes excluded)."))
    on_unit = serializers.IntegerField(help_text=gettext_lazy("Live on a unit."))
    running_unassigned = serializers.IntegerField(help_text=gettext_lazy("Clock running, on no unit."))
    queued = serializers.IntegerField(help_text=gettext_lazy("Waiting on a unit for its live code to end."))
    expiring_7 = serializers.IntegerField(help_text=gettext_lazy("now < expires_at ≤ now + 7 days."))
    expiring_30 = serializers.IntegerField(help_text=gettext_lazy("now < expires_at ≤ now + 30 days (includes the 7)."))


class AccountFiguresSerializer(serializers.Serializer):
    blocked = serializers.IntegerField(help_text=gettext_lazy("Blocked themselves (not through an ancestor)."))
    blocking_soon = serializers.IntegerField(help_text=gettext_lazy("Not blocked; the kernel predicts a block within 5 days."))


class BalanceSerializer(serializers.Serializer):
    account = serializers.IntegerField()
    name = serializers.CharField()
    balance = serializers.DecimalField(max_digits=16, decimal_places=4)


class DiscountFiguresSerializer(serializers.Serializer):
    applied = serializers.DecimalField(allow_null=True, help_text=gettext_lazy("The last saved day's applied discount."),
                                       **PERCENT)
    month_average = serializers.DecimalField(allow_null=True, help_text=gettext_lazy("The mean of this month's saved days."),
                                             **PERCENT)


class DashboardSerializer(serializers.Serializer):
    units = UnitFiguresSerializer()
    codes = CodeFiguresSerializer()
    accounts = AccountFiguresSerializer()
    lowest_balances = BalanceSerializer(many=True, help_text=gettext_lazy("The ten lowest, your own account left out."))
    discount = DiscountFiguresSerializer(
        required=False, allow_null=True,
        help_text=gettext_lazy("Top users and the platform operator only (absent for distributors); null where the service "
                  "has the discount off."))


class ForecastDaySerializer(serializers.Serializer):
    day = serializers.DateField(help_text=gettext_lazy("A local day of the service's time zone."))
    units = serializers.IntegerField(help_text=gettext_lazy("Units deactivated that day unless a code is added."))


class ForecastQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=queries.MAX_DAYS, required=False,
                                    default=queries.DEFAULT_DAYS)
    distributor = serializers.CharField(required=False, allow_blank=True)
    service = serializers.CharField(required=False, allow_blank=True)


class DashboardView(GenericAPIView):
    serializer_class = DashboardSerializer
    pagination_class = None
    # No ``allowed_roles``: ``queries.scope_for`` answers a role without a dashboard (403) inside the view, where
    # the browsable API's renderer does not re-check permissions outside the error handler.

    @extend_schema(parameters=[SERVICE_PARAM], responses={200: DashboardSerializer, **error_responses(
        s400=gettext_lazy("`invalid` (`service` missing or not an id), `does_not_exist` (`service`)"), **COMMON_ERRORS)})
    def get(self, request):
        scope = queries.scope_for(request.user, request.query_params.get("service"))
        figures = queries.dashboard(scope, clock.now())
        if "discount" in figures and figures["discount"] is not None:
            figures["discount"] = {k: figures["discount"][k] for k in ("applied", "month_average")}
        data = self.get_serializer(figures).data
        if "discount" not in figures:  # a distributor's answer has no discount at all (SPEC §9.8)
            data.pop("discount", None)
        return Response(data)


class ForecastView(GenericAPIView):
    serializer_class = ForecastDaySerializer
    pagination_class = None
    queryset = ActivationCode.objects.none()  # computed rows; named for the schema generator only
    # No ``allowed_roles``: ``queries.scope_for`` answers a role without a dashboard (403) inside the view, where
    # the browsable API's renderer does not re-check permissions outside the error handler.

    @extend_schema(
        parameters=[
            OpenApiParameter("days", OpenApiTypes.INT, description=gettext_lazy("1–366 (default 90): rows from today, the "
                                                                   "service's local day.")),
            OpenApiParameter("distributor", OpenApiTypes.INT, description=gettext_lazy("An account id of your scope: only units "
                                                                          "in its subtree.")),
            SERVICE_PARAM],
        responses={200: ForecastDaySerializer(many=True), **error_responses(
            s400=gettext_lazy("`invalid` (`days` out of 1–366, `service` missing), `does_not_exist` (`distributor`, `service`)"),
            **COMMON_ERRORS)})
    def get(self, request):
        scope = queries.scope_for(request.user, request.query_params.get("service"))
        params = ForecastQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        distributor = queries.distributor_in_scope(scope, params.validated_data.get("distributor"))
        result = queries.forecast(scope, clock.now(), days=params.validated_data["days"], distributor=distributor)
        return Response(ForecastDaySerializer([{"day": day, "units": n} for day, n in result.rows], many=True).data)
