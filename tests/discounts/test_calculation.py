"""The discount calculated from the database: which units count, where points come from, who is
ineligible and why, and a query count that does not grow with the service."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts import operations as account_ops
from apps.discounts.queries import calculate_discount
from apps.plans.models import AccountServiceOverride, Plan, PlanService
from apps.plans.models import CatalogueService
from apps.units import operations as unit_ops

pytestmark = pytest.mark.django_db


def unit_result(report, unit):
    return next(u for u in report.units if u.unit_id == unit.pk)


def test_counted_units_leave_out_deactivated_and_blocked(world, acme, make_unit):
    counted = make_unit(world.north_client, "Counted")
    deactivated = make_unit(world.north_client, "Deactivated")
    unit_ops.set_unit_active(actor=world.top, unit=deactivated, active=False)
    make_unit(world.south_client, "Below a blocked dealer")
    account_ops.block_account(actor=world.top, account=world.south, reason="Unpaid invoices")

    report = calculate_discount(acme)

    assert [u.unit_id for u in report.units] == [counted.pk]
    assert report.summary.in_use == 1
    assert [a.name for a in report.accounts] == ["North Client"]


def test_archived_units_are_not_counted(world, acme, make_unit):
    kept = make_unit(world.north_client, "Kept")
    archived = make_unit(world.north_client, "Archived")
    unit_ops.archive_unit(actor=world.top, unit=archived)

    assert [u.unit_id for u in calculate_discount(acme).units] == [kept.pk]


def test_unit_features_give_the_guides_points(world, acme, make_unit):
    unit = make_unit(world.north_client, sensors=[{"name": "Ignition", "type": "ignition"},
                                                  {"name": "Tank", "type": "fuel_level"}],
                     commands=[{"name": f"cmd{i}"} for i in range(4)], service_intervals=[{"name": "Oil"}],
                     eco_driving=True, road_limits_speeding=True, eco_criteria=["acceleration", "speeding"])

    result = unit_result(calculate_discount(acme), unit)

    assert result.unit_points == 10 + 20 + 4 + 5 + 20 + 10 + 30
    assert result.discount == 1
    assert "Fuel-group sensors in use: −20 p.p. (unit)" in result.reasons
    assert "Eco-driving criterion: speeding: −30 p.p. (unit)" in result.reasons


def test_guide_example_1_from_the_database(world, acme, make_unit, add_objects):
    """Two units of an account with 1201 days of history, 5 geofences, 4 report templates,
    3 notifications and 2 jobs: 77 account points, discounts 0 % and 18 %."""
    account_ops.update_account(actor=world.top, account=world.north_client, changes={"history_period_days": 1201})
    for service, count in {"zones_library": 5, "reporttemplates": 4, "notifications": 3, "jobs": 2}.items():
        add_objects(world.north_client, service, count)
    fuel = make_unit(world.north_client, "Unit 1", sensors=[{"name": "Fuel", "type": "fuel_level"},
                                                            {"name": "Ignition", "type": "ignition"}])
    plain = make_unit(world.north_client, "Unit 2", sensors=[{"name": "Ignition", "type": "ignition"}])

    report = calculate_discount(acme)

    assert (unit_result(report, fuel).rank, unit_result(report, fuel).discount) == (107, 0)
    assert (unit_result(report, plain).rank, unit_result(report, plain).discount) == (82, 18)
    account = report.accounts[0]
    assert (account.rank, account.discount) == (77, Decimal("9.00"))
    assert "Data storage period 1201 days: −15 p.p. (account)" in unit_result(report, plain).reasons
    assert report.summary.current == Decimal("9.00")


def test_history_period_comes_from_the_plan_chain_and_forever_counts_as_3650_days(world, acme, make_unit):
    keep_forever = Plan.objects.create(service=acme, name="Forever", history_period_days=0)
    child = Plan.objects.create(service=acme, name="Child of forever", parent=keep_forever)
    for name in ("avl_unit", "unit_sensors", "unit_alias"):
        PlanService.objects.create(plan=keep_forever, name=name, type="periodic", interval="none")
    account_ops.update_account(actor=world.platform, account=world.north_client, changes={"plan": child})
    unit = make_unit(world.north_client)

    result = unit_result(calculate_discount(acme), unit)

    assert result.account_points == 45
    assert result.discount == 55


def test_apps_count_when_their_service_is_available(world, acme, make_unit):
    app = CatalogueService.objects.create(name="Apps: Chatterbox", type="on_demand", service=acme)
    PlanService.objects.create(plan=world.base_plan, name=app.name, type="on_demand", interval="none")
    unit = make_unit(world.north_client)
    denied_here = make_unit(world.south_client)
    AccountServiceOverride.objects.create(account=world.south_client, name=app.name, type="on_demand",
                                          cost_table="-1")

    report = calculate_discount(acme)

    assert unit_result(report, unit).account_points == 5
    # Details reuse the kernel resolution's explanation (SPEC §8.6).
    assert ("Application available: Apps: Chatterbox: −5 p.p. (account; from plan Base; account override: none)"
            in unit_result(report, unit).reasons)
    assert unit_result(report, denied_here).account_points == 0


def test_cms_manager_and_messages_count_where_the_plan_allows_them(world, acme, make_unit):
    for name in ("cms_manager", "messages"):
        PlanService.objects.create(plan=world.base_plan, name=name, type="on_demand", interval="none")
    AccountServiceOverride.objects.create(account=world.north_client, name="cms_manager", type="on_demand",
                                          cost_table="-1")
    south_unit = make_unit(world.south_client)
    north_unit = make_unit(world.north_client)

    report = calculate_discount(acme)

    assert unit_result(report, south_unit).account_points == 55
    assert unit_result(report, south_unit).discount == 45
    assert unit_result(report, north_unit).account_points == 5  # its override denies CMS Manager


def test_user_seeing_another_accounts_unit_makes_both_sides_ineligible(world, acme, make_unit, make_user):
    own = make_unit(world.north_client, "North truck")
    seen = make_unit(world.south_client, "South truck")
    untouched = make_unit(world.north_east_client, "North-East truck")
    for i in range(3):  # keep the user far below the support share
        make_unit(world.north_east_client, f"Filler {i}")
    dispatcher = make_user(world.north_client, "dispatcher")
    unit_ops.grant_access(actor=world.top, user=dispatcher, unit=seen)

    report = calculate_discount(acme)

    assert unit_result(report, own).eligible is False
    assert unit_result(report, own).reasons[0] == (
        "User dispatcher of this account has access to resources of account South Client.")
    assert unit_result(report, seen).reasons[0] == "User dispatcher of account North Client has access to this unit."
    assert (unit_result(report, seen).discount, unit_result(report, untouched).discount) == (0, 76)
    assert report.summary.full_cost == 2


def test_account_resource_granted_to_another_accounts_user(world, acme, make_unit, make_user):
    granted = make_unit(world.south_client)
    for i in range(3):
        make_unit(world.north_east_client, f"Filler {i}")
    viewer = make_user(world.north_client, "viewer")
    unit_ops.grant_access(actor=world.top, user=viewer, account=world.south_client)

    result = unit_result(calculate_discount(acme), granted)

    assert result.reasons == ("User viewer of account North Client has access to this account's resources.",)


def test_support_account_units_are_ineligible_and_its_access_harmless(world, acme, make_unit, make_user):
    units = [make_unit(world.north_client, f"Client truck {i}") for i in range(4)]
    support_unit = make_unit(world.south, "Support bench unit")
    helpdesk = make_user(world.south, "helpdesk")
    for unit in units:
        unit_ops.grant_access(actor=world.top, user=helpdesk, unit=unit)

    report = calculate_discount(acme)

    assert [u.discount for u in report.units if u.account_id == world.north_client.pk] == [76] * 4
    support = unit_result(report, support_unit)
    assert support.discount == 0
    assert support.reasons[0].startswith("The account may be a technical support account: its user helpdesk")
    south = next(a for a in report.accounts if a.account_id == world.south.pk)
    assert south.reasons[0].startswith("The account may be a technical support account")


def _build(world, make_unit, make_user, size: int):
    for i in range(size):
        client = account_ops.create_account(actor=world.platform, name=f"Fleet {size}-{i}", parent=world.north,
                                            plan=world.base_plan)
        unit = make_unit(client, sensors=[{"name": "Fuel", "type": "fuel_level"}], commands=[{"name": "c"}],
                         service_intervals=[{"name": "s"}])
        user = make_user(client)
        unit_ops.grant_access(actor=world.platform, user=user, unit=unit)
        unit_ops.grant_access(actor=world.platform, user=user, account=world.south_client)


def test_query_count_does_not_depend_on_the_size_of_the_service(world, acme, make_unit, make_user):
    _build(world, make_unit, make_user, 2)
    with CaptureQueriesContext(connection) as small:
        assert calculate_discount(acme).summary.in_use == 2
    _build(world, make_unit, make_user, 12)
    with CaptureQueriesContext(connection) as large:
        assert calculate_discount(acme).summary.in_use == 14
    assert len(large.captured_queries) == len(small.captured_queries)
    assert len(small.captured_queries) <= 11, "\n".join(q["sql"][:120] for q in small.captured_queries)
