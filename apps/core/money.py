"""Money is a ``Decimal`` with 4 places; one rounding function (``round_money``, to the 4 stored places,
half up), one display function (``format_money``, which rounds the same way to the 2 places it shows)."""

import re
from decimal import ROUND_HALF_UP, Decimal

from django.utils import formats
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
        return gettext("At most 20 characters.")
    if pattern.count(_PLACEHOLDER) != 1:
        return gettext("Must contain %(placeholder)s exactly once, e.g. %(first)s or %(second)s.") % {
            "placeholder": _PLACEHOLDER, "first": f"'{_PLACEHOLDER} $'", "second": f"'€{_PLACEHOLDER}'"}
    if "%" in pattern.replace(_PLACEHOLDER, ""):
        return gettext("No %(sign)s other than the one in %(placeholder)s.") % {"sign": "'%'", "placeholder": _PLACEHOLDER}
    return None


def separators() -> tuple[str, str]:
    """The active language's decimal and thousands separators (Django's formats: ``.``/``,`` in English,
    ``,`` and a no-break space in French and Spanish)."""
    return formats.get_format("DECIMAL_SEPARATOR"), formats.get_format("THOUSAND_SEPARATOR")


def format_amount(value: Decimal) -> str:
    """A number as text in the active language's format, thousands grouped: ``1234.5`` → ``1,234.5`` in
    English, ``1 234,5`` in French. The value's own places are kept (no rounding here)."""
    decimal_separator, thousand_separator = separators()
    return format(Decimal(value), ",f").translate({ord(","): thousand_separator, ord("."): decimal_separator})


def format_money(amount: Decimal, pattern: str | None = None) -> str:
    """``1234.565`` with ``'€%.02f'`` → ``'€1,234.57'`` in English, ``'€1 234,57'`` in French (2 places,
    half-up, thousands grouped in the active language's format, put into the pattern as text: never
    ``pattern % Decimal``; the pattern still decides the symbol and its place). ``-0.004`` shows as ``0.00``."""
    pattern = pattern or DEFAULT_CURRENCY_FORMAT
    value = Decimal(amount).quantize(DISPLAY_PLACES, rounding=ROUND_HALF_UP)
    if value == 0:
        value = abs(value)
    return pattern.replace(_PLACEHOLDER, format_amount(value), 1)


def currency_example(pattern: str | None) -> str:
    """How a currency pattern shows an amount (``'€%.02f'`` → ``'€1,234.50'``): the pattern's example."""
    return format_money(Decimal("1234.50"), pattern)


def format_money_input(value) -> str:
    """An amount as a form shows it to be edited: the active language's format, thousands grouped, at
    least 2 places and no rounding (``-7.5000`` → ``-7.50``, ``12.3456`` → ``12.3456``, ``1 234,50`` in
    French). ``parse_localized_money`` reads it back."""
    value = Decimal(value)
    if value == 0:
        value = abs(value)
    places = max(2, -value.normalize().as_tuple().exponent) if value.is_finite() else 2
    return format_amount(value.quantize(Decimal(1).scaleb(-places)))


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


# --- amounts typed in a form, in the active language's format (SPEC §9.8: forms accept the language's format)

_SPACES = " \u00a0\u202f"  # a space, a no-break space, a narrow no-break space: one separator to a reader


def _localized_amount_re(decimal_separator: str, thousand_separator: str) -> re.Pattern:
    group = re.escape(thousand_separator) if thousand_separator not in _SPACES else f"[{_SPACES}]"
    return re.compile(rf"(-?)([0-9]{{1,3}}(?:{group}[0-9]{{3}})+|[0-9]+)(?:{re.escape(decimal_separator)}([0-9]+))?",
                      re.ASCII)


def _localized_syntax_reason() -> str:
    return gettext("Not an amount: write digits 0-9, an optional leading minus and at most 4 decimal places, "
                   "e.g. %(example)s or %(negative)s.") % {"example": format_amount(Decimal("1234.50")),
                                                          "negative": format_amount(Decimal("-3.25"))}


def parse_localized_money(value) -> Decimal:
    """An amount typed in a form: what the form shows (``format_money_input``) in the active language, i.e.
    ``1 234,50`` or ``1234,50`` in French and Spanish, ``1,234.50`` or ``1234.50`` in English; then the
    strict ``parse_money``. Groups are exactly 3 digits (``1,5`` and ``12 34,5`` are refused); the other
    language's separator is refused (``12.50`` in French), never guessed; no surrounding spaces, no sign but a
    leading minus, ASCII digits only. Anything but text goes to ``parse_money`` as it is."""
    if not isinstance(value, str):
        return parse_money(value)
    decimal_separator, thousand_separator = separators()
    match = _localized_amount_re(decimal_separator, thousand_separator).fullmatch(value)
    if match is None:
        raise MoneyError(_localized_syntax_reason())
    sign, integer, fraction = match.groups()
    canonical = sign + re.sub("[^0-9]", "", integer) + (f".{fraction}" if fraction is not None else "")
    return parse_money(canonical)  # at most 4 places, at most 12 digits before the separator
