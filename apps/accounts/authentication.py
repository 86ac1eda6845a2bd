"""``Authorization: Token <key>`` authentication, with a brake on guessing (SPEC §9.8 "Tokens").

More than ``FAILED_TOKEN_LIMIT`` failed token authentications within one clock minute from one
address answer 429 for the rest of that minute, to every token from that address (a right key
included, so a guesser cannot tell it found one). The counter lives in Django's cache (Redis in
production, so every worker shares it): one key per address and minute, added then incremented
atomically, expiring after the minute.
"""

from django.core.cache import cache
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.throttling import BaseThrottle

from apps.core import clock
from apps.core.languages import apply_api_language

from .models import OperatorToken

FAILED_TOKEN_LIMIT = 20
WINDOW_SECONDS = 60


class TooManyFailedTokens(exceptions.Throttled):
    default_detail = _("Too many failed token authentications from this address; try again later.")
    default_code = "throttled"


def _window(request) -> tuple[str, int]:
    """The cache key of this address's current minute, and the seconds left in that minute."""
    now = clock.now().timestamp()
    minute = int(now // WINDOW_SECONDS)
    address = BaseThrottle().get_ident(request)
    return f"token-failures:{address}:{minute}", max(1, int((minute + 1) * WINDOW_SECONDS - now))


def _refuse_when_throttled(request):
    key, seconds_left = _window(request)
    if (cache.get(key) or 0) >= FAILED_TOKEN_LIMIT:
        raise TooManyFailedTokens(wait=seconds_left)


def _count_failure(request):
    key, seconds_left = _window(request)
    cache.add(key, 0, timeout=seconds_left + 1)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr: this failure opens the next minute's count
        cache.add(key, 1, timeout=seconds_left + 1)


class OperatorTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token <key>``; keys are stored hashed, one per operator."""

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        _refuse_when_throttled(request)
        if len(header) != 2:
            _count_failure(request)
            raise exceptions.AuthenticationFailed(_("Invalid token header."))
        try:
            key = header[1].decode()
        except UnicodeError:
            _count_failure(request)
            raise exceptions.AuthenticationFailed(_("Invalid token header.")) from None
        token = (OperatorToken.objects.select_related("operator", "operator__account")
                 .filter(key_hash=OperatorToken.hash_key(key)).first())
        if token is None or not token.operator.is_active:
            _count_failure(request)
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        apply_api_language(request, token.operator.language)  # no explicit Accept-Language: theirs (SPEC §9.8)
        return token.operator, token

    def authenticate_header(self, request):
        return self.keyword
