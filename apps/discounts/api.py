"""REST API of the discount module (API.md "Discounts"): top users and the platform operator only.

Everyone else, and any service whose discount is off, gets a 404 (SPEC §8.1, §8.6). Without
``preview=1`` the summary is the last saved day, and the account and unit lists are pages of the
table the daily job stored with it (``tables``; calculated now before the first one); with
``preview=1`` everything is calculated now and nothing is saved.
"""

import re

from django.utils.translation import gettext_lazy
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from apps.accounts.models import Account
from apps.core import clock
from apps.core.api import IdField
from apps.core.errors import DoesNotExist, InvalidInput

from . import queries, tables
from .models import DiscountAccountRow, DiscountUnitRow

MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")
PERCENT = {"max_digits": 5, "decimal_places": 2}
SERVICE_PARAM = OpenApiParameter("service", OpenApiTypes.INT, description=gettext_lazy("Top account id (platform operator)."))
PREVIEW_PARAM = OpenApiParameter("preview", OpenApiTypes.BOOL, description=gettext_lazy("1: recalculate now, save nothing."))


class UnitCountsSerializer(serializers.Serializer):
    purchased = serializers.IntegerField()
    in_use = serializers.IntegerField()
    unused = serializers.IntegerField()
    full_cost = serializers.IntegerField()


class MonthSummarySerializer(serializers.Serializer):
    days = serializers.IntegerField(help_text=gettext_lazy("Days saved so far this month."))
    average = serializers.DecimalField(allow_null=True, **PERCENT)


class DiscountSerializer(serializers.Serializer):
    current = serializers.DecimalField(**PERCENT)
    maximum = serializers.DecimalField(**PERCENT)
    applied = serializers.DecimalField(**PERCENT)
    units = UnitCountsSerializer()
    month = MonthSummarySerializer()
    day = serializers.DateField(allow_null=True, help_text=gettext_lazy("The saved day shown; null when calculated now."))
    estimated = serializers.BooleanField()
    preview = serializers.BooleanField()


class AccountDiscountSerializer(serializers.Serializer):
    account = serializers.IntegerField(source="account_id")
    name = serializers.CharField()
    rank = serializers.IntegerField()
    discount = serializers.DecimalField(**PERCENT)
    units = serializers.SerializerMethodField()
    reasons = serializers.ListField(child=serializers.CharField())

    def get_units(self, obj) -> int:
        return obj.units if isinstance(obj.units, int) else len(obj.units)  # a stored row keeps the count


class UnitDiscountSerializer(serializers.Serializer):
    unit = serializers.IntegerField(source="unit_id")
    name = serializers.CharField()
    account = serializers.IntegerField(source="account_id")
    rank = serializers.IntegerField()
    unit_points = serializers.IntegerField()
    account_points = serializers.IntegerField()
    discount = serializers.IntegerField()
    eligible = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField())


class HistoryDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    applied = serializers.DecimalField(**PERCENT)
    estimated = serializers.BooleanField()


def _preview(request) -> bool:
    return request.query_params.get("preview", "").lower() in {"1", "true", "yes"}


def _query_id(request, name: str) -> int | None:
    """An id from the query string, digits 0-9 only (400 naming it otherwise); None when absent."""
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    try:
        return IdField().clean(value)
    except DjangoValidationError as error:
        raise InvalidInput.field(name, error.messages[0]) from None


class DiscountServiceMixin:
    queryset = Account.objects.none()  # the tables are computed: for the schema generator and the browsable API

    def service(self):
        return queries.get_discount_service(self.request.user, _query_id(self.request, "service"))


class DiscountView(DiscountServiceMixin, GenericAPIView):
    serializer_class = DiscountSerializer
    pagination_class = None

    @extend_schema(parameters=[PREVIEW_PARAM, SERVICE_PARAM])
    def get(self, request):
        service = self.service()
        preview = _preview(request)
        saved = None if preview else queries.latest_snapshot(service)
        values = saved if saved is not None else queries.calculate_discount(service).summary
        today = queries.local_today(service, clock.now())
        month = queries.month_history(service, today.year, today.month)
        return Response(self.get_serializer({
            "current": values.current, "maximum": values.maximum, "applied": values.applied,
            "units": {"purchased": values.purchased, "in_use": values.in_use, "unused": values.unused,
                      "full_cost": values.full_cost},
            "month": {"days": len(month.days), "average": month.average},
            "day": saved.day if saved else None, "estimated": bool(saved and saved.estimated), "preview": preview,
        }).data)


