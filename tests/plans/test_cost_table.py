"""The cost-table parser and pricing (SPEC §2.3, §8.2): seed examples, boundaries, bad input, properties."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.plans.cost_table import (MAX_COUNTER, CostTableError, Item, canonical, evaluate, parse)

D = Decimal

# The seed's "Cost table example" section: (text, denied_from, flat fee, prices of positions 1..12).
SEED_EXAMPLES = [
    ("3:0;-1", 4, "0", ["0", "0", "0"] + [None] * 9),
    ("1:0;10:1.5;-1", 11, "0", ["0"] + ["1.5"] * 9 + [None] * 2),
    ("0:10;-1", 1, "10", [None] * 12),
    ("1:0;5:10;10:3;50:1", None, "0", ["0"] + ["10"] * 4 + ["3"] * 5 + ["1"] * 2),
    ("5:0;-1", 6, "0", ["0"] * 5 + [None] * 7),
    ("1:0", None, "0", ["0"] * 12),
    ("-1", 1, "0", [None] * 12),
]


@pytest.mark.parametrize(("text", "denied_from", "flat_fee", "prices"), SEED_EXAMPLES)
def test_seed_examples_price_every_position(text, denied_from, flat_fee, prices):
    table = parse(text)
    assert table.denied_from == denied_from
    assert table.flat_fee == D(flat_fee)
    assert [table.price(n) for n in range(1, 13)] == [None if p is None else D(p) for p in prices]


@pytest.mark.parametrize("text", [example[0] for example in SEED_EXAMPLES])
def test_seed_examples_are_their_own_canonical_form(text):
    assert canonical(text) == text


def test_seed_sms_example_totals():
    # "The first SMS is free, from second to tenth 1.5 each, the eleventh is denied."
    table = parse("1:0;10:1.5;-1")
    assert table.total(1) == D("0")
    assert table.total(10) == D("13.5")
    assert table.total(11) == D("13.5")  # positions from denied_from on are not summed
    assert table.range_total(0, 10) == D("13.5")
    assert table.range_total(0, 11) is None
    assert table.range_total(9, 1) == D("1.5")


def test_seed_avl_unit_example_total_over_every_tier():
    table = parse("1:0;5:10;10:3;50:1")
    # 1 free, 2–5 at 10, 6–10 at 3, 11–50 at 1, then 1 forever.
    assert table.total(60) == D(0 + 4 * 10 + 5 * 3 + 50 * 1)
    assert table.range_total(3, 4) == D(10 + 10 + 3 + 3)
    assert table.range_total(10_000, 10_000) == D(10_000)


def test_periodic_flat_fee_is_charged_whatever_the_count():
    table = parse("0:10;-1")
    assert table.total(0) == D(10)
    assert table.total(5) == D(10)
    assert table.allows(1) is False


def test_flat_fee_alone_leaves_positions_free_and_unlimited():
    table = parse("0:10")
    assert table.flat_fee == D(10)
    assert table.denied_from is None
    assert table.price(1) == D(0)
    assert table.total(1000) == D(10)
    assert table.is_free_unlimited is False


def test_flat_fee_then_tiers():
    table = parse("0:5;2:1;3")
    assert [table.price(n) for n in (1, 2, 3, 4)] == [D(1), D(1), D(3), D(3)]
    assert table.total(4) == D(5 + 1 + 1 + 3 + 3)
    assert table.canonical == "0:5;2:1;3:3"


def test_empty_table_is_free_and_unlimited():
    for text in ("", "   ", None):
        table = parse(text)
        assert table.items == ()
        assert table.is_free_unlimited
        assert table.denied_from is None
        assert table.total(10**6) == D(0)
        assert table.canonical == ""


def test_last_value_applies_past_the_last_counter():
    table = parse("2:1;4:2")
    assert table.price(5) == D(2)
    assert table.price(MAX_COUNTER + 10) == D(2)


@pytest.mark.parametrize("limit", [1, 3, 100])
def test_limit_boundaries(limit):
    table = parse(f"{limit}:2;-1")
    assert table.total(0) == D(0)
    assert table.allows(limit - 1) if limit > 1 else True
    assert table.allows(limit)
    assert not table.allows(limit + 1)
    assert table.price(limit) == D(2)
    assert table.price(limit + 1) is None
    assert table.total(limit - 1) == D(2 * (limit - 1))
    assert table.total(limit) == D(2 * limit)
    assert table.total(limit + 1) == D(2 * limit)
    assert table.range_total(0, limit) == D(2 * limit)
    assert table.range_total(0, limit + 1) is None
    assert table.range_total(limit, 1) is None
    assert table.max_allowed == limit


def test_negative_item_with_a_counter_denies_from_previous_counter_plus_one():
    table = parse("3:0;10:-1")
    assert table.denied_from == 4
    assert table.canonical == "3:0;-1"
    assert table.items[-1] == Item(4, D(-1))


def test_items_after_the_first_negative_are_validated_and_dropped():
    assert canonical("2:1;-5;7:3;9:-1") == "2:1;-1"
    with pytest.raises(CostTableError) as error:
        parse("2:1;-1;x")
    assert error.value.item == 3


def test_negative_first_item_with_counter_denies_everything():
    table = parse("5:-1")
    assert table.denied_from == 1
    assert table.canonical == "-1"


def test_implicit_counters_follow_the_previous_one():
    table = parse("2; 3 ;5:4;7")
    assert [(i.counter, i.value) for i in table.items] == [(1, D(2)), (2, D(3)), (5, D(4)), (6, D(7))]
    assert table.canonical == "1:2;2:3;5:4;6:7"


def test_bare_number_prices_every_position():
    table = parse("100")
    assert table.canonical == "1:100"
    assert table.total(3) == D(300)
    assert table.denied_from is None


@pytest.mark.parametrize(("text", "expected"), [
    ("1:1.50", "1:1.5"), ("1:1.0000", "1:1"), ("-0", "1:0"), ("1:-0.0", "1:0"), ("1:100", "1:100"),
    (" 1 : 0 ;  5:10 ; -1 ", "1:0;5:10;-1"), ("1:0;5:-2.5", "1:0;-1"), ("0:0.0001", "0:0.0001"),
])
def test_canonical_text(text, expected):
    assert canonical(text) == expected


@pytest.mark.parametrize(("text", "item", "reason"), [
    ("10:x", 1, "value 'x' is not a number"),
    ("1:0;2:1;10:x", 3, "value 'x' is not a number"),
    ("1:2:3", 1, "more than one ':'"),
    ("3:0;;-1", 2, "empty item"),
    ("3:0;-1;", 3, "empty item"),
    (";1", 1, "empty item"),
    ("5:1;3:2", 2, "counter 3 is not greater than the previous counter 5"),
    ("5:1;5:2", 2, "counter 5 is not greater"),
    ("1:5;0:3", 2, "counter 0 (the flat fee) is allowed only on the first item"),
    ("1:1.12345", 1, "more than 4 decimal places"),
    ("1,5", 1, "not a number"),
    (".5", 1, "not a number"),
    ("1.", 1, "not a number"),
    ("1e3", 1, "not a number"),
    ("+1", 1, "not a number"),
    ("a", 1, "not a number"),
    ("x:1", 1, "counter 'x' is not a whole number"),
    ("-2:1", 1, "counter '-2' is not a whole number"),
    ("1.5:1", 1, "counter '1.5' is not a whole number"),
    ("0:-1", 1, "flat fee (counter 0) cannot be negative"),
    ("1:1000000", 1, "above the maximum 999999.9999"),
    ("1:-1000000", 1, "above the maximum 999999.9999"),
    (f"{MAX_COUNTER + 1}:1", 1, "above the maximum 2147483647"),
    (f"{MAX_COUNTER}:1;2", 2, "implicit counter 2147483648 is above the maximum"),
])
def test_malformed_tables_name_the_item_and_the_reason(text, item, reason):
    with pytest.raises(CostTableError) as error:
        parse(text)
    assert error.value.item == item
    assert reason in error.value.reason
    assert str(error.value).startswith(f"item {item} (")


def test_error_message_shape():
    with pytest.raises(CostTableError) as error:
        parse("1:0;2:1;10:x")
    assert str(error.value) == "item 3 ('10:x'): value 'x' is not a number"
    assert isinstance(error.value, ValueError)


def test_too_long_text_is_refused_as_a_whole():
    with pytest.raises(CostTableError) as error:
        parse("1;" * 1500)
    assert error.value.item is None


def test_largest_values_are_accepted():
    table = parse(f"{MAX_COUNTER}:999999.9999;-1")
    assert table.denied_from == MAX_COUNTER + 1
    assert table.price(MAX_COUNTER) == D("999999.9999")
    assert table.total(MAX_COUNTER) == D("999999.9999") * MAX_COUNTER


def test_positions_start_at_one():
    table = parse("1:0")
    with pytest.raises(ValueError):
        table.price(0)
    with pytest.raises(ValueError):
        table.total(-1)
    with pytest.raises(ValueError):
        table.range_total(-1, 2)


def test_evaluate_body():
    body = evaluate("0:2;1:0;10:1.5;-1", 12)
    assert body == {
        "canonical": "0:2;1:0;10:1.5;-1",
        "total": "15.5000",
        "prices": ["0.0000"] + ["1.5000"] * 9 + [None, None],
        "flat_fee": "2.0000",
        "denied_from": 11,
    }
    assert evaluate("", 0) == {"canonical": "", "total": "0.0000", "prices": [], "flat_fee": "0.0000",
                               "denied_from": None}


@pytest.mark.parametrize("count", [-1, 10_001, "3", True, 1.5])
def test_evaluate_refuses_a_bad_count(count):
    with pytest.raises(ValueError):
        evaluate("1:1", count)


# --- properties -----------------------------------------------------------------------------------

values = st.decimals(min_value=D("-999999.9999"), max_value=D("999999.9999"), places=4,
                     allow_nan=False, allow_infinity=False)
non_negative_values = st.decimals(min_value=D(0), max_value=D("1000"), places=4,
                                  allow_nan=False, allow_infinity=False)


def _value_text(value: Decimal, style: int) -> str:
    """The same value written in different valid ways (trailing zeros, fixed point)."""
    text = format(value, "f")
    if style == 1 and "." not in text:
        text += ".0"
    if style == 2 and "." in text and len(text.split(".")[1]) < 4:
        text += "0"
    return text


@st.composite
def table_texts(draw, value_strategy=values):
    """Valid tables: optional flat fee, then items with increasing explicit or implicit counters."""
    parts, previous = [], None
    if draw(st.booleans()):
        parts.append(f"0:{_value_text(draw(non_negative_values), draw(st.integers(0, 2)))}")
        previous = 0
    for _ in range(draw(st.integers(0, 6))):
        value = _value_text(draw(value_strategy), draw(st.integers(0, 2)))
        if draw(st.booleans()):
            previous = (previous or 0) + draw(st.integers(1, 50))
            parts.append(f" {previous} : {value} ")
        else:
            previous = 1 if previous is None else previous + 1
            parts.append(value)
    return ";".join(parts)


@given(table_texts())
def test_canonical_text_round_trips(text):
    table = parse(text)
    again = parse(table.canonical)
    assert again == table
    assert again.canonical == table.canonical


@given(table_texts(value_strategy=non_negative_values), st.integers(0, 300))
def test_total_never_decreases_with_the_count_while_nothing_is_denied(text, count):
    table = parse(text)
    if table.allows(count + 1):
        assert table.total(count + 1) >= table.total(count)


@given(table_texts(), st.integers(0, 200))
def test_sum_of_marginal_prices_equals_the_total(text, count):
    table = parse(text)
    allowed = count if table.denied_from is None else min(count, table.denied_from - 1)
    marginal = sum((table.price(n) for n in range(1, allowed + 1)), D(0))
    assert table.total(count) == table.flat_fee + marginal


@given(table_texts(), st.integers(0, 150), st.integers(0, 150))
def test_range_total_matches_position_by_position(text, start, n):
    table = parse(text)
    prices = [table.price(p) for p in range(start + 1, start + n + 1)]
    expected = None if None in prices else sum(prices, D(0))
    assert table.range_total(start, n) == expected
