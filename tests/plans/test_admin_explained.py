"""Issue 15 item 4 in the plan window: why a plan is read-only, where each empty setting comes from, money in
the service's currency pattern."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.core.money import currency_example, format_money
from apps.plans.models import Plan

pytestmark = pytest.mark.django_db


def _page(client, user, plan):
    client.force_login(user)
    response = client.get(reverse("admin:plans_plan_change", args=[plan.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_service_plan_says_why_the_top_user_may_not_change_it(world, client):
    service_plan = Plan.objects.get(pk=world.acme.plan_id)
    html = _page(client, world.top, service_plan)
    assert 'class="readonly-reason' in html
    assert "only the platform operator changes it" in html.replace("&#x27;", "'")


def test_a_plan_the_top_user_may_change_has_no_reason(world, client):
    html = _page(client, world.top, world.dealer_plan)
    assert 'class="readonly-reason' not in html


def test_a_distributor_is_told_it_reads_its_plan_and_sub_plans(world, client):
    html = _page(client, world.north_op, world.dealer_plan)
    assert 'class="readonly-reason' in html
    assert "Distributors may read their plan and its sub-plans" in html


def test_a_reader_sees_what_each_empty_setting_gets(world, client):
    Plan.objects.filter(pk=world.base_plan.pk).update(block_by_balance=True)
    html = _page(client, world.north_op, world.dealer_plan)
    assert 'class="inherited-settings"' in html
    assert "<th>Block by balance</th><td>Empty inherits On from plan Base.</td>" in html
    assert "Empty inherits 400 days from plan Base." in html
    editable = _page(client, world.top, world.dealer_plan)
    assert 'class="inherited-settings"' not in editable  # there the notes sit under each field


def test_an_operator_of_a_blocked_account_is_told_so(world, client):
    from apps.accounts.models import Account

    Account.objects.filter(pk=world.acme.pk).update(blocked=True, blocked_by="manual", blocked_reason="x")
    html = _page(client, world.top, world.dealer_plan)
    assert "Your account is blocked: you may read this plan but not change it." in html


def test_the_platform_operator_sees_no_reason(world, client):
    html = _page(client, world.platform, Plan.objects.get(pk=world.acme.plan_id))
    assert 'class="readonly-reason' not in html


def test_each_empty_setting_shows_its_inherited_value_and_source(world, client):
    Plan.objects.filter(pk=world.base_plan.pk).update(block_by_balance=True, block_balance=Decimal("-1500"),
                                                     currency_format="€%.02f")
    html = _page(client, world.top, world.dealer_plan)
    assert "Empty inherits 400 days from plan Base." in html
    assert "Empty inherits On from plan Base." in html  # block by balance
    assert "Empty inherits €-1,500.00 from plan Base." in html  # in the chain's currency pattern
    assert "Empty inherits €%.02f (€1,234.50) from plan Base." in html
    assert "Empty means the default: Off." in html  # limit by balance: nobody in the chain sets it
    root = _page(client, world.top, world.base_plan)
    assert "Empty means the default: 0 days (kept forever)." in root


def test_the_inherited_notes_cost_one_query_whatever_the_chain(world, client):
    from apps.plans.forms import inherited_notes

    leaf = world.dealer_plan
    for depth in range(6):
        leaf = Plan.objects.create(service=world.acme, name=f"Level {depth}", parent=leaf)
    with CaptureQueriesContext(connection) as queries:
        notes = inherited_notes(leaf)
    assert len(queries) == 1
    assert notes["history_period_days"] == "Empty inherits 400 days from plan Base."


def test_the_plans_list_shows_the_currency_pattern_as_an_example_amount(world, client):
    Plan.objects.filter(pk=world.base_plan.pk).update(currency_format="€%.02f")
    client.force_login(world.top)
    html = client.get(reverse("admin:plans_plan_changelist")).content.decode()
    assert "€1,234.50" in html
    assert "€%.02f" not in html


@pytest.mark.parametrize(("amount", "pattern", "shown"), [
    ("1234567.125", "€%.02f", "€1,234,567.13"),
    ("-1234.5", "%.02f $", "-1,234.50 $"),
    ("999.995", None, "1,000.00"),
    ("-999999999999.9999", "%.02f", "-1,000,000,000,000.00"),
    ("-0.004", "€%.02f", "€0.00"),
    ("12.345", "EUR %.02f", "EUR 12.35"),
    ("0", "%.02f%%x", "0.00%%x"),  # put in as text: the pattern is never used with the % operator
])
def test_format_money_groups_thousands_and_rounds_half_up(amount, pattern, shown):
    assert format_money(Decimal(amount), pattern) == shown


def test_currency_example():
    assert currency_example("€%.02f") == "€1,234.50"
    assert currency_example(None) == "1,234.50"


# --- a cost table whose negative item denies the service from some position -----------------------------

def _post(plan, rows):
    from tests.plans.test_admin import _plan_post

    return _plan_post(plan, rows)


def test_saving_a_negative_value_warns_with_the_row_and_the_position(world, client):
    client.force_login(world.top)
    url = reverse("admin:plans_plan_change", args=[world.dealer_plan.pk])
    response = client.post(url, _post(world.dealer_plan, [
        {"name": "sms", "interval": "daily", "cost_table": "1:-0.5"},
        {"name": "drivers", "interval": "monthly", "cost_table": "3:0;10:-1"},
        {"name": "jobs", "interval": "monthly", "cost_table": "1:0;10:1.5;-1"},
    ]), follow=True)
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert world.dealer_plan.services.get(name="sms").cost_table == "-1"
    warnings = [m for m in shown if "cost table" in m]
    assert len(warnings) == 2, shown  # the plain closing -1 of "jobs" is no surprise
    assert any("“sms”" in m and "from position 1 on" in m and "saved as -1" in m for m in warnings)
    assert any("“drivers”" in m and "from position 4 on" in m and "counter 10" in m for m in warnings)


def test_a_plain_table_saves_without_a_warning(world, client):
    client.force_login(world.top)
    url = reverse("admin:plans_plan_change", args=[world.dealer_plan.pk])
    response = client.post(url, _post(world.dealer_plan, [
        {"name": "sms", "interval": "daily", "cost_table": "1:0;10:1.5;-1"}]), follow=True)
    assert not [m for m in response.context["messages"] if "cost table" in str(m)]


def test_the_single_row_page_warns_too(world, client):
    from apps.plans.models import PlanService

    row = PlanService.objects.create(plan=world.dealer_plan, name="sms", type="on_demand", cost_table="1:1")
    client.force_login(world.top)
    response = client.post(reverse("admin:plans_planservice_change", args=[row.pk]),
                           {"name": "sms", "type": "", "interval": "daily", "cost_table": "1:1;-1;5:2",
                            "description": ""}, follow=True)
    shown = [str(m) for m in response.context["messages"]]
    assert any("from position 2 on" in m and "The item after it is dropped." in m for m in shown), shown


def test_the_calculator_answers_with_warnings(world, as_user):
    url = reverse("cost-table-evaluate")
    body = as_user(world.top).post(url, {"cost_table": "1:-0.5", "count": 2}, format="json").json()
    assert body["canonical"] == "-1" and body["denied_from"] == 1 and body["prices"] == [None, None]
    assert len(body["warnings"]) == 1 and "from position 1 on" in body["warnings"][0]
    plain = as_user(world.top).post(url, {"cost_table": "1:0;-1", "count": 1}, format="json").json()
    assert plain["warnings"] == []


@pytest.mark.parametrize(("text", "warned"), [
    ("", False), ("1:2", False), ("1:0;10:1.5;-1", False), ("0:10;-1", False), ("3:0;4:-1", False), ("-0", False),
    ("1:-0.5", True), ("3:0;10:-1", True), ("1:1;-1;5:2", True), ("-2", True),
])
def test_denial_warnings(text, warned):
    from apps.plans.cost_table import denial_warnings

    assert bool(denial_warnings(text)) is warned


def test_the_plan_page_reads_the_chain_once(world, client):
    """The notes of every field come from one read of the service's plans: the page costs the same at depth 1
    and depth 7 of a chain, and one query fewer without the notes."""
    from unittest import mock

    leaf = world.dealer_plan
    for depth in range(6):
        leaf = Plan.objects.create(service=world.acme, name=f"Level {depth}", parent=leaf)

    def count(plan):
        client.force_login(world.top)
        url = reverse("admin:plans_plan_change", args=[plan.pk])
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    shallow = count(world.dealer_plan)
    assert count(leaf) == shallow
    with mock.patch("apps.plans.forms.inherited_notes", return_value={}):
        assert count(world.dealer_plan) == shallow - 1


def test_the_calculator_carries_the_services_currency_pattern(world, client):
    from apps.accounts.models import Account
    from apps.plans.models import PlanService

    Account.objects.filter(pk=world.acme.pk).update(currency_format="%.02f kr")
    html = _page(client, world.top, world.dealer_plan)
    assert 'data-currency="%.02f kr"' in html
    row = PlanService.objects.create(plan=world.dealer_plan, name="sms", type="on_demand", cost_table="1:1")
    row_page = client.get(reverse("admin:plans_planservice_change", args=[row.pk])).content.decode()
    assert 'data-currency="%.02f kr"' in row_page
    add_page = client.get(reverse("admin:plans_plan_add")).content.decode()
    assert 'data-currency="%.02f"' in add_page


def test_denial_warning_texts():
    from apps.plans.cost_table import denial_warnings

    assert denial_warnings("1:1;-1;5:2;6:3") == [
        "Item 2 (-1) denies the service from position 2 on: at most 1 allowed. The 2 items after it are dropped."]
    assert denial_warnings("3:0;10:-1") == [
        "Item 2 (10:-1) denies the service from position 4 on: at most 3 allowed. Its counter 10 does not move the "
        "limit: a denial starts right after the previous item."]
