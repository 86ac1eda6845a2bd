"""REST API for plans, their services, import/export between plans, the cost-table calculator and the
catalogues (API.md "Plans"). Views parse input and call ``operations``; reads come from ``queries``."""

from django.utils.translation import gettext
import django_filters
from django.utils.translation import gettext_lazy
from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import rights
from apps.accounts.models import Account
from apps.core.api import IdFilter, ServiceFilterMixin
from apps.core.errors import InvalidInput
from apps.core.scoping import is_platform
from apps.plans.models import DeviceType, Modem

from . import cost_table, operations
from .inheritance import INHERITED_SETTINGS
from .models import CatalogueService, Plan, PlanService
from .queries import (catalogue_visible_to, effective_plan, get_visible_plan, plan_services_visible_to,
                      plans_visible_to)
from .serializers import (CatalogueSerializer, DeviceTypeSerializer, EffectiveServiceSerializer,
                          EvaluateInSerializer, EvaluateOutSerializer, ExportInSerializer, ExportOutSerializer,
                          ImportInSerializer, ImportOutSerializer, ModemSerializer, PlanSerializer,
                          PlanServiceSerializer)

PLAN_READERS = rights.DEALING_ROLES


class PlanFilter(ServiceFilterMixin):
    parent = IdFilter(field_name="parent_id")
    root = django_filters.BooleanFilter(field_name="parent", lookup_expr="isnull", label=gettext_lazy("Plans without a parent"))
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    class Meta:
        model = Plan
        fields = ("service", "parent", "root", "name")


class PlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                  mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Plans. Null settings are inherited from the parent plan; ``/effective/`` resolves them."""

    serializer_class = PlanSerializer
    filterset_class = PlanFilter
    allowed_roles = PLAN_READERS
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return plans_visible_to(self.request.user).prefetch_related("device_types", "modems").order_by("name", "id")

    def _service_for_create(self, data) -> Account:
        user = self.request.user
        if is_platform(user):
            service = data.pop("service", None)
            if service is None:
                raise InvalidInput.field("service", gettext("The platform operator names the service (a top account id)."))
            return service
        data.pop("service", None)
        return user.account.service

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        service = self._service_for_create(data)
        serializer.instance = operations.create_plan(actor=self.request.user, service=service, values=data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("service", None)  # a plan never moves between services
        serializer.instance = operations.update_plan(actor=self.request.user, plan=serializer.instance, changes=data)

    def perform_destroy(self, instance):
        operations.delete_plan(actor=self.request.user, plan=instance)

    @extend_schema(responses={200: dict}, description=gettext_lazy("Every setting with the plan it comes from, the device-type "
                                                      "limit, the plan's modems and its effective services."))
    @action(detail=True, methods=["get"])
    def effective(self, request, pk=None):
        view = effective_plan(self.get_object())
        settings = {name: {"value": _json(setting.value), "source": setting.source,
                           "source_name": setting.source_name}
                    for name, setting in view["settings"].items() if name in INHERITED_SETTINGS}
        source = view["device_types_source"]
        settings["device_types"] = {"value": [d.pk for d in view["device_types"]], "source": source.source,
                                    "source_name": source.source_name}
        return Response({
            "plan": view["plan"].pk,
            "settings": settings,
            "modems": [m.pk for m in view["modems"]],
            "services": EffectiveServiceSerializer(view["services"], many=True).data,
        })

    @extend_schema(responses=EffectiveServiceSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="effective-services", pagination_class=None)
    def effective_services(self, request, pk=None):
        view = effective_plan(self.get_object())
        return Response(EffectiveServiceSerializer(view["services"], many=True).data)


def _json(value):
    from decimal import Decimal

    if isinstance(value, Decimal):
        return format(value.quantize(Decimal("0.0001")), "f")
    return value


class PlanServiceFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    class Meta:
        model = PlanService
        fields = ("name", "type", "interval")


class PlanScopedMixin:
    """Views under ``/plans/{plan_id}/``: the plan must be visible (404 otherwise)."""

    allowed_roles = PLAN_READERS

    queryset = PlanService.objects.none()  # for the schema generator, which has no plan id

    def get_plan(self) -> Plan:
        if not hasattr(self, "_plan"):
            self._plan = get_visible_plan(self.request.user, self.kwargs["plan_id"])
        return self._plan


class PlanServiceListView(PlanScopedMixin, generics.ListCreateAPIView):
    """The plan's own service rows (``effective-services`` adds the inherited ones)."""

    serializer_class = PlanServiceSerializer
    filterset_class = PlanServiceFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PlanService.objects.none()
        return plan_services_visible_to(self.request.user).filter(plan=self.get_plan()).order_by("name", "id")

    def perform_create(self, serializer):
        serializer.instance = operations.add_plan_service(actor=self.request.user, plan=self.get_plan(),
                                                          values=dict(serializer.validated_data))


