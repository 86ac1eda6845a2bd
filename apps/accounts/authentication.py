from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from .models import OperatorToken


class OperatorTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token <key>``; keys are stored hashed, one per operator."""

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header."))
        try:
            key = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed(_("Invalid token header.")) from None
        token = (OperatorToken.objects.select_related("operator", "operator__account")
                 .filter(key_hash=OperatorToken.hash_key(key)).first())
        if token is None or not token.operator.is_active:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        return token.operator, token

    def authenticate_header(self, request):
        return self.keyword
