"""Cost tables: the price and the limit of a service, as text like ``1:0;10:1.5;-1`` (SPEC §2.3, §8.2).

Pure: no database (Django only to translate messages). The billing kernel prices positions with
it; plan forms, the API and CSV imports validate with it; the admin calculator shows ``evaluate``.

Semantics, in short:

1. Items are separated by ``;``; an item is ``COUNTER:VALUE`` or a bare ``VALUE``, whose counter is
   the previous item's counter + 1 (1 for the first item).
2. Counters strictly increase; ``0`` is allowed only on the first item and makes it a flat fee,
   charged every period whatever the count. It never prices positions.
3. The price of position *n* (n ≥ 1) is the value of the first pricing item whose counter ≥ n;
   past the last counter the last item's value applies.
4. The first negative item denies its position and every later one. Its position is the previous
   item's counter + 1, whatever counter it was written with; later items are still validated but
   carry no meaning, so the canonical text drops them and writes the denial as a bare ``-1``.

Sums over positions are computed per item (O(items)), never per position, because the kernel prices
thousands of positions for each of many accounts.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from django.utils.translation import gettext, ngettext

MAX_COUNTER = 2_147_483_647
MAX_VALUE = Decimal("999999.9999")
MAX_TEXT_LENGTH = 2000
"""The longest text, given or canonical: the ``cost_table`` columns' ``max_length``."""
MAX_EVALUATE_COUNT = 10_000
"""Most positions ``evaluate`` lists one by one (the calculator's ``prices``)."""

# ASCII digits only (SPEC §9.1): ``\d``, ``int()`` and ``Decimal()`` would also take '١٢' or '１２'.
_VALUE_RE = re.compile(r"-?[0-9]+(?:\.[0-9]{1,4})?", re.ASCII)
_TOO_PRECISE_RE = re.compile(r"-?[0-9]+\.[0-9]{5,}", re.ASCII)
_COUNTER_RE = re.compile(r"[0-9]+", re.ASCII)
_COUNTER_DIGITS = len(str(MAX_COUNTER))
_SPACE = " \t\r\n\f\v"
"""The spaces ignored around tokens: ASCII ones (``str.strip()`` would also drop U+3000 and U+001C)."""
_PLACES = Decimal("0.0001")
_DENIAL = Decimal("-1")


def _shown(text: str, limit: int = 40) -> str:
    """A token as a message quotes it: long ones cut (a 2,000-digit value is not repeated in full)."""
    return text if len(text) <= limit else text[:limit] + "…"


class CostTableError(ValueError):
    """A malformed cost table. ``item`` is the 1-based position of the faulty item (None when the
    fault is in the text as a whole); ``reason`` says what is wrong with it."""

    def __init__(self, reason: str, *, item: int | None = None, text: str | None = None):
        self.item = item
        self.reason = reason
        self.item_text = text
        if item is None:
            message = reason
        else:
            message = gettext("item %(item)d (%(text)s): %(reason)s") % {"item": item, "text": repr(_shown(text)),
                                                                             "reason": reason}
        super().__init__(message)


@dataclass(frozen=True)
class Item:
    """One item after implicit counters are filled in. A negative value is the denial."""

    counter: int
    value: Decimal

    @property
    def is_flat_fee(self) -> bool:
        return self.counter == 0

    @property
    def is_denial(self) -> bool:
        return self.value < 0


