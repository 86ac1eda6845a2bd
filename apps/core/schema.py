"""The OpenAPI schema's conventions (drf-spectacular): every error an endpoint can answer is documented.

SPEC §8.7 gives the statuses; ``apps.core.api.exception_handler`` gives every error one shape,
``{detail, code, fields?}`` (some errors add their own members, e.g. ``units_to_deactivate`` on a
409 ``confirmation_required`` or ``allowed``/``reason`` on a kernel denial). This schema class adds
that shape to each operation for the statuses it can answer and it does not document itself:

- 400 malformed input (a body, a filter, a page size) and ids in a body out of scope;
- 401 without or with a bad token; 403 a role that may never use the endpoint, or a refusal;
- 404 an object in the path out of scope or absent, or a page past the end of a list;
- 409 a write that conflicts (locked row, plan in use, confirmation required, key reused);
- 413 a body over the size limit; 415 a body in a media type the endpoint does not read;
- 429 throttled (too many bad tokens from one address, too many
  applications of codes).
"""

from django.utils.translation import gettext_lazy
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

ERROR_DESCRIPTIONS = {
    "400": gettext_lazy("Malformed input, or an id in the body out of scope or absent (`fields` names each field)."),
    "401": gettext_lazy("No credentials, or a bad or revoked token."),
    "403": gettext_lazy("A role that may never use this endpoint, or a refusal of rights (the `code` says which)."),
    "404": gettext_lazy("The object in the path is out of scope or absent (or the page is past the end)."),
    "409": gettext_lazy("Conflict: a row locked by another request, a plan in use, a confirmation required, a key reused."),
    "413": gettext_lazy("The request body is too large."),
    "415": gettext_lazy("The request body's media type is not one the endpoint reads (JSON, a form or multipart)."),
    "429": gettext_lazy("Too many requests (failed token authentications from this address, or code applications)."),
}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API (SPEC §8.7); some errors add members of their own."""

    detail = serializers.CharField(help_text=gettext_lazy("What went wrong, in the reader's language."))
    code = serializers.CharField(help_text=gettext_lazy("A stable machine code (snake_case English), e.g. `invalid`, "
                                           "`does_not_exist`, `not_found`, `permission_denied`, `throttled`."))
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False,
                                   help_text=gettext_lazy("Field name → the reasons it was refused (400)."))


def error_responses(**statuses: str) -> dict:
    """Documented answers in the error shape, for ``extend_schema(responses=…)``:
    ``error_responses(s400="…", s403="…")`` → ``{400: …, 403: …}`` (a keyword cannot start with a digit)."""
    return {int(key[1:]): OpenApiResponse(ErrorSerializer, description=text) for key, text in statuses.items()}


class AutoSchema(SpectacularAutoSchema):
    def _error_statuses(self) -> list[str]:
        statuses = ["400", "401", "403", "404", "429"]
        if self.method in WRITE_METHODS:
            statuses.insert(4, "409")
        if self.method in {"POST", "PUT", "PATCH"}:
            statuses[-1:-1] = ["413", "415"]
        return statuses

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        for status in self._error_statuses():
            if status not in responses:
                responses[status] = {"description": ERROR_DESCRIPTIONS[status],
                                     "content": {"application/json": {"schema": error}}}
        return responses
