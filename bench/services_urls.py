"""The project's URLs plus a trivial DRF endpoint with the same authentication and permission."""

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from billing_site.urls import urlpatterns as project_urlpatterns


class Ping(APIView):
    """Authenticates by token and checks ``IsOperator`` like every API view, then answers at once."""

    def post(self, request):
        return Response({"ok": True})


urlpatterns = [path("bench/ping/", Ping.as_view()), *project_urlpatterns]
