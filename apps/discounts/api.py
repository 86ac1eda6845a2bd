"""REST API of the discount module (API.md "Discounts"): top users and the platform operator only.

Everyone else, and any service whose discount is off, gets a 404 (SPEC §8.1, §8.6). Without
``preview=1`` the summary is the last saved day; with it, the discount is calculated now and
nothing is saved. The account and unit tables are always calculated now (see the decisions file).
"""

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from apps.accounts.models import Account
from apps.core import clock
from apps.core.api import IdField
from apps.core.errors import DoesNotExist, InvalidInput

from . import queries

MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")
PERCENT = {"max_digits": 5, "decimal_places": 2}
SERVICE_PARAM = OpenApiParameter("service", OpenApiTypes.INT, description="Top account id (platform operator).")
PREVIEW_PARAM = OpenApiParameter("preview", OpenApiTypes.BOOL, description="1: recalculate now, save nothing.")


class UnitCountsSerializer(serializers.Serializer):
    purchased = serializers.IntegerField()
    in_use = serializers.IntegerField()
    unused = serializers.IntegerField()
    full_cost = serializers.IntegerField()


class MonthSummarySerializer(serializers.Serializer):
    days = serializers.IntegerField(help_text="Days saved so far this month.")
    average = serializers.DecimalField(allow_null=True, **PERCENT)


class DiscountSerializer(serializers.Serializer):
    current = serializers.DecimalField(**PERCENT)
    maximum = serializers.DecimalField(**PERCENT)
    applied = serializers.DecimalField(**PERCENT)
    units = UnitCountsSerializer()
    month = MonthSummarySerializer()
    day = serializers.DateField(allow_null=True, help_text="The saved day shown; null when calculated now.")
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
        return len(obj.units)


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
        report = queries.calculate_discount(self.service())
        page = self.paginate_queryset(report.accounts)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class DiscountUnitsView(DiscountServiceMixin, GenericAPIView):
    serializer_class = UnitDiscountSerializer

    @extend_schema(parameters=[PREVIEW_PARAM, SERVICE_PARAM,
                               OpenApiParameter("account", OpenApiTypes.INT, description="Only this account's units.")],
                   responses=UnitDiscountSerializer(many=True))
    def get(self, request):
        service = self.service()
        report = queries.calculate_discount(service)
        units = report.units
        account_id = _query_id(request, "account")
        if account_id is not None:
            if not Account.objects.filter(pk=account_id, service=service).exists():
                raise DoesNotExist.field("account")
            units = [unit for unit in units if unit.account_id == account_id]
        page = self.paginate_queryset(units)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class DiscountHistoryView(DiscountServiceMixin, GenericAPIView):
    pagination_class = None

    @extend_schema(
        parameters=[SERVICE_PARAM, OpenApiParameter("month", OpenApiTypes.STR, description="YYYY-MM; default: now.")],
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
