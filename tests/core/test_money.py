"""The one strict amount parser (SPEC §8.4, §9.1): ASCII digits, an optional minus, at most 4 places."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.core.errors import InvalidInput
from apps.core.money import AMOUNT_LIMIT, MoneyError, clean_money, parse_money

D = Decimal

NOT_AMOUNTS = [
    "1e3", "1E3", "1e-3", "NaN", "nan", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "+1", " 1", "1 ", "\t1",
    "1\n", "١٢", "１２", "۱۲", "१२", "12٫5", "1,5", ".5", "1.", "-", "", " ", "1_000", "0x10", "--1", "1.2.3",
    "1.23456", "\u200b1", "1\x00", "Ⅻ", "²",
]


@pytest.mark.parametrize("text", NOT_AMOUNTS)
def test_these_are_not_amounts(text):
    with pytest.raises(MoneyError):
        parse_money(text)


@pytest.mark.parametrize(("text", "value"), [
    ("12", "12.0000"), ("-3.25", "-3.2500"), ("0", "0.0000"), ("-0", "0.0000"), ("007.5", "7.5000"),
    ("999999999999.9999", "999999999999.9999"), ("-999999999999.9999", "-999999999999.9999"),
])
def test_amounts_parse_to_four_places(text, value):
    parsed = parse_money(text)
    assert parsed == D(value) and str(parsed) == value


@pytest.mark.parametrize("text", ["1000000000000", "-1000000000000", "9" * 13, "1" + "0" * 5000])
def test_at_most_twelve_digits_before_the_point(text):
    with pytest.raises(MoneyError) as refused:
        parse_money(text)
    assert "12 digits" in refused.value.reason


def test_values_from_code_ints_and_decimals_are_taken_floats_and_bools_are_not():
    assert parse_money(5) == D("5.0000")
    assert parse_money(D("1E+3")) == D("1000.0000")  # an exact Decimal from code, not the text '1e3'
    assert parse_money(D("1.50000")) == D("1.5")
    for value in (1.5, 1e3, True, None, D("NaN"), D("Infinity"), D("1.00001"), D("1E+12"), [1]):
        with pytest.raises(MoneyError):
            parse_money(value)


def test_clean_money_names_the_field():
    with pytest.raises(InvalidInput) as refused:
        clean_money("1e3", "block_balance")
    assert list(refused.value.fields) == ["block_balance"]
    assert refused.value.detail.startswith("block_balance: Not an amount")


@given(st.text())
def test_arbitrary_text_is_an_amount_or_a_money_error(text):
    try:
        value = parse_money(text)
    except MoneyError:
        return
    assert text.isascii() and abs(value) < AMOUNT_LIMIT
    assert value == D(text)


@given(st.decimals(min_value=D("-999999999999.9999"), max_value=D("999999999999.9999"), places=4,
                   allow_nan=False, allow_infinity=False))
def test_every_four_place_amount_written_plainly_parses_back(value):
    assert parse_money(format(value, "f")) == value
