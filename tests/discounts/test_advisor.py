"""The discount advisor (SPEC §9.6, §9.8), pure: tables of lines and their points, eligibility,
ranking, and properties that hold for any world."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.discounts import rules
from apps.discounts.advisor import Advisor, Scorer, World, account_changes, account_discount, apply, unit_changes
from apps.discounts.rules import AccessGraph, AccountFeatures, UnitFeatures


def world(units, accounts=None, unit_grants=(), account_grants=(), users=None, dealers=()):
    """``units``: {unit: (account, UnitFeatures)}."""
    accounts = accounts or {}
    unit_account = {u: a for u, (a, _) in units.items()}
    for a in set(unit_account.values()):
        accounts.setdefault(a, AccountFeatures(history_period_days=400))
    return World(units={u: f for u, (_, f) in units.items()}, accounts=accounts,
                 graph=AccessGraph(unit_account=unit_account, user_account=users or {},
                                   unit_grants=tuple(unit_grants), account_grants=tuple(account_grants),
                                   dealers=frozenset(dealers)))


def by_feature(suggestions):
    return {s.feature: s for s in suggestions}


# --- Unit lines ----------------------------------------------------------------------------------

@pytest.mark.parametrize("features, feature, points", [
    (UnitFeatures(sensors=3), "sensors", 5),
    (UnitFeatures(sensors=3, fuel_sensors=1), "sensors", 5),  # a plain one: the fuel group stays
    (UnitFeatures(sensors=2, fuel_sensors=2), "sensors", 5),  # one fuel sensor of two: the group stays
    (UnitFeatures(sensors=3, fuel_sensors=2), "fuel_sensors", 30),  # each 5 and the group's 20
    (UnitFeatures(sensors=1, fuel_sensors=1), "fuel_sensors", 25),
    (UnitFeatures(commands=4), "commands", 4),
    (UnitFeatures(service_intervals=2), "service_intervals", 5),
    (UnitFeatures(eco_driving=True), "eco_driving", 20),
    (UnitFeatures(road_limits_speeding=True), "road_limits_speeding", 10),
    (UnitFeatures(eco_criteria=frozenset({"speeding"})), "eco_criterion", 30),
    (UnitFeatures(eco_criteria=frozenset({"speeding", "braking"})), "eco_criterion", 10),  # down to the next
])
def test_unit_line_points(features, feature, points):
    w = world({1: (10, features)}, accounts={10: AccountFeatures(400, available_services=frozenset({"cms_manager"}))})
    suggestion = by_feature(Advisor(w).for_unit(1))[feature]
    assert suggestion.points == points
    assert suggestion.discount_after == min(76, suggestion.discount + points)
    assert suggestion.units == 1


def test_single_fuel_sensor_is_one_line_not_two():
    changes = unit_changes(1, UnitFeatures(sensors=1, fuel_sensors=1))
    assert [c.feature for c in changes] == ["fuel_sensors"]


def test_two_criteria_of_equal_weight_suggest_nothing():
    w = world({1: (10, UnitFeatures(eco_criteria=frozenset({"braking", "turn"})))})
    assert Advisor(w).for_unit(1) == []


def test_turning_eco_driving_off_keeps_its_criteria():
    change = by_feature(unit_changes(1, UnitFeatures(eco_driving=True, eco_criteria=frozenset({"turn"}))))["eco_driving"]
    assert change.unit_after == UnitFeatures(eco_driving=False, eco_criteria=frozenset({"turn"}))


def test_unit_at_76_gets_nothing():
    w = world({1: (10, UnitFeatures(sensors=1))})  # 100 − 5 = 95 → 76
    assert Advisor(w).discounts[1] == 76
    assert Advisor(w).for_unit(1) == []


def test_unit_suggestions_ranked_by_discount_after_then_points():
    # account at 60 points: 100 − 60 − unit points
    acc = AccountFeatures(history_period_days=400, available_services=frozenset({"cms_manager", "messages", "Apps: A"}))
    w = world({1: (10, UnitFeatures(sensors=2, commands=3, eco_driving=True, road_limits_speeding=True))},
              accounts={10: acc})
    suggestions = Advisor(w).for_unit(1)
    # 100 − 60 − 43 = −3 → 0; off eco: 17; road limits: 7; one sensor: 2; commands: 0 (left out)
    assert [(s.feature, s.discount_after) for s in suggestions] == [
        ("eco_driving", 17), ("road_limits_speeding", 7), ("sensors", 2)]


# --- Account lines -------------------------------------------------------------------------------

@pytest.mark.parametrize("history, after_days, points", [
    (401, 400, 5), (800, 400, 5), (801, 800, 5), (1201, 1200, 5), (0, 3600, 5)])
def test_storage_down_one_step(history, after_days, points):
    change, = account_changes(10, AccountFeatures(history_period_days=history))
    assert change.feature == "storage"
    assert change.account_after.history_period_days == after_days
    assert rules.account_points(AccountFeatures(history)).total - rules.account_points(change.account_after).total \
        == points


@pytest.mark.parametrize("service, count, fewer", [
    ("drivers", 1, 0), ("drivers", 7, 5), ("trailers", 10, 5), ("zones_library", 60, 45), ("zones_library", 50, 45),
    ("retranslator_units", 6, 5), ("retranslator_units", 3, 0),
    ("notifications", 1, 0), ("jobs", 3, 2), ("routes", 5, 4), ("reporttemplates", 9, 4),
])
def test_smallest_removal_that_lowers_one_step(service, count, fewer):
    change, = account_changes(10, AccountFeatures(400, object_counts={service: count}))
    assert (change.feature, change.before, change.after) == (service, count, fewer)
    before = rules.account_points(AccountFeatures(400, object_counts={service: count})).total
    assert rules.account_points(change.account_after).total < before
    if fewer + 1 < count:  # removing one object fewer would not be enough
        assert rules.account_points(AccountFeatures(400, object_counts={service: fewer + 1})).total == before


def test_each_app_cms_manager_and_messages_are_lines():
    acc = AccountFeatures(400, available_services={"Apps: A": "", "Apps: B": "", "cms_manager": "", "messages": ""})
    changes = account_changes(10, acc)
    assert [(c.feature, c.name) for c in changes] == [
        ("app", "Apps: A"), ("app", "Apps: B"), ("cms_manager", ""), ("messages", "")]
    assert "cms_manager" not in changes[2].account_after.available_services
    assert "Apps: A" in changes[2].account_after.available_services


def test_account_suggestion_average_and_units_that_gain():
    acc = AccountFeatures(1201, available_services=frozenset({"cms_manager"}))  # 15 + 50 = 65 points
    w = world({1: (10, UnitFeatures(sensors=1)), 2: (10, UnitFeatures(sensors=8)), 3: (10, UnitFeatures())},
              accounts={10: acc})
    advisor = Advisor(w)
    assert [advisor.discounts[u] for u in (1, 2, 3)] == [30, 0, 35]
    suggestions = advisor.for_account(10)
    top = suggestions[0]
    assert top.feature == "cms_manager"
    assert top.discount == Decimal("21.66")  # (30 + 0 + 35) / 3
    # without CMS Manager (15 points left): 80, 45, 85 → 76, 45, 76
    assert (top.points, top.discount_after, top.units) == (50, Decimal("65.66"), 3)
    assert [s.feature for s in suggestions] == ["cms_manager", "storage"]


# --- Eligibility ---------------------------------------------------------------------------------

def test_unit_granted_to_another_accounts_user_is_freed_by_removing_that_grant():
    w = world({1: (10, UnitFeatures()), 2: (20, UnitFeatures())}, users={100: 20},
              unit_grants=[(100, 1, 10)])
    advisor = Advisor(w)
    assert advisor.discounts == {1: 0, 2: 0}  # 1: granted out (rule 3); 2: its user reaches out (rule 2)
    unit_1, = advisor.for_unit(1)
    assert (unit_1.feature, unit_1.change.grant, unit_1.discount_after, unit_1.units) == ("unit_grant", (100, 1, 10),
                                                                                          76, 2)
    assert advisor.for_unit(2)[0].change == unit_1.change


def test_account_resource_grant_removal():
    w = world({1: (10, UnitFeatures()), 2: (20, UnitFeatures())}, users={100: 20}, account_grants=[(100, 10)])
    suggestion, = Advisor(w).for_account(10)
    assert (suggestion.feature, suggestion.change.grant, suggestion.discount_after) == ("account_grant", (100, 10),
                                                                                        Decimal("76.00"))


def test_user_reaching_two_units_elsewhere_cannot_be_fixed_by_one_removal():
    w = world({1: (10, UnitFeatures()), 2: (10, UnitFeatures()), 3: (20, UnitFeatures())}, users={100: 20},
              unit_grants=[(100, 1, 10), (100, 2, 10)])
    assert Advisor(w).for_unit(3) == []  # rule 2 for account 20 stands on two grants


def test_grant_removal_that_would_expose_other_units_is_left_out():
    # account 20 is a support account (user 100 sees 4 of 5 units); its user also sees unit 5 of
    # account 30, exempt while 20 is support. Removing one grant ends the support status and makes
    # unit 5 ineligible: the suggestion would lower a discount.
    units = {1: (20, UnitFeatures()), 2: (10, UnitFeatures()), 3: (10, UnitFeatures()), 4: (10, UnitFeatures()),
             5: (30, UnitFeatures())}
    grants = [(100, 2, 10), (100, 3, 10), (100, 4, 10), (100, 5, 30)]
    w = world(units, users={100: 20}, unit_grants=grants)
    advisor = Advisor(w)
    assert advisor.discounts[5] == 76
    for unit in units:
        for s in advisor.for_unit(unit):
            after = Scorer().discounts(apply(s.change, w))
            assert all(after[u] >= d for u, d in advisor.discounts.items())


def test_service_after_top_suggestions():
    acc = AccountFeatures(400, available_services=frozenset({"cms_manager"}))
    w = world({1: (10, UnitFeatures()), 2: (20, UnitFeatures())}, accounts={10: acc})
    advisor = Advisor(w)
    summary = advisor.service_after_top(basic_package_units=0, purchased_units=2)
    assert rules.service_summary(advisor.discounts.values(), basic_package_units=0, purchased_units=2).current \
        == Decimal("63.00")  # (50 + 76) / 2
    assert summary.current == Decimal("76.00")


# --- Properties ----------------------------------------------------------------------------------

CRITERIA = sorted(rules.ECO_CRITERION_POINTS)


@st.composite
def unit_features(draw):
    fuel = draw(st.integers(0, 3))
    return UnitFeatures(sensors=fuel + draw(st.integers(0, 4)), fuel_sensors=fuel, commands=draw(st.integers(0, 6)),
                        service_intervals=draw(st.integers(0, 3)), eco_driving=draw(st.booleans()),
                        road_limits_speeding=draw(st.booleans()),
                        eco_criteria=frozenset(draw(st.lists(st.sampled_from(CRITERIA), max_size=3))))


@st.composite
def account_features(draw):
    services = draw(st.sets(st.sampled_from(["cms_manager", "messages", "Apps: A", "Apps: B", "sms"])))
    counts = draw(st.dictionaries(st.sampled_from(rules.OBJECT_SERVICES), st.integers(0, 60), max_size=4))
    return AccountFeatures(history_period_days=draw(st.sampled_from([0, 100, 400, 401, 800, 1201, 3650])),
                           available_services=frozenset(services), object_counts=counts)


@st.composite
def worlds(draw):
    accounts = list(range(10, 10 + draw(st.integers(1, 4))))
    n_units = draw(st.integers(1, 8))
    unit_account = {u: draw(st.sampled_from(accounts)) for u in range(1, n_units + 1)}
    users = {100 + i: draw(st.sampled_from(accounts)) for i in range(draw(st.integers(0, 3)))}
    unit_grants, account_grants = set(), set()
    if users:
        for user, unit in draw(st.lists(st.tuples(st.sampled_from(sorted(users)), st.sampled_from(sorted(unit_account))),
                                        max_size=5)):
            unit_grants.add((user, unit, unit_account[unit]))
        for user, acc in draw(st.lists(st.tuples(st.sampled_from(sorted(users)), st.sampled_from(accounts)),
                                       max_size=2)):
            account_grants.add((user, acc))
    return World(units={u: draw(unit_features()) for u in unit_account},
                 accounts={a: draw(account_features()) for a in accounts},
                 graph=AccessGraph(unit_account=unit_account, user_account=users,
                                   unit_grants=tuple(sorted(unit_grants)), account_grants=tuple(sorted(account_grants)),
                                   dealers=frozenset(draw(st.sets(st.sampled_from(accounts))))))


def _check(advisor: Advisor, subject, suggestions, discount_of):
    before = advisor.discounts
    keys = [(-s.discount_after, -s.points) for s in suggestions]
    assert keys == sorted(keys), "ranked by discount after, then points"
    for s in suggestions:
        after = Scorer().discounts(apply(s.change, advisor.world))
        assert discount_of(after) == s.discount_after  # exactly what recomputing gives
        assert s.discount_after > s.discount == discount_of(before)
        assert all(after[u] >= d for u, d in before.items()), "no suggestion lowers a discount"
        assert s.units == sum(1 for u, d in after.items() if d > before[u])
        assert s.points >= 0


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_every_suggestion_recomputes_to_its_discount_after(w):
    advisor = Advisor(w)
    for unit in w.units:
        suggestions = advisor.for_unit(unit)
        if advisor.discounts[unit] == rules.UNIT_DISCOUNT_CAP:
            assert suggestions == []
        _check(advisor, unit, suggestions, lambda d, unit=unit: d[unit])
    for account in w.accounts:
        units = w.units_of.get(account, [])
        _check(advisor, account, advisor.for_account(account), lambda d, units=units: account_discount(d, units))


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 60), unit_features())
def test_each_unit_change_alters_one_line(account_points, features):
    before = {i.code: i.points for i in rules.unit_points(features).items}
    for change in unit_changes(1, features):
        after = {i.code: i.points for i in rules.unit_points(change.unit_after).items}
        changed = {code for code in before.keys() | after.keys() if before.get(code) != after.get(code)}
        # removing fuel sensors moves the sensor count with them; a criterion moves only the criterion line
        allowed = {"sensors", "fuel_sensors"} if change.feature in {"sensors", "fuel_sensors"} else {change.feature}
        assert changed and changed <= allowed


@settings(max_examples=100, deadline=None)
@given(account_features())
def test_each_account_change_alters_one_line(features):
    before = {(i.code, i.label) for i in rules.account_points(features).items}
    for change in account_changes(10, features):
        after = {(i.code, i.label) for i in rules.account_points(change.account_after).items}
        assert len(before - after) == 1  # exactly one line lowered (or gone)
        assert rules.account_points(change.account_after).total < rules.account_points(features).total
