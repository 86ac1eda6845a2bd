"""Request checks that need no domain: a NUL byte in the query string is refused before any view runs.
(The service time zone on admin pages is the accounts app's: ``apps.accounts.middleware``.)"""

from django.http import HttpResponseBadRequest, JsonResponse
from django.utils.translation import gettext as _

from .errors import InvalidInput


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
        reason = _("Contains a NUL character, which no value may hold.")
        if request.path.startswith("/api/"):
            return JsonResponse(InvalidInput.field(name, reason).as_dict(), status=400)
        return HttpResponseBadRequest(_("Invalid address: the parameter “%(name)s” contains a NUL character, "
                                        "which no value may hold.") % {"name": name},
                                      content_type="text/plain; charset=utf-8")
