"""The pure discount rules: every worked example of the guide (seeds/003, with SPEC §8.6's
corrections), both sides of every boundary, and properties that hold for any input."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.discounts import rules
from apps.discounts.rules import AccessGraph, AccountFeatures, UnitFeatures


def account(history=400, services=(), **counts) -> AccountFeatures:
    return AccountFeatures(history_period_days=history, available_services=frozenset(services),
                           object_counts=counts)


# --- Worked examples of the guide -----------------------------------------------------------

def test_guide_example_1_account_has_77_points():
    features = account(1201, zones_library=5, reporttemplates=4, notifications=3, jobs=2)
    points = rules.account_points(features)
    assert {item.code: item.points for item in points.items} == {
        "storage": 15, "zones_library": 2, "reporttemplates": 25, "notifications": 20, "jobs": 15}
    assert points.total == 77


def test_guide_example_1_unit_with_fuel_and_ignition_gets_no_discount():
    unit = rules.unit_points(UnitFeatures(sensors=2, fuel_sensors=1))
    assert unit.total == 30
    assert rules.unit_discount(unit.total, 77) == 0  # 100 − 30 − 77 = −7, floored


def test_guide_example_1_unit_with_ignition_gets_18():
    assert rules.unit_discount(rules.unit_points(UnitFeatures(sensors=1)).total, 77) == 18


def test_guide_example_2_unit_gets_75():
    acc = rules.account_points(account(600, reporttemplates=2))
    assert acc.total == 20
    assert rules.unit_discount(rules.unit_points(UnitFeatures(sensors=1)).total, acc.total) == 75


def test_guide_example_3_unit_is_capped_at_76():
    acc = rules.account_points(account(900))
    unit = rules.unit_points(UnitFeatures(sensors=1, commands=4))
    assert (acc.total, unit.total) == (10, 9)
    assert 100 - unit.total - acc.total == 81  # the guide's "86" is a slip (SPEC §8.6)
    assert rules.unit_discount(unit.total, acc.total) == 76


def test_guide_sensor_example_ignition_and_two_fuel_sensors_give_35():
    assert rules.unit_points(UnitFeatures(sensors=3, fuel_sensors=2)).total == 35


def test_guide_eco_criteria_example_only_the_highest_counts():
    points = rules.unit_points(UnitFeatures(eco_criteria=frozenset({"acceleration", "turn", "speeding"})))
    assert points.total == 30
    assert [item.code for item in points.items] == ["eco_criterion"]


def test_guide_drivers_and_geofences_example_counts_two_packages():
    assert rules.account_points(account(drivers=2, zones_library=2)).total == 4


def test_guide_service_example_1_current_above_maximum_applies_maximum():
    summary = rules.service_summary([30] * 49 + [65] * 38, basic_package_units=50, purchased_units=100)
    assert summary.current == Decimal("45.28")
    assert summary.maximum == Decimal("42.52")
    assert summary.applied == Decimal("42.52")
    assert int(summary.maximum) == 42  # shown as whole percent, truncated
    assert (summary.in_use, summary.unused, summary.full_cost) == (87, 13, 0)


def test_guide_service_example_2_current_below_maximum_applies():
    summary = rules.service_summary([65] * 38 + [0] * 52, basic_package_units=50, purchased_units=80)
    assert summary.current == Decimal("27.44")
    assert summary.maximum == Decimal("44.44")
    assert summary.applied == Decimal("27.44")
    assert (summary.in_use, summary.unused, summary.full_cost) == (90, 0, 52)


# --- Account points: boundaries ---------------------------------------------------------------

@pytest.mark.parametrize("days, points", [
    (1, 0), (400, 0), (401, 5), (800, 5), (801, 10), (1200, 10), (1201, 15), (0, 45), (3650, 45),
])
def test_storage_points_per_started_400_day_period(days, points):
    assert rules.storage_points(days) == points


@pytest.mark.parametrize("count, points", [(0, 0), (1, 2), (5, 2), (6, 4), (10, 4), (11, 6), (50, 20), (51, 20),
                                           (1000, 20)])
def test_package_points_per_started_five_capped_at_20(count, points):
    assert rules.package_points(count) == points


@pytest.mark.parametrize("service", ["drivers", "trailers", "zones_library"])
@pytest.mark.parametrize("count, points", [(0, 0), (1, 2), (5, 2), (6, 4)])
def test_each_package_type_counts_on_its_own(service, count, points):
    assert rules.account_points(account(**{service: count})).total == points


@pytest.mark.parametrize("count, points", [(0, 0), (1, 1), (5, 1), (6, 2), (500, 100)])
def test_retranslated_units_one_point_per_started_five_without_cap(count, points):
    assert rules.account_points(account(retranslator_units=count)).total == points


@pytest.mark.parametrize("service", ["notifications", "jobs", "routes", "reporttemplates"])
@pytest.mark.parametrize("count, points", [(0, 0), (1, 10), (2, 15), (5, 30), (6, 30), (100, 30)])
def test_ladder_first_10_then_5_up_to_the_fifth(service, count, points):
    assert rules.account_points(account(**{service: count})).total == points


def test_apps_cms_manager_and_messages_points_from_available_services():
    features = account(services={"Apps: Chatterbox", "Apps: Logistics", "cms_manager", "messages", "sms",
                                 "avl_unit"})
    points = rules.account_points(features)
    assert [(i.code, i.points) for i in points.items] == [
        ("app", 5), ("app", 5), ("cms_manager", 50), ("messages", 5)]
    assert points.items[0].label == "Application available: Apps: Chatterbox"


def test_account_without_features_has_no_points():
    assert rules.account_points(account()).items == ()


# --- Unit points ------------------------------------------------------------------------------

def test_unit_features_add_up():
    features = UnitFeatures(sensors=2, fuel_sensors=1, commands=3, service_intervals=2, eco_driving=True,
                            road_limits_speeding=True, eco_criteria=frozenset({"braking"}))
    assert rules.unit_points(features).total == 10 + 20 + 3 + 10 + 20 + 10 + 20


def test_fuel_group_counts_once_whatever_the_number_of_fuel_sensors():
    assert rules.unit_points(UnitFeatures(sensors=4, fuel_sensors=4)).total == 20 + 20


@pytest.mark.parametrize("criterion", ["acceleration", "braking", "turn", "reckless_driving", "custom"])
def test_non_speeding_criterion_is_20(criterion):
    assert rules.unit_points(UnitFeatures(eco_criteria=frozenset({criterion}))).total == 20


def test_road_limits_count_without_any_criterion():
    assert rules.unit_points(UnitFeatures(road_limits_speeding=True)).total == 10


def test_unit_without_features_has_no_points():
    assert rules.unit_points(UnitFeatures()).total == 0


@pytest.mark.parametrize("unit_pts, account_pts, discount", [
    (0, 0, 76), (0, 24, 76), (0, 25, 75), (50, 50, 0), (50, 49, 1), (60, 60, 0),
])
def test_unit_discount_floor_and_cap(unit_pts, account_pts, discount):
    assert rules.unit_discount(unit_pts, account_pts) == discount


# --- Support accounts and eligibility ----------------------------------------------------------

def graph(unit_account, user_account, unit_grants=(), account_grants=(), dealers=()):
    return AccessGraph(unit_account=unit_account, user_account=user_account,
                       unit_grants=tuple((u, unit, unit_account[unit]) for u, unit in unit_grants),
                       account_grants=tuple(account_grants), dealers=frozenset(dealers))


def service_with_support_user(granted: int, total: int = 100):
    """Account 1 has ``total`` units; support candidate account 2's user 20 sees ``granted`` of them."""
    units = {unit: 1 for unit in range(1, total + 1)}
    return graph(units, {10: 1, 20: 2}, unit_grants=[(20, unit) for unit in range(1, granted + 1)])


