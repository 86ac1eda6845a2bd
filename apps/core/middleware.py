"""Admin pages show times in one zone per person (SPEC §8.3, issue 15): an operator's service's zone; the
platform operator's chosen service's (``?service=<id>``, the "Service" filter of every list and the code
log), else UTC. Every admin page labels it (``templates/admin/base_site.html``); the API stays in UTC."""

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
        from apps.accounts.models import Account
        from apps.core.scoping import is_platform

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


class NulInQueryRefusedMiddleware:
    """A NUL character in the query string answers 400 naming the parameter, before any view runs.

    PostgreSQL refuses NUL in text, so a filter value such as ``?role__exact=%00`` reached the database
    and ended in a 500 on every list (Django's own choice filters included). No parameter of this site
    may hold one, so one check here covers the admin, the API and the third-party admin pages alike.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return self._refuse(request, name.replace("\x00", "\\0"))
        return self.get_response(request)

    @staticmethod
    def _refuse(request, name):
        from django.http import HttpResponseBadRequest, JsonResponse
        from django.utils.translation import gettext as _

        from .errors import InvalidInput

        reason = _("Contains a NUL character, which no value may hold.")
        if request.path.startswith("/api/"):
            return JsonResponse(InvalidInput.field(name, reason).as_dict(), status=400)
        return HttpResponseBadRequest(_("Invalid address: the parameter “%(name)s” contains a NUL character, "
                                        "which no value may hold.") % {"name": name},
                                      content_type="text/plain; charset=utf-8")
