from rest_framework.routers import SimpleRouter

from .api import CodeEventViewSet, CodeViewSet, ExpiryNoticeViewSet

router = SimpleRouter()
router.register("codes", CodeViewSet, basename="code")
router.register("code-events", CodeEventViewSet, basename="code-event")
router.register("expiry-notices", ExpiryNoticeViewSet, basename="expiry-notice")
urlpatterns = router.urls