def _format_value(value: Decimal) -> str:
    """``1.50`` → ``1.5``, ``100`` → ``100``, ``-0`` → ``0``: fixed point, no trailing zeros."""
    if value == 0:
        return "0"
    text = format(value.quantize(_PLACES), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _money(value: Decimal) -> Decimal:
    return value.quantize(_PLACES)


@dataclass(frozen=True)
class CostTable:
    """A parsed, normalised cost table. Two tables are equal when they price everything alike."""

    items: tuple[Item, ...] = ()
    flat_fee: Decimal = Decimal("0.0000")
    denied_from: int | None = None
    # Pricing items only (no flat fee, no denial), as (first position, last position or None, value).
    _segments: tuple[tuple[int, int | None, Decimal], ...] = field(default=(), repr=False, compare=False)
    _starts: tuple[int, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self):
        segments, previous = [], 0
        pricing = [i for i in self.items if not i.is_flat_fee and not i.is_denial]
        for index, item in enumerate(pricing):
            last = item.counter if index < len(pricing) - 1 or self.denied_from is not None else None
            segments.append((previous + 1, last, item.value))
            previous = item.counter
        object.__setattr__(self, "_segments", tuple(segments))
        object.__setattr__(self, "_starts", tuple(first for first, _, _ in segments))

    # --- text -------------------------------------------------------------------------------------

    @cached_property
    def canonical(self) -> str:
        parts = []
        for item in self.items:
            if item.is_denial:
                parts.append("-1")
            else:
                parts.append(f"{item.counter}:{_format_value(item.value)}")
        return ";".join(parts)

    def __str__(self) -> str:
        return self.canonical

    # --- positions --------------------------------------------------------------------------------

    def allows(self, position: int) -> bool:
        """Whether position ``position`` (1-based) may be used at all."""
        _require_position(position)
        return self.denied_from is None or position < self.denied_from

    def price(self, n: int) -> Decimal | None:
        """The price of the n-th object or use (n ≥ 1), or None when that position is denied."""
        if not self.allows(n):
            return None
        if not self._segments:
            return _money(Decimal(0))  # no pricing item: free (e.g. a flat fee alone, or an empty table)
        _, _, value = self._segments[max(bisect_right(self._starts, n) - 1, 0)]
        return _money(value)  # the last item starting at or before n (n below the first item: the first)

    def range_total(self, start: int, n: int) -> Decimal | None:
        """The sum of the prices of positions ``start + 1`` … ``start + n``, or None when any of them
        is denied. The flat fee is not included. O(items): each item adds price × overlap."""
        if start < 0 or n < 0:
            raise ValueError("start and n must be 0 or more.")
        if n == 0:
            return _money(Decimal(0))
        low, high = start + 1, start + n
        if self.denied_from is not None and high >= self.denied_from:
            return None
        return self._sum_positions(low, high)

    def total(self, count: int) -> Decimal:
        """Flat fee + the prices of positions 1 … min(count, denied_from − 1): a period's charge."""
        if count < 0:
            raise ValueError("count must be 0 or more.")
        allowed = count if self.denied_from is None else min(count, self.denied_from - 1)
        return _money(self.flat_fee + (self._sum_positions(1, allowed) if allowed > 0 else Decimal(0)))

    def _sum_positions(self, low: int, high: int) -> Decimal:
        """Σ price(p) for low ≤ p ≤ high, all of them allowed: price × overlap for each item the range
        touches, starting at the item holding ``low`` (found by bisection)."""
        total = Decimal(0)
        start = max(bisect_right(self._starts, low) - 1, 0)
        for first, last, value in self._segments[start:]:
            if first > high:
                break
            overlap_low = max(low, first)
            overlap_high = high if last is None else min(high, last)
            if overlap_high >= overlap_low:
                total += value * (overlap_high - overlap_low + 1)
        return _money(total)

    @property
    def is_free_unlimited(self) -> bool:
        """No flat fee, no limit, every position free (e.g. the empty table, or ``1:0``)."""
        return self.denied_from is None and self.flat_fee == 0 and all(v == 0 for _, _, v in self._segments)

    @property
    def max_allowed(self) -> int | None:
        """How many positions may be used (``denied_from − 1``), None when unlimited."""
        return None if self.denied_from is None else self.denied_from - 1


def _require_position(position: int):
    if position < 1:
        raise ValueError("Positions start at 1.")


FREE_UNLIMITED = CostTable()


def _parse_counter(token: str, number: int, raw: str) -> int:
    if not _COUNTER_RE.fullmatch(token):
        raise CostTableError(gettext("counter %(token)s is not a whole number") % {"token": repr(_shown(token))},
                             item=number, text=raw)
    if len(token.lstrip("0")) > _COUNTER_DIGITS:  # no int() of thousands of digits
        raise CostTableError(gettext("counter %(counter)s is above the maximum %(maximum)s") % {
            "counter": _shown(token), "maximum": MAX_COUNTER}, item=number, text=raw)
    counter = int(token)
    if counter > MAX_COUNTER:
        raise CostTableError(gettext("counter %(counter)s is above the maximum %(maximum)s") % {
            "counter": counter, "maximum": MAX_COUNTER}, item=number, text=raw)
    return counter


def _parse_value(token: str, number: int, raw: str) -> Decimal:
    if not _VALUE_RE.fullmatch(token):
        if _TOO_PRECISE_RE.fullmatch(token):
            reason = gettext("value %(token)s has more than 4 decimal places") % {"token": repr(_shown(token))}
        else:
            reason = gettext("value %(token)s is not a number") % {"token": repr(_shown(token))}
        raise CostTableError(reason, item=number, text=raw)
    value = Decimal(token)
    if abs(value) > MAX_VALUE:
        raise CostTableError(gettext("value %(value)s is above the maximum %(maximum)s") % {
            "value": _shown(token), "maximum": MAX_VALUE}, item=number, text=raw)
    return value + 0  # turns -0 into 0


def parse(text: str) -> CostTable:
    """Parse a cost table; raise ``CostTableError`` naming the first faulty item and why.

    Steps: split on ``;``; for each item parse counter and value, fill an implicit counter with
    previous + 1, check the counter order; keep items up to the first negative one (normalised to
    a denial at previous + 1) and only validate the rest.
    """
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise CostTableError(gettext("a cost table is text"))
    if len(text) > MAX_TEXT_LENGTH:
        raise CostTableError(gettext("the table is longer than %(limit)d characters") % {"limit": MAX_TEXT_LENGTH})
    if not text.strip(_SPACE):
        return FREE_UNLIMITED

    kept: list[Item] = []
    denied_from: int | None = None
    previous: int | None = None  # counter of the item before, None before the first
    for number, raw in enumerate(text.split(";"), start=1):
        token = raw.strip(_SPACE)
        if not token:
            raise CostTableError(gettext("empty item (two ';' in a row, or a ';' at the start or the end)"),
                                 item=number, text=raw)
        parts = token.split(":")
        if len(parts) > 2:
            raise CostTableError(gettext("more than one ':' (write COUNTER:VALUE)"), item=number, text=token)
        if len(parts) == 2:
            counter = _parse_counter(parts[0].strip(_SPACE), number, token)
            value = _parse_value(parts[1].strip(_SPACE), number, token)
        else:
            counter = None
            value = _parse_value(parts[0], number, token)

        if counter is None:
            counter = 1 if previous is None else previous + 1
            if counter > MAX_COUNTER and value >= 0:  # a denial's own counter carries no meaning
                raise CostTableError(gettext("the implicit counter %(counter)s is above the maximum %(maximum)s") % {
                    "counter": counter, "maximum": MAX_COUNTER},
                                     item=number, text=token)
        elif counter == 0 and previous is not None:
            raise CostTableError(gettext("counter 0 (the flat fee) is allowed only on the first item"),
                                 item=number, text=token)
        elif previous is not None and counter <= previous:
            raise CostTableError(gettext("counter %(counter)s is not greater than the previous counter %(previous)s") % {
                "counter": counter, "previous": previous},
                                 item=number, text=token)
        if counter == 0 and value < 0:
            raise CostTableError(gettext("the flat fee (counter 0) cannot be negative"), item=number, text=token)

        if denied_from is None:
            if value < 0:
                denied_from = (previous or 0) + 1
                kept.append(Item(denied_from, _DENIAL))
            else:
                kept.append(Item(counter, value))
        previous = counter

    flat_fee = kept[0].value if kept[0].is_flat_fee else Decimal(0)
    table = CostTable(items=tuple(kept), flat_fee=_money(flat_fee), denied_from=denied_from)
    # The canonical text writes every implicit counter, so a short text may not fit its column
    # (``1;1;1;…`` grows to ``1:1;2:1;3:1;…``): refused here, before any save or calculation.
    if len(table.canonical) > MAX_TEXT_LENGTH:
        raise CostTableError(gettext(
            "the table's canonical form (every counter written out) is %(length)d characters long, more than the "
            "%(limit)d a cost table may hold") % {"length": len(table.canonical), "limit": MAX_TEXT_LENGTH})
    return table


def canonical(text: str) -> str:
    """The canonical text of a table (raises ``CostTableError`` when it is malformed)."""
    return parse(text).canonical


def _money_text(value: Decimal | None) -> str | None:
    return None if value is None else format(_money(value), "f")


def evaluate(text: str, count: int) -> dict:
    """The calculator's answer (``POST /api/v1/cost-tables/evaluate/``) for the first ``count`` positions.

    Money is a string with 4 places, as everywhere in the API; ``prices`` are null from
    ``denied_from`` on.
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_EVALUATE_COUNT:
        raise ValueError(f"count must be a whole number from 0 to {MAX_EVALUATE_COUNT}.")
    table = parse(text)
    return {
        "canonical": table.canonical,
        "total": _money_text(table.total(count)),
        "prices": [_money_text(table.price(n)) for n in range(1, count + 1)],
        "flat_fee": _money_text(table.flat_fee),
        "denied_from": table.denied_from,
    }


def denial_warnings(text: str) -> list[str]:
    """What a valid table's negative item does when it is written as anything but a closing bare ``-1``
    (``1:-0.5``, ``3:0;10:-1``, ``1:1;-1;5:2``): it denies the service from its position on, which the
    canonical text shows only as ``-1``. Translated sentences for the admin and the calculator; an empty list
    when the table has no denial or writes it plainly. Raises ``CostTableError`` as ``parse`` does."""
    table = parse(text)
    if table.denied_from is None:
        return []
    items = text.split(";")
    for number, raw in enumerate(items, start=1):
        token = raw.strip(_SPACE)
        parts = token.split(":")
        value = Decimal(parts[-1].strip(_SPACE))
        if value < 0:
            break
    written_counter = int(parts[0].strip(_SPACE)) if len(parts) == 2 else None
    dropped = len(items) - number
    if value == _DENIAL and not dropped and written_counter in (None, table.denied_from):
        return []
    position = table.denied_from
    if position == 1:
        sentence = gettext("Item %(item)d (%(text)s) denies the service from position 1 on: every use is denied.")
    else:
        sentence = gettext("Item %(item)d (%(text)s) denies the service from position %(position)d on: at most "
                           "%(allowed)d allowed.")
    parts_out = [sentence % {"item": number, "text": _shown(token), "position": position, "allowed": position - 1}]
    if value != _DENIAL:
        parts_out.append(gettext("A negative value is a limit, not a price; it is saved as -1."))
    if written_counter is not None and written_counter != position:
        parts_out.append(gettext("Its counter %(counter)d does not move the limit: a denial starts right after "
                                 "the previous item.") % {"counter": written_counter})
    if dropped:
        parts_out.append(ngettext("The item after it is dropped.", "The %(count)d items after it are dropped.",
                                  dropped) % {"count": dropped})
    return [" ".join(parts_out)]
