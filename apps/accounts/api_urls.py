from rest_framework.routers import SimpleRouter

from .api import AccountViewSet, AuditEventViewSet, OperatorViewSet

router = SimpleRouter()
router.register("accounts", AccountViewSet, basename="account")
router.register("operators", OperatorViewSet, basename="operator")
router.register("audit-events", AuditEventViewSet, basename="audit-event")
urlpatterns = router.urls
