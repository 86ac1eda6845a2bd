"""OpenAPI description of the operator token authentication (drf-spectacular extension)."""

from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class OperatorTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.authentication.OperatorTokenAuthentication"
    name = "operatorToken"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": _("`Token <key>`; create or rotate a key with POST /api/v1/operators/{id}/token/.")}