def test_user_with_80_percent_of_the_units_makes_a_support_account():
    support = rules.support_accounts(service_with_support_user(80))
    assert support == {2: rules.Ineligibility("support_account", user=20, account=2, definition="a")}


def test_user_with_79_percent_of_the_units_is_not_support():
    assert rules.support_accounts(service_with_support_user(79)) == {}


def test_support_users_grants_do_not_make_the_units_ineligible():
    g = service_with_support_user(80)
    assert rules.ineligible_units(g) == {}


def test_non_support_users_grants_make_each_granted_unit_ineligible():
    g = service_with_support_user(79)
    reasons = rules.ineligible_units(g)
    assert sorted(reasons) == list(range(1, 80))
    assert reasons[1] == [rules.Ineligibility("unit_granted_to_other_user", user=20, account=2)]


def dealer_service(own_units: int, granted: int):
    """Dealer account 2 owns ``own_units``; account 1 has 200 more, so definition (a) never applies."""
    units = {unit: 1 for unit in range(1, 201)}
    units |= {unit: 2 for unit in range(1001, 1001 + own_units)}
    return graph(units, {20: 2}, unit_grants=[(20, unit) for unit in range(1001, 1001 + granted)], dealers={2})


def test_dealer_with_50_units_and_a_user_seeing_them_all_is_support():
    assert rules.support_accounts(dealer_service(50, 50))[2].definition == "b"


