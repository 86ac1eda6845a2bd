"""Domain errors: raised by operations, turned into 4xx answers by the API and messages by the admin.

Every error has a machine ``code`` (API.md vocabulary), a human ``detail`` and optionally
``fields`` (field name → list of reasons).
"""

from django.utils.translation import gettext


class DomainError(Exception):
    status = 400
    default_code = "invalid"

    def __init__(self, detail: str, *, code: str | None = None, fields: dict | None = None, extra: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.fields = fields or {}
        self.extra = extra or {}

    def as_dict(self) -> dict:
        body = {"detail": self.detail, "code": self.code}
        if self.fields:
            body["fields"] = self.fields
        body.update(self.extra)
        return body


class InvalidInput(DomainError):
    """Malformed input (400 ``invalid``)."""

    status = 400

    @classmethod
    def field(cls, name: str, reason: str) -> "InvalidInput":
        return cls(f"{name}: {reason}", fields={name: [reason]})


class DoesNotExist(DomainError):
    """An id in a body that is out of scope or absent (400 ``does_not_exist``, same text either way)."""

    status = 400
    default_code = "does_not_exist"

    @classmethod
    def field(cls, name: str) -> "DoesNotExist":
        detail = gettext("no such object.")  # the detail's lower-case reason after the field's name
        return cls(f"{name}: {detail}", fields={name: [gettext("No such object.")]})


class Forbidden(DomainError):
    """A rights refusal (403): ``outside_branch``, ``account_blocked``, ``billing_by_codes_off``…"""

    status = 403
    default_code = "permission_denied"


class NotFound(DomainError):
    status = 404
    default_code = "not_found"


class Conflict(DomainError):
    """409: ``code_busy``, ``plan_in_use``, ``confirmation_required``, ``idempotency_key_reused``."""

    status = 409
    default_code = "conflict"