class DiscountAccountsView(DiscountServiceMixin, GenericAPIView):
    serializer_class = AccountDiscountSerializer

    @extend_schema(parameters=[PREVIEW_PARAM, SERVICE_PARAM], responses=AccountDiscountSerializer(many=True))
    def get(self, request):
        service = self.service()
        stored = None if _preview(request) else tables.latest_daily(service)
        if stored is not None:
            rows = DiscountAccountRow.objects.filter(calculation=stored).order_by("position")
        else:
            rows = queries.calculate_discount(service).accounts
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class DiscountUnitsView(DiscountServiceMixin, GenericAPIView):
    serializer_class = UnitDiscountSerializer

    @extend_schema(parameters=[PREVIEW_PARAM, SERVICE_PARAM,
                               OpenApiParameter("account", OpenApiTypes.INT, description=gettext_lazy("Only this account's units."))],
                   responses=UnitDiscountSerializer(many=True))
    def get(self, request):
        service = self.service()
        account_id = _query_id(request, "account")
        if account_id is not None and not Account.objects.filter(pk=account_id, service=service).exists():
            raise DoesNotExist.field("account")
        stored = None if _preview(request) else tables.latest_daily(service)
        if stored is not None:
            units = DiscountUnitRow.objects.filter(calculation=stored).order_by("position")
            if account_id is not None:
                units = units.filter(account_id=account_id)
        else:
            units = queries.calculate_discount(service).units
            if account_id is not None:
                units = [unit for unit in units if unit.account_id == account_id]
        page = self.paginate_queryset(units)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class DiscountHistoryView(DiscountServiceMixin, GenericAPIView):
    pagination_class = None

    @extend_schema(
        parameters=[SERVICE_PARAM, OpenApiParameter("month", OpenApiTypes.STR, description=gettext_lazy("YYYY-MM; default: now."))],
        responses=inline_serializer("DiscountHistory", {
            "month": serializers.CharField(), "days": HistoryDaySerializer(many=True),
            "average": serializers.DecimalField(allow_null=True, **PERCENT)}))
    def get(self, request):
        service = self.service()
        if request.query_params.get("month"):
            if not MONTH.fullmatch(request.query_params["month"]):
                raise InvalidInput.field("month", _("Use YYYY-MM, e.g. 2026-03."))
            year, month = queries.parse_month(request.query_params["month"])
        else:
            today = queries.local_today(service, clock.now())
            year, month = today.year, today.month
        history = queries.month_history(service, year, month)
        return Response({
            "month": f"{year:04d}-{month:02d}",
            "days": HistoryDaySerializer(history.days, many=True).data,
            "average": serializers.DecimalField(**PERCENT).to_representation(history.average)
            if history.average is not None else None,
        })


class SuggestionSerializer(serializers.Serializer):
    feature = serializers.CharField(help_text=gettext_lazy("The line of the points tables (sensors, fuel_sensors, commands, "
                                              "service_intervals, eco_driving, road_limits_speeding, eco_criterion, "
                                              "storage, app, cms_manager, messages, an object counter name) or "
                                              "unit_grant / account_grant for an eligibility change."))
    change = serializers.CharField(help_text=gettext_lazy("The change, in the reader's language."))
    points = serializers.IntegerField(help_text=gettext_lazy("Points the change takes off (0 for a grant removal)."))
    discount_after = serializers.DecimalField(
        help_text=gettext_lazy("The unit's discount after the change; for an account, its average discount."), **PERCENT)
    units = serializers.IntegerField(help_text=gettext_lazy("How many units' discount rises."))


class AdviceSerializer(serializers.Serializer):
    discount = serializers.DecimalField(allow_null=True, help_text=gettext_lazy("The discount now (null: a unit the discount "
                                                                   "does not count)."), **PERCENT)
    suggestions = SuggestionSerializer(many=True, help_text=gettext_lazy("Best first: by discount after, then points."))


_ERROR = inline_serializer("AdviceError", {"detail": serializers.CharField(), "code": serializers.CharField(),
                                           "fields": serializers.DictField(required=False)})


class DiscountAdviceView(DiscountServiceMixin, GenericAPIView):
    """The discount advisor (SPEC §9.6): the single changes that raise a unit's or an account's
    discount most. Read-only; a plain object, not a list."""

    serializer_class = AdviceSerializer
    pagination_class = None

    @extend_schema(
        parameters=[OpenApiParameter("unit", OpenApiTypes.INT, description=gettext_lazy("A unit of the service.")),
                    OpenApiParameter("account", OpenApiTypes.INT, description=gettext_lazy("An account of the service.")),
                    SERVICE_PARAM],
        responses={200: AdviceSerializer,
                   400: OpenApiResponse(_ERROR, description=gettext_lazy("Neither or both of unit and account (invalid), an id "
                                                            "not of the service (does_not_exist), no service given "
                                                            "by the platform operator.")),
                   401: OpenApiResponse(_ERROR, description=gettext_lazy("No or bad credentials.")),
                   404: OpenApiResponse(_ERROR, description=gettext_lazy("Not a top user or the platform operator, or the "
                                                            "service's discount is off."))})
    def get(self, request):
        service = self.service()
        kind, pk, account_id = queries.advice_subject(service, unit=request.query_params.get("unit"),
                                                      account=request.query_params.get("account"))
        advice = queries.ServiceAdvice(service, focus=account_id)  # the account's inputs, not the service's
        answer = advice.for_unit(pk) if kind == "unit" else advice.for_account(pk)
        return Response(self.get_serializer({"discount": answer.discount, "suggestions": answer.suggestions}).data)
