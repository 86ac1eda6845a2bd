"""API conventions shared by every app: permissions, pagination and the error shape.

Errors are ``{"detail": …, "code": …, "fields": {name: [reasons]}}`` with the statuses of SPEC §8.7.
"""

import datetime
import logging
import re

import django_filters
from django.utils.translation import gettext_lazy
from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, parsers, permissions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from . import tree
from .errors import DomainError

log = logging.getLogger(__name__)


# --- filters -----------------------------------------------------------------------------------------

ASCII_ID = re.compile(r"[0-9]{1,18}")


class IdField(forms.Field):
    """An id in a query: ASCII digits only (Python's ``int`` would read '１２' or '١٢' as 12)."""

    default_error_messages = {"invalid": _("Must be a whole number written with the digits 0-9.")}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if not ASCII_ID.fullmatch(str(value)):
            raise DjangoValidationError(self.error_messages["invalid"], code="invalid")
        return int(value)


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.Filter):
    """Filter on an id (``field_name`` is the column, e.g. ``account_id``); malformed → 400 naming it."""

    field_class = IdField


MAX_ID = 2**63 - 1  # a bigint: larger numbers are no id of ours (and overflow SQLite's integers)


def _is_id(data) -> bool:
    if isinstance(data, bool):
        return False
    if isinstance(data, int):
        return 0 < data <= MAX_ID
    return isinstance(data, str) and ASCII_ID.fullmatch(data) is not None and 0 < int(data) <= MAX_ID


class IdInputField(serializers.IntegerField):
    """An id in a body: a JSON integer, or a string of the digits 0-9 (never '１２' or '١٢', which
    Python's ``int`` reads as 12), from 1 to the largest bigint."""

    default_error_messages = {"invalid": _("Must be an id: a whole number written with the digits 0-9.")}

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or (isinstance(data, str) and not ASCII_ID.fullmatch(data)):
            self.fail("invalid")
        return super().to_internal_value(data)


class IdRelatedMixin:
    """For ``PrimaryKeyRelatedField``s: the same rule as ``IdInputField`` before the lookup, so a
    Unicode-digit or out-of-range id is refused as malformed, not matched nor overflowing."""

    def to_internal_value(self, data):
        if not _is_id(data):
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)


MAX_UTC_OFFSET = datetime.timedelta(hours=14)


class IsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date-time with a real-world UTC offset (−12:00 … +14:00; PostgreSQL refuses some
    offsets ISO allows), read in UTC."""

    default_error_messages = {"offset": _("The UTC offset must lie between -12:00 and +14:00.")}

    def to_python(self, value):
        parsed = super().to_python(value)
        offset = parsed.utcoffset() if parsed is not None else None
        if offset is None:
            return parsed
        if offset > MAX_UTC_OFFSET or offset < -datetime.timedelta(hours=12):
            raise DjangoValidationError(self.error_messages["offset"], code="invalid")
        return parsed.astimezone(datetime.UTC)


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = IsoDateTimeField


class ServiceFilterMixin(django_filters.FilterSet):
    """The platform operator's "Service" filter (SPEC §8.7), on every list: a top account id.
    ``service_field`` names the path from the row to its service id."""

    service_field = "service_id"
    service = IdFilter(method="filter_service", help_text=gettext_lazy("Top account id (the platform operator's service filter)."))

    def filter_service(self, queryset, name, value):
        return queryset.filter(**{self.service_field: value}) if value is not None else queryset


# --- parsing ---------------------------------------------------------------------------------------

MAX_JSON_DEPTH = 32


def _depth_exceeds(data, limit: int) -> bool:
    """True when ``data`` nests lists or objects deeper than ``limit`` (iterative: no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > limit:
                return True
            stack.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return False


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "request_too_large"


def _refuse_large_body(parser_context):
    request = (parser_context or {}).get("request")
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if request is None or limit is None:
        return
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise RequestTooLarge()


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with Django's body size limit and a nesting limit (a 1,000-deep body is 400,
    not a recursion error)."""

    def parse(self, stream, media_type=None, parser_context=None):
        _refuse_large_body(parser_context)
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(_("JSON parse error - nested too deeply.")) from None
        if _depth_exceeds(data, MAX_JSON_DEPTH):
            raise exceptions.ParseError(_("JSON parse error - nested deeper than %(n)d levels.")
                                        % {"n": MAX_JSON_DEPTH})
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        _refuse_large_body(parser_context)
        return super().parse(stream, media_type, parser_context)


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        _refuse_large_body(parser_context)
        return super().parse(stream, media_type, parser_context)


# --- pagination, permissions, errors ------------------------------------------------------------------

class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def operator_account_blocked(user) -> bool:
    """True when the operator's account or one of its ancestors is blocked."""
    account = getattr(user, "account", None)
    if account is None:
        return False
    return tree.is_blocked(account)


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
        # DRF's PermissionDenied (an APIException, same answer through ``exception_handler``): the
        # browsable API asks again for each form it might draw and expects exactly that class.
        if allowed is not None and not user.is_superuser and user.role not in allowed:
            raise exceptions.PermissionDenied(_("Your role may not use this endpoint."), code="permission_denied")
        if request.method not in permissions.SAFE_METHODS and not getattr(view, "allow_when_blocked", False):
            if operator_account_blocked(user):
                raise exceptions.PermissionDenied(
                    _("Your account is blocked: you may read but not change anything."), code="account_blocked")
        return True


def _field_errors(detail) -> dict[str, list[str]]:
    """DRF's nested error detail as ``{field: [reasons]}``, every value a list of strings: a reason
    about a part of a field starts with the part's path (``sensors`` → ``"1.type: … is not a valid
    choice."``, ``names`` → ``"3: Null characters are not allowed."``)."""
    out: dict[str, list[str]] = {}
    for path, reasons in _error_paths(detail).items():
        field, _dot, rest = path.partition(".")
        rest = "" if rest in ("", "non_field_errors") else rest.removesuffix(".non_field_errors")
        out.setdefault(field, []).extend(f"{rest}: {reason}" if rest else reason for reason in reasons)
    return out


def _error_paths(detail, prefix: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}

    def add(name, reasons):
        out.setdefault(name or "non_field_errors", []).extend(reasons)

    if isinstance(detail, dict):
        for key, value in detail.items():
            for name, reasons in _error_paths(value, f"{prefix}.{key}" if prefix else str(key)).items():
                add(name, reasons)
    elif isinstance(detail, list):
        for index, item in enumerate(detail):
            if isinstance(item, (dict, list)):
                nested = _error_paths(item, f"{prefix}.{index}" if prefix else str(index))
                for name, reasons in nested.items():
                    add(name, reasons)
            else:
                add(prefix, [str(item)])
    else:
        add(prefix, [str(detail)])
    return out


def _fields_body(fields: dict) -> dict:
    first = next(iter(fields.items()), None)
    summary = str(_("Invalid input."))
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
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, SuspiciousOperation):  # too many fields, a malformed multipart body…
        return Response({"detail": str(_("The request is malformed.")), "code": "invalid"},
                        status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        return Response({"detail": str(_("Not found.")), "code": "not_found"}, status=status.HTTP_404_NOT_FOUND)
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
