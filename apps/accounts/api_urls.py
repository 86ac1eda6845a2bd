from rest_framework.routers import SimpleRouter

from .api import AccountViewSet, OperatorViewSet

router = SimpleRouter()
router.register("accounts", AccountViewSet, basename="account")
router.register("operators", OperatorViewSet, basename="operator")
urlpatterns = router.urls
