from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("plans", api.PlanViewSet, basename="plan")
router.register("device-types", api.DeviceTypeViewSet, basename="device-type")
router.register("modems", api.ModemViewSet, basename="modem")

urlpatterns = [
    path("plans/<int:plan_id>/services/", api.PlanServiceListView.as_view(), name="plan-services"),
    path("plans/<int:plan_id>/services/import/", api.PlanServiceImportView.as_view(), name="plan-services-import"),
    path("plans/<int:plan_id>/services/export/", api.PlanServiceExportView.as_view(), name="plan-services-export"),
    path("plans/<int:plan_id>/services/<int:service_id>/", api.PlanServiceDetailView.as_view(),
         name="plan-service-detail"),
    path("cost-tables/evaluate/", api.CostTableEvaluateView.as_view(), name="cost-table-evaluate"),
    path("catalogue/", api.CatalogueView.as_view(), name="catalogue"),
    *router.urls,
]
