"""Admin pages show times in one zone per person (SPEC §8.3, issue 15): an operator's service's zone; the
platform operator's chosen service's (``?service=<id>``, the "Service" filter of every list and the code
log), else UTC. Every admin page labels it (``templates/admin/base_site.html``); the API stays in UTC."""

import zoneinfo

from django.utils import timezone

from apps.core.scoping import is_platform

from .models import Account


class ServiceTimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = self._zone(request) if request.path.startswith("/admin/") else None
        if zone is None:
            return self.get_response(request)
        with timezone.override(zone):
            return self.get_response(request)

    @staticmethod
    def _zone(request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        account_id = getattr(user, "account_id", None)
        if account_id is not None:
            service_id = user.account.service_id
        elif is_platform(user):  # the chosen service's zone (SPEC §9.8), else UTC
            value = request.GET.get("service", "")
            if not (value.isascii() and value.isdigit() and len(value) <= 18):
                return None
            service_id = int(value)
        else:
            return None
        name = Account.objects.filter(pk=service_id, parent__isnull=True).values_list("timezone", flat=True).first()
        try:
            return zoneinfo.ZoneInfo(name) if name else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return None