def test_dealer_with_49_units_is_not_support():
    assert rules.support_accounts(dealer_service(49, 49)) == {}


def test_dealer_support_needs_80_percent_of_its_own_units():
    assert rules.support_accounts(dealer_service(50, 40))[2].definition == "b"
    assert rules.support_accounts(dealer_service(50, 39)) == {}


def test_account_without_dealer_rights_is_not_support_by_definition_b():
    g = dealer_service(50, 50)
    g = AccessGraph(g.unit_account, g.user_account, g.unit_grants, g.account_grants, dealers=frozenset())
    assert rules.support_accounts(g) == {}


def test_empty_service_has_no_support_account():
    assert rules.support_accounts(graph({}, {10: 1})) == {}


def test_units_of_a_support_account_are_ineligible():
    units = {1: 1, 2: 1, 3: 1, 4: 1, 5: 2}
    g = graph(units, {20: 2}, unit_grants=[(20, u) for u in (1, 2, 3, 4)])
    reasons = rules.ineligible_units(g)
    assert reasons[5][0] == rules.Ineligibility("support_account", user=20, account=2, definition="a")
    # Account 2's user also reaches into account 1, which makes 2's units ineligible a second time.
    assert rules.Ineligibility("user_accesses_other_account", user=20, account=1) in reasons[5]
    assert set(reasons) == {5}


def test_account_whose_user_sees_another_accounts_unit_loses_every_unit():
    units = {1: 1, 2: 1, 3: 2, 4: 2, 5: 2, 6: 2, 7: 2, 8: 2}
    g = graph(units, {10: 1}, unit_grants=[(10, 3)])
    reasons = rules.ineligible_units(g)
    assert reasons[1] == reasons[2] == [rules.Ineligibility("user_accesses_other_account", user=10, account=2)]
    assert reasons[3] == [rules.Ineligibility("unit_granted_to_other_user", user=10, account=1)]
    assert set(reasons) == {1, 2, 3}


def test_account_whose_user_sees_another_account_resource_loses_every_unit():
    units = {1: 1, 2: 2}
    g = graph(units, {10: 1}, account_grants=[(10, 2)])
    reasons = rules.ineligible_units(g)
    assert reasons[1] == [rules.Ineligibility("user_accesses_other_account", user=10, account=2)]
    assert reasons[2] == [rules.Ineligibility("account_granted_to_other_user", user=10, account=1)]


