"""Money is a ``Decimal`` with 4 places; one rounding function, one display function."""

import re
from decimal import ROUND_HALF_UP, Decimal

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
    """A stored money value: exactly 4 places (no rounding beyond what ``Decimal`` holds)."""
    return Decimal(value).quantize(MONEY_PLACES, rounding=ROUND_HALF_UP)


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
    """``12.345`` with ``'€%.02f'`` → ``'€12.35'`` (2 places, half-up, text substitution)."""
    pattern = pattern or DEFAULT_CURRENCY_FORMAT
    text = str(Decimal(amount).quantize(DISPLAY_PLACES, rounding=ROUND_HALF_UP))
    if text == "-0.00":
        text = "0.00"
    return pattern.replace(_PLACEHOLDER, text, 1)


_DECIMAL_RE = re.compile(r"^-?\d+(\.\d{1,4})?$")


def parse_money(text: str) -> Decimal:
    """Strict parse of a money text with at most 4 places; ValueError with a reason otherwise."""
    text = str(text).strip()
    if not _DECIMAL_RE.match(text):
        raise ValueError(f"'{text}' is not an amount with at most 4 decimal places.")
    return Decimal(text)
