"""API conventions shared by every app: permissions, pagination and the error shape.

Errors are ``{"detail": …, "code": …, "fields": {name: [reasons]}}`` with the statuses of SPEC §8.7.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, permissions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from .errors import DomainError, Forbidden

log = logging.getLogger(__name__)


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def operator_account_blocked(user) -> bool:
    """True when the operator's account or one of its ancestors is blocked."""
    account = getattr(user, "account", None)
    if account is None:
        return False
    from apps.accounts.queries import is_blocked

    return is_blocked(account)


class IsOperator(permissions.BasePermission):
    """An active operator; writes refused (403 ``account_blocked``) while its account is blocked.

    Views narrow the roles with ``allowed_roles`` (a set of role names; the platform operator always
    passes); a role outside it answers 403, as SPEC §8.7 wants for "a role that may never use it".
    """

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        allowed = getattr(view, "allowed_roles", None)
        if allowed is not None and not user.is_superuser and user.role not in allowed:
            raise Forbidden("Your role may not use this endpoint.", code="permission_denied")
        if request.method not in permissions.SAFE_METHODS and not getattr(view, "allow_when_blocked", False):
            if operator_account_blocked(user):
                raise Forbidden("Your account is blocked: you may read but not change anything.",
                                code="account_blocked")
        return True


def _field_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as ``{field: [reasons]}``; a nested field is named by its path
    (``sensors.1.type``, ``names.3``), so every value of ``fields`` is a list of strings."""
    out: dict[str, list[str]] = {}

    def add(name, reasons):
        out.setdefault(name or "non_field_errors", []).extend(reasons)

    if isinstance(detail, dict):
        for key, value in detail.items():
            for name, reasons in _field_errors(value, f"{prefix}.{key}" if prefix else str(key)).items():
                add(name, reasons)
    elif isinstance(detail, list):
        for index, item in enumerate(detail):
            if isinstance(item, (dict, list)):
                nested = _field_errors(item, f"{prefix}.{index}" if prefix else str(index))
                for name, reasons in nested.items():
                    add(name, reasons)
            else:
                add(prefix, [str(item)])
    else:
        add(prefix, [str(detail)])
    return out


def _fields_body(fields: dict) -> dict:
    first = next(iter(fields.items()), None)
    summary = "Invalid input."
    if first:
        name, reasons = first
        reason = reasons[0] if isinstance(reasons, list) and reasons else reasons
        summary = f"{name}: {reason}" if name != "non_field_errors" else str(reason)
    return {"detail": summary, "code": "invalid", "fields": fields}


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.status)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "message_dict"):
            fields = {("non_field_errors" if k == "__all__" else k): v for k, v in exc.message_dict.items()}
        else:
            fields = {"non_field_errors": exc.messages}
        return Response(_fields_body(fields), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        fields = _field_errors(detail if isinstance(detail, (dict, list)) else [detail])
        return Response(_fields_body(fields), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        return Response({"detail": "Not found.", "code": "not_found"}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    from rest_framework.views import exception_handler as drf_exception_handler  # avoids an import cycle

    response = drf_exception_handler(exc, context)
    if response is not None:
        code = getattr(exc, "default_code", "error")
        if isinstance(exc, exceptions.APIException):
            codes = exc.get_codes()
            code = codes if isinstance(codes, str) else code
        response.data = {"detail": str(getattr(exc, "detail", exc)), "code": code}
        return response
    log.exception("Unhandled API error", exc_info=exc)
    return None
