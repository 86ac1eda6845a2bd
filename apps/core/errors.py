"""Domain errors: raised by operations, turned into 4xx answers by the API and messages by the admin.

Every error has a machine ``code`` (API.md vocabulary), a human ``detail`` and optionally
``fields`` (field name → list of reasons).
"""

from collections.abc import Iterable, Sequence

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
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


def from_validation_error(error: ValidationError, order: Sequence[str] = ()) -> DomainError:
    """A model's ``ValidationError`` (``full_clean()``) as the operations raise it: its first field — the first
    of ``order`` that has an error, else the first the error names — with that field's first reason, so the
    API's body is the one a step-by-step check answered (``"<field>: <reason>"``, one field). A reason with
    ``code="does_not_exist"`` is ``DoesNotExist`` (a 400 with the same text as an absent id)."""
    by_field = getattr(error, "error_dict", None) or {NON_FIELD_ERRORS: error.error_list}
    name = next((n for n in order if n in by_field), next(iter(by_field)))
    first = by_field[name][0]
    if first.code == "does_not_exist":
        return DoesNotExist.field(name)
    return InvalidInput.field(name, next(iter(first)))


def full_clean(instance, *, exclude: Iterable[str] = (), order: Sequence[str] = ()) -> None:
    """``instance.full_clean()`` for an operation: its field validators and ``clean()`` (uniqueness and
    constraints are the operation's and the database's), a ``ValidationError`` raised as a ``DomainError``
    (``from_validation_error``)."""
    try:
        instance.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        raise from_validation_error(error, order) from None
