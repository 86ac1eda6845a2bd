"""The plan fields' own rules, as model field validators (``models.py``), so ``full_clean()`` checks them for
the operations, the admin's forms (``ModelForm._post_clean``) and the API (through the operations).

Each raises ``django.core.exceptions.ValidationError`` with the sentence the plan operations have always
answered (the translations' msgids) and a ``code``. No database access: rules that read other rows are in
``Plan.clean()`` / ``PlanService.clean()``. Cost-table syntax stays in ``cost_table.py``.
"""

import re

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, MaxLengthValidator, URLValidator
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext, gettext_lazy

from apps.core.money import currency_format_error

from . import cost_table

MAX_HISTORY_DAYS = 36_500
MAX_MIN_DAYS = 36_500
_RETRANSLATOR_RE = re.compile(r"^[A-Za-z0-9.*?_-]+:[0-9*?]{1,5}$")
_SENDER_NUMBER_RE = re.compile(r"^\+?[0-9]{3,15}$")
_SENDER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,10}$")
_COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")


@deconstructible
class AtMost(MaxLengthValidator):
    """A text's length, worded as the plan operations word it ("At most 100 characters.")."""

    message = gettext_lazy("At most %(max_length)s characters.")
    code = "max_length"

    def __call__(self, value):
        if value is not None and len(value) > self.limit_value:
            raise ValidationError(self.message, code=self.code, params={"max_length": self.limit_value})


@deconstructible
class Between:
    """A whole number between ``low`` and ``high`` (both included)."""

    def __init__(self, low: int, high: int):
        self.low, self.high = low, high

    def __call__(self, value):
        if value is not None and not self.low <= value <= self.high:
            raise ValidationError(gettext_lazy("Must be between %(low)s and %(high)s."), code="out_of_range",
                                  params={"low": self.low, "high": self.high})

    def __eq__(self, other):
        return isinstance(other, Between) and (self.low, self.high) == (other.low, other.high)


validate_plan_email = EmailValidator(message=gettext_lazy("Enter a valid e-mail address."))
validate_http_url = URLValidator(schemes=["https", "http"], message=gettext_lazy("Enter a valid http(s) address."))


def retranslator_mask_error(mask: str) -> str | None:
    """Why a retranslator mask is malformed: comma-separated ``host:port`` globs using ``*`` and ``?``."""
    for entry in (part.strip() for part in mask.split(",")):
        if not entry:
            return gettext("An empty entry: write host:port items separated by commas.")
        if not _RETRANSLATOR_RE.match(entry):
            return gettext("'%(entry)s' is not host:port (letters, digits, '.', '-', '*' and '?' in the host; digits, "
                           "'*' and '?' in the port).") % {"entry": entry}
        port = entry.rsplit(":", 1)[1]
        if port.isdigit() and not 1 <= int(port) <= 65535:
            return gettext("'%(entry)s': the port must be between 1 and 65535.") % {"entry": entry}
    return None


def sender_error(sender: str) -> str | None:
    """An SMS sender is a number (3–15 digits, optional leading +) or a name of at most 11 characters."""
    if _SENDER_NUMBER_RE.match(sender) or _SENDER_NAME_RE.match(sender):
        return None
    return gettext("A phone number (3–15 digits, optional +) or a name of at most 11 letters, digits, spaces, '.', "
                   "'_' or '-'.")


def _reason(error, code: str):
    """A validator from an ``…_error`` function answering a reason or None."""

    def validate(value):
        if value:
            reason = error(value)
            if reason:
                raise ValidationError(reason, code=code)

    return validate


def validate_currency_format(value):
    _reason(currency_format_error, "currency_format")(value)


def validate_retranslator_mask(value):
    _reason(retranslator_mask_error, "retranslator_mask")(value)


def validate_sender(value):
    _reason(sender_error, "sender")(value)


def validate_report_color(value):
    if value and not _COLOR_RE.match(value):
        raise ValidationError(gettext_lazy("A colour like #1f6feb."), code="color")


def validate_cost_table(value):
    """The cost table's syntax (``cost_table.parse``); the flat-fee rule needs the row (``PlanService.clean``)."""
    try:
        cost_table.parse(value or "")
    except cost_table.CostTableError as error:
        raise ValidationError(str(error), code="cost_table") from None
