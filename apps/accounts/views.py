"""The admin header's language switcher (SPEC §9.8 "Languages": the switcher writes the operator's setting)."""

from django.http import HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.core.errors import InvalidInput

from . import operations


@require_POST
def language_view(request):
    """Saves the signed-in operator's language (``""`` = the browser's) and returns to ``next``."""
    try:
        operations.set_own_language(operator=request.user, language=request.POST.get("language", "\x00"))
    except InvalidInput as error:
        return HttpResponseBadRequest(_("Language: %(reason)s") % {"reason": error.fields["language"][0]},
                                      content_type="text/plain; charset=utf-8")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = reverse("admin:index")
    return redirect(target)
