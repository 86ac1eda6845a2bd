"""Cost tables take ASCII digits only and fit their column in canonical form (SPEC §8.2, §9.1).

The parser, its bounds (counters ≤ 2,147,483,647, values ≤ 999,999.9999), arbitrary Unicode text,
and every way in: plan service rows (API, admin inline), account overrides, the calculator.
"""

from decimal import Decimal

import pytest
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from apps.accounts.models import LedgerEntry
from apps.plans.cost_table import MAX_COUNTER, MAX_TEXT_LENGTH, CostTableError, evaluate, parse
from apps.plans.models import AccountServiceOverride, PlanEvent, PlanService

D = Decimal

# 1,000 items of 1 character: 1,999 characters of text, 5,892 in canonical form ("1:1;2:1;…;1000:1").
GROWS_PAST_THE_COLUMN = ";".join(["1"] * 1000)
UNICODE_DIGITS = ["١", "١:٢", "1:٢", "٣:0;-1", "１", "1:１", "1:1.５", "۱", "१", "߁", "𝟏", "1:²", "1:Ⅻ"]


# --- the parser -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", UNICODE_DIGITS)
def test_unicode_digits_are_refused(text):
    with pytest.raises(CostTableError) as refused:
        parse(text)
    assert refused.value.item == 1


@pytest.mark.parametrize("text", ["\u30001", "1\u3000", "1:\u00a01", "\x1c1", "1;\u2003;-1", "\u3000"])
def test_only_ascii_spaces_are_ignored_around_tokens(text):
    with pytest.raises(CostTableError):
        parse(text)


def test_ascii_spaces_are_still_ignored():
    assert parse(" 1 :\t0 ;\n10: 1.5 ; -1 ").canonical == "1:0;10:1.5;-1"


@pytest.mark.parametrize(("text", "reason"), [
    (f"{MAX_COUNTER + 1}:1", "above the maximum 2147483647"),
    ("99999999999999999999:1", "above the maximum 2147483647"),
    ("1" + "0" * 1500 + ":1", "above the maximum 2147483647"),  # no int() of 1,500 digits
    ("1:1000000", "above the maximum 999999.9999"),
    ("1:999999.99999", "more than 4 decimal places"),
    ("1:" + "9" * 1900, "above the maximum 999999.9999"),
    ("1:1e3", "not a number"), ("1:NaN", "not a number"), ("1:Infinity", "not a number"), ("1:+1", "not a number"),
    ("1e3:1", "not a whole number"), ("+1:1", "not a whole number"), ("1_0:1", "not a whole number"),
])
def test_bounds_and_forms_are_refused_with_a_reason(text, reason):
    with pytest.raises(CostTableError) as refused:
        parse(text)
    assert reason in str(refused.value)
    assert len(str(refused.value)) < 300  # a long token is quoted cut short


def test_the_largest_counter_and_value_and_leading_zeros_are_taken():
    assert parse(f"{MAX_COUNTER}:999999.9999").canonical == f"{MAX_COUNTER}:999999.9999"
    assert parse(f"000{MAX_COUNTER}:1").canonical == f"{MAX_COUNTER}:1"


def test_a_table_whose_canonical_form_outgrows_the_column_is_refused():
    assert len(GROWS_PAST_THE_COLUMN) <= MAX_TEXT_LENGTH
    with pytest.raises(CostTableError) as refused:
        parse(GROWS_PAST_THE_COLUMN)
    assert "5892 characters" in str(refused.value) and "2000" in str(refused.value)
    with pytest.raises(CostTableError):
        evaluate(GROWS_PAST_THE_COLUMN, 3)


def _short_text_with_canonical_length(length: int) -> str:
    """``1;1;…;1;X:1`` (implicit counters 1..k, then counter X) whose canonical text has ``length`` characters."""
    for k in range(1000, 0, -1):
        head = len(";".join(f"{n}:1" for n in range(1, k + 1)))
        digits = length - head - len(";:1")
        if len(str(k + 1)) <= digits <= 10:
            counter = int("9" * digits) if digits < 10 else MAX_COUNTER
            if len(str(counter)) == digits:
                return ";".join(["1"] * k + [f"{counter}:1"])
    raise AssertionError(length)


def test_the_canonical_length_limit_is_exact():
    fits, outgrows = _short_text_with_canonical_length(MAX_TEXT_LENGTH), _short_text_with_canonical_length(
        MAX_TEXT_LENGTH + 1)
    assert len(fits) < MAX_TEXT_LENGTH and len(outgrows) < MAX_TEXT_LENGTH
    assert len(parse(fits).canonical) == MAX_TEXT_LENGTH
    with pytest.raises(CostTableError) as refused:
        parse(outgrows)
    assert f"{MAX_TEXT_LENGTH + 1} characters" in str(refused.value)


