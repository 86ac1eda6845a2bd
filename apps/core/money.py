"""Money is a ``Decimal`` with 4 places; one rounding function (``round_money``, to the 4 stored places,
half up), one display function (``format_money``, which rounds the same way to the 2 places it shows)."""

import re
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext

from .errors import InvalidInput

MONEY_PLACES = Decimal("0.0001")
DISPLAY_PLACES = Decimal("0.01")
MONEY_MAX_DIGITS = 16
MONEY_DECIMAL_PLACES = 4
DEFAULT_CURRENCY_FORMAT = "%.02f"
_PLACEHOLDER = "%.02f"

ZERO = Decimal("0.0000")


def round_money(value: Decimal) -> Decimal:
    """Round to 4 places, half-up. Used only after a division."""
    return Decimal(value).quantize(MONEY_PLACES, rounding=ROUND_HALF_UP)


def as_money(value) -> Decimal:
    """A stored money value: exactly 4 places (``round_money`` of any value ``Decimal`` takes)."""
    return round_money(value)


def money_text(value) -> str:
    """A money value as the API writes it: 4 places, fixed point (``-0.0100``)."""
    return format(as_money(value), "f")


def currency_format_error(pattern: str) -> str | None:
    """Why ``pattern`` is not a valid currency format, or None when it is."""
    if len(pattern) > 20:
        return "At most 20 characters."
    if pattern.count(_PLACEHOLDER) != 1:
        return "Must contain %.02f exactly once, e.g. '%.02f $' or '€%.02f'."
    if "%" in pattern.replace(_PLACEHOLDER, ""):
        return "No '%' other than the one in %.02f."
    return None


def format_money(amount: Decimal, pattern: str | None = None) -> str:
    """``1234.565`` with ``'€%.02f'`` → ``'€1,234.57'`` (2 places, half-up, a comma between thousands, put
    into the pattern as text: never ``pattern % Decimal``). ``-0.004`` shows as ``0.00``."""
    pattern = pattern or DEFAULT_CURRENCY_FORMAT
    value = Decimal(amount).quantize(DISPLAY_PLACES, rounding=ROUND_HALF_UP)
    if value == 0:
        value = abs(value)
    return pattern.replace(_PLACEHOLDER, format(value, ",f"), 1)


def currency_example(pattern: str | None) -> str:
    """How a currency pattern shows an amount (``'€%.02f'`` → ``'€1,234.50'``): the pattern's example."""
    return format_money(Decimal("1234.50"), pattern)


# ASCII digits only: ``\d`` (and ``int()``/``Decimal()``) also take '١٢' or '１２'. No sign but a leading
# minus, no exponent, no spaces, no NaN or Infinity: an amount is written one way.
_AMOUNT_RE = re.compile(r"-?[0-9]+(?:\.[0-9]{1,4})?", re.ASCII)
_TOO_PRECISE_RE = re.compile(r"-?[0-9]+\.[0-9]{5,}", re.ASCII)
MAX_INTEGER_DIGITS = MONEY_MAX_DIGITS - MONEY_DECIMAL_PLACES
AMOUNT_LIMIT = Decimal(10) ** MAX_INTEGER_DIGITS
"""Every amount is below this in absolute value (12 digits before the point, 4 after: ``max_digits`` 16)."""
AMOUNT_PATTERN = rf"^-?[0-9]{{1,{MAX_INTEGER_DIGITS}}}(\.[0-9]{{1,4}})?$"
"""The amount syntax as a JSON-schema pattern (for the OpenAPI schema)."""


class MoneyError(ValueError):
    """Not an amount; ``reason`` says why (translated, shown under the field)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _syntax_reason() -> str:
    return gettext("Not an amount: write digits 0-9, an optional leading minus and at most 4 decimal places "
                   "after a point, e.g. 12.5 or -3.25.")


def parse_money(value) -> Decimal:
    """The one strict parser of amounts (payments, opening payments, thresholds): ``MoneyError`` otherwise.

    Text must match ``-?[0-9]+(.[0-9]{1,4})?`` exactly (ASCII digits; no ``1e3``, ``NaN``, ``Infinity``,
    ``+1``, ``1,5``, ``.5`` or surrounding spaces). A whole ``int`` and a finite ``Decimal`` with at most 4
    places are taken as they are (operations called from code); a ``float`` (a JSON number) is refused
    because ``1e3`` and ``1000.0`` are the same float. The result has exactly 4 places and fewer than 13
    digits before the point.
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise MoneyError(gettext('Write the amount as a decimal string, e.g. "12.50".'))
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise MoneyError(_syntax_reason())
        if abs(value) >= AMOUNT_LIMIT:
            raise MoneyError(_too_large_reason())
        if value.as_tuple().exponent < -MONEY_DECIMAL_PLACES and value != value.quantize(MONEY_PLACES):
            raise MoneyError(gettext("At most 4 decimal places."))
        amount = value
    elif isinstance(value, str):
        if not _AMOUNT_RE.fullmatch(value):
            if _TOO_PRECISE_RE.fullmatch(value):
                raise MoneyError(gettext("At most 4 decimal places."))
            raise MoneyError(_syntax_reason())
        integer = value.lstrip("-").split(".")[0].lstrip("0")
        if len(integer) > MAX_INTEGER_DIGITS:  # checked on the text: no Decimal of a million digits
            raise MoneyError(_too_large_reason())
        amount = Decimal(value)
    else:
        raise MoneyError(_syntax_reason())
    if abs(amount) >= AMOUNT_LIMIT:
        raise MoneyError(_too_large_reason())
    return amount.quantize(MONEY_PLACES) + 0  # -0 is 0


def _too_large_reason() -> str:
    return gettext("At most %(digits)d digits before the point.") % {"digits": MAX_INTEGER_DIGITS}


def clean_money(value, field: str) -> Decimal:
    """``parse_money`` for an operation: ``InvalidInput`` (400) naming ``field`` when it is not an amount."""
    try:
        return parse_money(value)
    except MoneyError as error:
        raise InvalidInput.field(field, error.reason) from None
