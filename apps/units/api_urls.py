from rest_framework.routers import SimpleRouter

from .api import GrantViewSet, MonitoringUserViewSet, UnitViewSet

router = SimpleRouter()
router.register("units", UnitViewSet, basename="unit")
router.register("monitoring-users", MonitoringUserViewSet, basename="monitoring-user")
router.register(r"monitoring-users/(?P<user_id>[0-9]+)/grants", GrantViewSet, basename="monitoring-user-grant")

urlpatterns = router.urls
