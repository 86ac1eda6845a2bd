"""Admin pages show times in the operator's service time zone (SPEC §8.3); the API stays in UTC."""

import zoneinfo

from django.utils import timezone


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
        account_id = getattr(user, "account_id", None) if user is not None and user.is_authenticated else None
        if account_id is None:
            return None
        from apps.accounts.models import Account

        name = Account.objects.filter(pk=user.account.service_id).values_list("timezone", flat=True).first()
        try:
            return zoneinfo.ZoneInfo(name) if name else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return None