def test_the_columns_hold_the_parsers_longest_text():
    for model in (PlanService, AccountServiceOverride, LedgerEntry):
        assert model._meta.get_field("cost_table").max_length == MAX_TEXT_LENGTH


# --- properties: arbitrary text never raises anything but the parser's own error -------------------

TABLE_ALPHABET = st.sampled_from(list("0123456789;:.- \t-") + ["١", "１", "\u3000", "e", "E", "+", "\x00", "²"])


@given(st.text(max_size=300))
def test_arbitrary_unicode_text_parses_or_raises_a_cost_table_error(text):
    try:
        table = parse(text)
    except CostTableError:
        return
    assert table.canonical.isascii() and len(table.canonical) <= MAX_TEXT_LENGTH
    assert parse(table.canonical) == table


@given(st.text(alphabet=TABLE_ALPHABET, max_size=200))
def test_table_like_text_parses_or_raises_a_cost_table_error(text):
    try:
        table = parse(text)
    except CostTableError:
        return
    assert all(ch in "0123456789;:.- \t" for ch in text)
    assert parse(table.canonical) == table
    assert all(0 <= item.counter <= MAX_COUNTER + 1 and abs(item.value) <= D("999999.9999") for item in table.items)


@given(st.text(alphabet=TABLE_ALPHABET, max_size=60), st.integers(0, 50))
def test_evaluate_answers_or_raises_a_cost_table_error(text, count):
    try:
        answer = evaluate(text, count)
    except CostTableError:
        return
    assert len(answer["prices"]) == count


# --- every way in ----------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["١:٢", "1:１", GROWS_PAST_THE_COLUMN, "1:1e3"])
def test_plan_service_api_refuses_and_writes_nothing(world, as_user, table):
    response = as_user(world.top).post(f"/api/v1/plans/{world.dealer_plan.pk}/services/",
                                       {"name": "sms", "interval": "daily", "cost_table": table}, format="json")
    assert response.status_code == 400, response.json()
    assert list(response.json()["fields"]) == ["cost_table"]
    assert not PlanService.objects.filter(plan=world.dealer_plan).exists()
    assert not PlanEvent.objects.exists()


def test_plan_service_update_refuses_a_table_outgrowing_its_column(world, as_user):
    row = PlanService.objects.create(plan=world.dealer_plan, name="sms", type="on_demand", interval="daily",
                                     cost_table="1:1")
    response = as_user(world.top).patch(f"/api/v1/plans/{world.dealer_plan.pk}/services/{row.pk}/",
                                        {"cost_table": GROWS_PAST_THE_COLUMN}, format="json")
    assert response.status_code == 400, response.json()
    assert "canonical form" in response.json()["fields"]["cost_table"][0]
    assert PlanService.objects.get(pk=row.pk).cost_table == "1:1"


@pytest.mark.parametrize("table", ["١:٢", GROWS_PAST_THE_COLUMN])
def test_account_override_api_refuses_and_writes_nothing(world, as_user, table):
    response = as_user(world.top).put(f"/api/v1/accounts/{world.north.pk}/services/sms/",
                                      {"interval": "daily", "cost_table": table}, format="json")
    assert response.status_code == 400, response.json()
    assert list(response.json()["fields"]) == ["cost_table"]
    assert not AccountServiceOverride.objects.exists()


@pytest.mark.parametrize("table", ["١:٢", "1:１", GROWS_PAST_THE_COLUMN])
def test_the_calculator_refuses(world, as_user, table):
    response = as_user(world.north_op).post("/api/v1/cost-tables/evaluate/", {"cost_table": table, "count": 3},
                                            format="json")
    assert response.status_code == 400, response.json()
    assert list(response.json()["fields"]) == ["cost_table"]


def test_the_plan_admin_shows_the_refusal_on_the_row(world, client):
    from tests.plans.test_admin import _plan_post

    client.force_login(world.top)
    url = reverse("admin:plans_plan_change", args=[world.dealer_plan.pk])
    for table in ("١:٢", GROWS_PAST_THE_COLUMN):
        response = client.post(url, _plan_post(world.dealer_plan, [
            {"name": "sms", "interval": "daily", "cost_table": table}]))
        assert response.status_code == 200
        inline_errors = response.context["inline_admin_formsets"][0].formset.errors
        assert list(inline_errors[0]) == ["cost_table"], inline_errors
    assert not world.dealer_plan.services.exists()