def test_grants_inside_the_own_account_change_nothing():
    units = {1: 1, 2: 1, 3: 2, 4: 2, 5: 2}  # 2 of 5 units: well below the support share
    g = graph(units, {10: 1}, unit_grants=[(10, 1), (10, 2)], account_grants=[(10, 1)])
    assert rules.ineligible_units(g) == {}


def test_user_seeing_80_percent_of_the_service_through_its_own_units_makes_a_support_account():
    units = {1: 1, 2: 1, 3: 1, 4: 1, 5: 2}
    g = graph(units, {10: 1}, unit_grants=[(10, u) for u in (1, 2, 3, 4)])
    assert rules.support_accounts(g)[1].definition == "a"
    assert set(rules.ineligible_units(g)) == {1, 2, 3, 4}


def test_account_resource_granted_to_a_support_user_keeps_the_discount():
    units = {unit: 1 for unit in range(1, 11)}
    g = graph(units, {20: 2}, unit_grants=[(20, u) for u in range(1, 9)], account_grants=[(20, 1)])
    assert rules.ineligible_units(g) == {}


def test_grant_on_an_uncounted_unit_still_reaches_another_account():
    g = AccessGraph(unit_account={1: 1}, user_account={10: 1}, unit_grants=((10, 99, 2),))
    assert rules.ineligible_units(g) == {
        1: [rules.Ineligibility("user_accesses_other_account", user=10, account=2)]}


# --- Service values ----------------------------------------------------------------------------

def test_no_counted_units_gives_zero_everywhere():
    summary = rules.service_summary([], basic_package_units=50, purchased_units=10)
    assert (summary.current, summary.maximum, summary.applied) == (Decimal("0.00"),) * 3
    assert (summary.in_use, summary.unused, summary.full_cost) == (0, 10, 0)


def test_maximum_without_basic_package_is_100_and_floored_at_0_when_basic_exceeds_units():
    assert rules.maximum_discount(10, 0) == Decimal("100.00")
    assert rules.maximum_discount(10, 50) == Decimal("0.00")


def test_month_average_is_the_truncated_mean_of_daily_values():
    assert rules.average_percent([Decimal("42.52"), Decimal("42.53"), Decimal("42.53")]) == Decimal("42.52")
    assert rules.average_percent([]) is None


# --- Properties --------------------------------------------------------------------------------

counts = st.integers(min_value=0, max_value=10_000)


@given(unit=st.builds(UnitFeatures, sensors=counts, fuel_sensors=counts, commands=counts,
                      service_intervals=counts, eco_driving=st.booleans(), road_limits_speeding=st.booleans(),
                      eco_criteria=st.frozensets(st.sampled_from(sorted(rules.ECO_CRITERION_POINTS)))),
       history=st.integers(min_value=0, max_value=100_000),
       objects=st.dictionaries(st.sampled_from(rules.OBJECT_SERVICES), counts))
def test_unit_discount_is_always_between_0_and_76(unit, history, objects):
    acc = rules.account_points(account(history, **objects)).total
    discount = rules.unit_discount(rules.unit_points(unit).total, acc)
    assert 0 <= discount <= 76


@given(service=st.sampled_from(rules.OBJECT_SERVICES), n=counts)
def test_more_objects_never_give_fewer_points(service, n):
    assert rules.account_points(account(**{service: n + 1})).total >= rules.account_points(
        account(**{service: n})).total


@given(discounts=st.lists(st.integers(min_value=0, max_value=76), max_size=300),
       basic=st.integers(min_value=0, max_value=400))
def test_applied_is_the_smaller_of_current_and_maximum_and_truncated_exactly(discounts, basic):
    summary = rules.service_summary(discounts, basic_package_units=basic, purchased_units=0)
    assert summary.applied == min(summary.current, summary.maximum)
    assert Decimal("0") <= summary.applied <= Decimal("76")
    if discounts:
        exact = Fraction(sum(discounts), len(discounts))
        assert Fraction(summary.current) <= exact < Fraction(summary.current) + Fraction(1, 100)