class PlanServiceDetailView(PlanScopedMixin, generics.RetrieveUpdateDestroyAPIView):
    serializer_class = PlanServiceSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]
    lookup_url_kwarg = "service_id"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PlanService.objects.none()
        return plan_services_visible_to(self.request.user).filter(plan=self.get_plan())

    def perform_update(self, serializer):
        serializer.instance = operations.update_plan_service(actor=self.request.user, row=serializer.instance,
                                                             changes=dict(serializer.validated_data))

    def perform_destroy(self, instance):
        operations.delete_plan_service(actor=self.request.user, row=instance)


class PlanServiceImportView(PlanScopedMixin, APIView):
    """Import chosen services (``names``) or every service of ``source_plans`` into this plan."""

    @extend_schema(request=ImportInSerializer, responses=ImportOutSerializer)
    def post(self, request, plan_id):
        plan = self.get_plan()
        body = ImportInSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        counts = operations.import_plan_services(actor=request.user, plan=plan, **body.validated_data)
        return Response(counts)


class PlanServiceExportView(PlanScopedMixin, APIView):
    """Export chosen services of this plan (all when ``names`` is empty) to ``target_plans``."""

    @extend_schema(request=ExportInSerializer, responses=ExportOutSerializer)
    def post(self, request, plan_id):
        plan = self.get_plan()
        body = ExportInSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        result = operations.export_plan_services(actor=request.user, plan=plan, **body.validated_data)
        names = dict(Plan.objects.filter(pk__in=result).values_list("pk", "name"))
        targets = [{"plan": pk, "plan_name": names[pk], **counts} for pk, counts in result.items()]
        return Response({"targets": targets})


class CostTableEvaluateView(APIView):
    """The cost-table calculator: the canonical text, the price of each position and the total."""

    allowed_roles = PLAN_READERS

    @extend_schema(request=EvaluateInSerializer, responses=EvaluateOutSerializer)
    def post(self, request):
        body = EvaluateInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            answer = cost_table.evaluate(body.validated_data["cost_table"], body.validated_data["count"])
        except cost_table.CostTableError as error:
            raise InvalidInput.field("cost_table", str(error)) from None
        return Response({**answer, "warnings": cost_table.denial_warnings(body.validated_data["cost_table"])})


class CatalogueFilterSet(ServiceFilterMixin):
    """``service``: that service's entries and the platform's (shared by every service)."""

    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains")
    apps = django_filters.BooleanFilter(field_name="service", lookup_expr="isnull", exclude=True,
                                        label=gettext_lazy("Only application services"))

    class Meta:
        model = CatalogueService
        fields = ("name", "type", "apps")

    def filter_service(self, queryset, name, value):
        return queryset.filter(Q(service_id=value) | Q(service__isnull=True)) if value is not None else queryset


class CatalogueView(generics.ListCreateAPIView):
    """The service catalogue; POST adds an ``Apps: <name>`` entry to a service (its top user)."""

    serializer_class = CatalogueSerializer
    filterset_class = CatalogueFilterSet
    allowed_roles = PLAN_READERS

    def get_queryset(self):
        return catalogue_visible_to(self.request.user).order_by("name", "id")


    def perform_create(self, serializer):
        data = serializer.validated_data
        user = self.request.user
        service = data.get("service") if is_platform(user) else user.account.service
        if service is None:
            raise InvalidInput.field("service", gettext("The platform operator names the service (a top account id)."))
        serializer.instance = operations.add_app_service(actor=user, service=service, name=data["name"],
                                                         description=data.get("description", ""))


class DeviceTypeViewSet(viewsets.ReadOnlyModelViewSet):
    """The global device-type catalogue (kept by the platform operator in the admin)."""

    serializer_class = DeviceTypeSerializer
    queryset = DeviceType.objects.order_by("name")
    filterset_fields = {"name": ["icontains"]}


class ModemViewSet(viewsets.ReadOnlyModelViewSet):
    """The global modem catalogue; ``limit_by_plans`` modems are usable only by the plans listing them."""

    serializer_class = ModemSerializer
    queryset = Modem.objects.order_by("name")
    filterset_fields = {"name": ["icontains"], "limit_by_plans": ["exact"]}
