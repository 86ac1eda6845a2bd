"""Which language a request is answered in (SPEC §9.3, §9.8 "Languages"; docs/decisions.md, "Languages").

- Admin pages (and everything that is not the API): the operator's own setting, else the browser's
  ``Accept-Language``, else English.
- The API: an explicit ``Accept-Language`` (one naming a language we have), else the operator's setting,
  else English. A token's operator is known only once DRF authenticates it, so the token authentication
  calls ``apply_api_language`` with the operator's setting; a session's operator is known here.

Django's ``LocaleMiddleware`` runs first (it also adds ``Content-Language`` and ``Vary: Accept-Language``
to the answer); this middleware, after ``AuthenticationMiddleware``, settles the language by the rules
above. Django's language cookie is not read: the header switcher writes the operator's setting instead.
"""

from django.conf import settings
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header

API_PREFIX = "/api/"


def supported(code: str | None) -> str | None:
    """``code`` as one of ``settings.LANGUAGES`` (``fr-CA`` → ``fr``), or None."""
    if not code or len(code) > 35:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def accepted_language(request) -> str | None:
    """The first language of the request's ``Accept-Language`` that we have, or None (no header, or only
    languages we do not have: ``de``, ``*``)."""
    header = request.META.get("HTTP_ACCEPT_LANGUAGE", "")
    for code, _quality in parse_accept_lang_header(header):
        if code == "*":
            continue
        language = supported(code)
        if language:
            return language
    return None


def saved_language(user) -> str | None:
    """The operator's own setting (empty = follow the browser), or None for an anonymous request."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return supported(getattr(user, "language", ""))


def _activate(request, language: str) -> None:
    translation.activate(language)
    request.LANGUAGE_CODE = language


class OperatorLanguageMiddleware:
    """Activates the request's language by the rules above (after ``LocaleMiddleware``, which it overrides)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        _activate(request, language_for(request))
        return self.get_response(request)


def language_for(request) -> str:
    user = getattr(request, "user", None)
    if request.path.startswith(API_PREFIX):
        return accepted_language(request) or saved_language(user) or settings.LANGUAGE_CODE
    return saved_language(user) or accepted_language(request) or settings.LANGUAGE_CODE


def apply_api_language(request, language: str) -> None:
    """An API request authenticated by token as an operator whose setting is ``language``: that language
    answers unless the request names one explicitly (``Accept-Language``)."""
    if accepted_language(request):
        return
    _activate(getattr(request, "_request", request), supported(language) or settings.LANGUAGE_CODE)


def language_of(user) -> str:
    """The language to write to ``user`` outside a request (an e-mail, a job's message): their own setting,
    else English. Use as ``with translation.override(language_of(operator)):``."""
    return saved_language(user) or settings.LANGUAGE_CODE
