"""Unit, feature, monitoring-user and grant operations: every rule and its refusal, rows and events."""

from datetime import UTC, datetime

import pytest
import time_machine

from apps.accounts import operations as account_ops
from apps.accounts.models import Account
from apps.core.errors import DoesNotExist, Forbidden, InvalidInput, NotFound
from apps.plans.models import Plan, PlanService
from apps.services.operations import KernelDenied
from apps.units import operations
from apps.units.models import AccessGrant, MonitoringUser, Sensor, Unit, UnitAction, UnitEvent
from apps.units.signals import unit_archived, unit_moving
from tests import factories
from tests.helpers import receiving
from tests.units.helpers import counter

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def events(unit, action=None):
    qs = UnitEvent.objects.filter(unit_id_snapshot=unit.pk)
    return list(qs.filter(action=action) if action else qs)


# --- create -------------------------------------------------------------------------------------------

def test_create_unit_with_features_records_rows_and_event(world, tracker):
    unit = operations.create_unit(
        actor=world.north_op, account=world.north_client, name="Truck 1", unique_id="356938035643809",
        device_type=tracker, sensors=[{"name": "Fuel", "type": "fuel_level"}, {"name": "Ign", "type": "ignition"}],
        commands=[{"name": "Block engine"}], service_intervals=[{"name": "Oil"}], eco_driving=True,
        road_limits_speeding=True, eco_criteria=["braking", "speeding", "braking"], now=NOW)
    unit.refresh_from_db()
    assert (unit.service_id, unit.account_id, unit.active, unit.deactivation_reason) == (
        world.acme.pk, world.north_client.pk, True, "")
    assert sorted(unit.sensors.values_list("name", "type")) == [("Fuel", "fuel_level"), ("Ign", "ignition")]
    assert list(unit.commands.values_list("name", flat=True)) == ["Block engine"]
    assert list(unit.service_intervals.values_list("name", flat=True)) == ["Oil"]
    assert unit.eco_criteria == ["braking", "speeding"]  # a repeated criterion is kept once
    [event] = events(unit)
    assert (event.action, event.at, event.actor_name, event.account_name) == (
        UnitAction.CREATED, NOW, "north", "North Client")
    assert event.details == {"unique_id": "356938035643809", "active": True, "sensors": 2, "commands": 1,
                             "service_intervals": 1}


def test_units_cannot_be_created_in_a_top_account(world):
    with pytest.raises(InvalidInput) as exc:
        operations.create_unit(actor=world.top, account=world.acme, name="T", unique_id="1")
    assert exc.value.fields == {"account": ["Units cannot be created in a top account."]}
    assert not Unit.objects.exists() and not UnitEvent.objects.exists()


@pytest.mark.parametrize("unique_id", ["", "with space", "x" * 65, "imei#1", "ünï"])
def test_unique_id_must_match_the_pattern(world, unique_id):
    with pytest.raises(InvalidInput) as exc:
        operations.create_unit(actor=world.top, account=world.north_client, name="T", unique_id=unique_id)
    assert list(exc.value.fields) == ["unique_id"]


def test_unique_id_is_unique_per_service_among_live_units(world, make_unit):
    first = make_unit(world.north_client, unique_id="IMEI-1")
    with pytest.raises(InvalidInput) as exc:
        make_unit(world.south_client, unique_id="IMEI-1")
    assert list(exc.value.fields) == ["unique_id"]
    other_client = Account.objects.get(name="Other Client")
    assert make_unit(other_client, actor=world.other_top, unique_id="IMEI-1").unique_id == "IMEI-1"
    operations.archive_unit(actor=world.top, unit=first)
    assert make_unit(world.south_client, unique_id="IMEI-1").account_id == world.south_client.pk


def test_distributor_cannot_create_outside_its_subtree(world):
    for account in (world.south_client, world.acme, Account.objects.get(name="Other Client")):
        with pytest.raises(DoesNotExist) as exc:
            operations.create_unit(actor=world.north_op, account=account, name="T", unique_id="A1")
        assert exc.value.fields == {"account": ["No such object."]}


def test_restricted_distributor_cannot_write_units(world):
    with pytest.raises(Forbidden):
        operations.create_unit(actor=world.north_restricted, account=world.north_client, name="T", unique_id="A1")


def test_operator_of_blocked_account_cannot_write(world, make_unit):
    account_ops.block_account(actor=world.top, account=world.north, reason="unpaid")
    with pytest.raises(Forbidden) as exc:
        make_unit(world.north_client, actor=world.north_op)
    assert exc.value.code == "account_blocked"
    with pytest.raises(Forbidden):  # a blocked ancestor blocks the sub-dealer's operators too
        make_unit(world.north_east_client, actor=world.north_east_op)
    assert not Unit.objects.exists()


@pytest.mark.parametrize("field,value", [
    ("sensors", [{"name": "X", "type": "warp_drive"}]),
    ("sensors", [{"type": "ignition"}]),
    ("commands", [{"name": ""}]),
    ("service_intervals", "Oil"),
    ("eco_criteria", ["daydreaming"]),
    ("eco_driving", "yes"),
])
def test_bad_features_are_refused_naming_the_field(world, field, value):
    with pytest.raises(InvalidInput) as exc:
        operations.create_unit(actor=world.top, account=world.north_client, name="T", unique_id="A1",
                               **{field: value})
    assert list(exc.value.fields) == [field]
    assert not Unit.objects.exists() and not Sensor.objects.exists()


def test_billing_by_codes_creates_units_deactivated_without_code(world, make_unit):
    Account.objects.filter(pk=world.acme.pk).update(billing_method="activation_codes")
    with time_machine.travel(NOW, tick=False):
        unit = make_unit(world.north_client)
    assert (unit.active, unit.deactivated_at, unit.deactivation_reason) == (False, NOW, "no_code")
    assert events(unit)[0].details["active"] is False


# --- device types and modems -----------------------------------------------------------------------

def _limit(plan: Plan, mode: str, *types):
    Plan.objects.filter(pk=plan.pk).update(device_type_limit=mode)
    plan.device_types.set(types)


def test_device_type_limit_only_of_the_accounts_plan(world, tracker, camera, make_unit):
    _limit(world.base_plan, "only", tracker)
    assert make_unit(world.north_client, device_type=tracker).device_type == tracker
    with pytest.raises(InvalidInput) as exc:
        make_unit(world.north_client, device_type=camera)
    assert list(exc.value.fields) == ["device_type"]
    with pytest.raises(InvalidInput):  # "only" refuses a unit without a device type too
        make_unit(world.north_client)


def test_device_type_limit_of_an_ancestors_plan_applies(world, tracker, camera, make_unit):
    """North's plan (Dealer) forbids cameras; North Client's own plan (Base) sets no limit."""
    dealer_only = factories.plan(world.acme, name="Dealer only", parent=world.base_plan)
    _limit(dealer_only, "except", camera)
    account_ops.update_account(actor=world.top, account=world.north, changes={"plan": dealer_only})
    with pytest.raises(InvalidInput) as exc:
        make_unit(world.north_client, device_type=camera)
    assert "North" in exc.value.fields["device_type"][0]
    assert make_unit(world.north_client, device_type=tracker).pk
    assert make_unit(world.south_client, device_type=camera).pk  # South's chain sets no limit


def test_device_type_limit_is_inherited_with_its_list(world, tracker, camera, make_unit):
    """Dealer inherits Base's mode and list; a Dealer-plan account (North) gets Base's limit."""
    _limit(world.base_plan, "except", camera)
    with pytest.raises(InvalidInput):
        make_unit(world.north, device_type=camera)
    assert make_unit(world.north, device_type=tracker).pk


def test_device_type_limit_is_checked_on_change_and_on_move(world, tracker, camera, make_unit):
    unit = make_unit(world.south_client, device_type=camera)
    other = factories.plan(world.acme, name="Trackers only", parent=world.base_plan)
    _limit(other, "only", tracker)
    account_ops.update_account(actor=world.top, account=world.north_client, changes={"plan": other})
    with pytest.raises(InvalidInput) as exc:
        operations.update_unit(actor=world.top, unit=unit, changes={"account": world.north_client})
    assert list(exc.value.fields) == ["device_type"]
    moved = make_unit(world.north_client, device_type=tracker)
    with pytest.raises(InvalidInput):
        operations.update_unit(actor=world.top, unit=moved, changes={"device_type": camera})
    unit.refresh_from_db()
    moved.refresh_from_db()
    assert (unit.account_id, moved.device_type_id) == (world.south_client.pk, tracker.pk)


def test_modem_limited_to_plans(world, modem, make_unit):
    modem.limit_by_plans = True
    modem.save()
    with pytest.raises(InvalidInput) as exc:
        make_unit(world.north_client, modem=modem)
    assert list(exc.value.fields) == ["modem"]
    modem.plans.add(world.base_plan)  # North Client's plan
    assert make_unit(world.north_client, modem=modem).modem == modem
    assert make_unit(world.north, modem=modem).pk  # Dealer inherits from Base: allowed too


# --- update and move ------------------------------------------------------------------------------

def test_update_replaces_only_the_lists_given(world, make_unit):
    unit = make_unit(world.north_client, sensors=[{"name": "A", "type": "ignition"}], commands=[{"name": "C"}])
    old_name = unit.name
    operations.update_unit(actor=world.north_op, unit=unit, changes={
        "name": "Renamed", "sensors": [{"name": "F", "type": "fuel_level"}, {"name": "T", "type": "temperature"}]},
        now=NOW)
    unit.refresh_from_db()
    assert unit.name == "Renamed"
    assert sorted(unit.sensors.values_list("name", flat=True)) == ["F", "T"]
    assert list(unit.commands.values_list("name", flat=True)) == ["C"]
    [event] = events(unit, UnitAction.UPDATED)
    assert event.details == {"name": {"from": old_name, "to": "Renamed"}, "sensors": {"count": 2}}
    operations.update_unit(actor=world.north_op, unit=unit, changes={"sensors": []})
    assert not unit.sensors.exists()


def test_update_refuses_unknown_fields_and_changes_nothing(world, make_unit):
    unit = make_unit(world.north_client)
    with pytest.raises(InvalidInput) as exc:
        operations.update_unit(actor=world.top, unit=unit, changes={"name": "X", "service": world.other_service})
    assert list(exc.value.fields) == ["service"]
    assert Unit.objects.get(pk=unit.pk).name == unit.name


def test_changing_unique_id_checks_uniqueness(world, make_unit):
    make_unit(world.north_client, unique_id="TAKEN")
    unit = make_unit(world.north_client)
    with pytest.raises(InvalidInput) as exc:
        operations.update_unit(actor=world.top, unit=unit, changes={"unique_id": "TAKEN"})
    assert list(exc.value.fields) == ["unique_id"]


def test_move_unit_within_subtree(world, make_unit):
    unit = make_unit(world.north_client, actor=world.north_op)
    operations.update_unit(actor=world.north_op, unit=unit, changes={"account": world.north_east_client}, now=NOW)
    unit.refresh_from_db()
    assert unit.account_id == world.north_east_client.pk
    [event] = events(unit, UnitAction.MOVED)
    assert event.details["account"] == {"from": "North Client", "to": "North-East Client"}
    assert event.account_path == world.north_east_client.path


def test_move_refusals(world, make_unit):
    unit = make_unit(world.north_client)
    cases = [
        (world.north_op, world.south_client, DoesNotExist, "account"),
        (world.top, world.acme, InvalidInput, "account"),
        (world.top, Account.objects.get(name="Other Client"), DoesNotExist, "account"),
    ]
    for actor, target, error, field in cases:
        with pytest.raises(error) as exc:
            operations.update_unit(actor=actor, unit=unit, changes={"account": target})
        assert list(exc.value.fields) == [field]
    with pytest.raises(NotFound):  # South cannot touch North's unit at all
        operations.update_unit(actor=world.south_op, unit=unit, changes={"name": "Mine"})
    assert Unit.objects.get(pk=unit.pk).account_id == world.north_client.pk


def test_a_receiver_of_unit_moving_can_refuse_the_move(world, make_unit):
    seen = []

    def refuse(sender, *, unit, new_account, **kwargs):
        seen.append((unit.pk, new_account.pk))
        raise Forbidden("Not there.", code="outside_branch", fields={"account": ["Not there."]})

    unit = make_unit(world.north_client)
    with receiving(unit_moving, refuse):
        with pytest.raises(Forbidden):
            operations.update_unit(actor=world.top, unit=unit, changes={"account": world.south_client})
        assert seen == [(unit.pk, world.south_client.pk)]
        operations.update_unit(actor=world.top, unit=unit, changes={"name": "Still here"})  # no move, no check
    assert seen == [(unit.pk, world.south_client.pk)]


# --- activation ---------------------------------------------------------------------------------------

def test_deactivate_and_activate_by_hand(world, make_unit):
    unit = make_unit(world.north_client)
    unit = operations.set_unit_active(actor=world.north_op, unit=unit, active=False, now=NOW)
    assert (unit.active, unit.deactivated_at, unit.deactivation_reason) == (False, NOW, "manual")
    unit = operations.update_unit(actor=world.north_op, unit=unit, changes={"active": True})
    unit.refresh_from_db()
    assert (unit.active, unit.deactivated_at, unit.deactivation_reason) == (True, None, "")
    actions = UnitEvent.objects.filter(unit_id_snapshot=unit.pk).order_by("id").values_list("action", flat=True)
    assert list(actions) == ["created", "deactivated", "activated"]


def test_manual_activation_refused_without_code_under_billing_by_codes(world, make_unit):
    Account.objects.filter(pk=world.acme.pk).update(billing_method="activation_codes")
    unit = make_unit(world.north_client)
    with pytest.raises(Forbidden) as exc:
        operations.update_unit(actor=world.top, unit=unit, changes={"active": True, "name": "Renamed"})
    assert exc.value.code == "billing_by_codes" and list(exc.value.fields) == ["active"]
    unit.refresh_from_db()
    assert (unit.active, unit.deactivation_reason, unit.name != "Renamed") == (False, "no_code", True)


def test_deactivating_an_inactive_unit_changes_nothing(world, make_unit):
    unit = operations.set_unit_active(actor=world.top, unit=make_unit(world.north_client), active=False, now=NOW)
    operations.set_unit_active(actor=world.top, unit=unit, active=False)
    assert len(events(unit, UnitAction.DEACTIVATED)) == 1


# --- archive ------------------------------------------------------------------------------------------

def test_archive_hides_deactivates_signals_and_removes_grants(world, make_unit):
    calls = []

    def hook(sender, *, unit, actor, now, **kwargs):
        calls.append((unit.pk, actor.pk, now))

    unit = make_unit(world.north_client)
    user = operations.create_monitoring_user(actor=world.top, account=world.north, name="dispatcher")
    operations.grant_access(actor=world.top, user=user, unit=unit)
    with receiving(unit_archived, hook):
        operations.archive_unit(actor=world.north_op, unit=unit, now=NOW)
    unit.refresh_from_db()
    assert (unit.archived_at, unit.active, unit.deactivated_at, unit.deactivation_reason) == (
        NOW, False, NOW, "archived")
    assert calls == [(unit.pk, world.north_op.pk, NOW)]
    assert not AccessGrant.objects.exists()
    assert events(unit, UnitAction.ARCHIVED)[0].details == {"was_active": True, "grants_removed": 1}
    with pytest.raises(NotFound):
        operations.archive_unit(actor=world.top, unit=unit)
    with pytest.raises(NotFound):
        operations.update_unit(actor=world.top, unit=unit, changes={"name": "ghost"})


def test_a_receiver_refusing_the_archive_keeps_the_unit(world, make_unit):
    def refuse(sender, *, unit, actor, now, **kwargs):
        raise Forbidden("Code busy.", code="code_busy")

    unit = make_unit(world.north_client)
    with receiving(unit_archived, refuse), pytest.raises(Forbidden):
        operations.archive_unit(actor=world.top, unit=unit)
    unit.refresh_from_db()
    assert unit.archived_at is None and not events(unit, UnitAction.ARCHIVED)


# --- monitoring users and grants -----------------------------------------------------------------------

def test_create_monitoring_user(world):
    user = operations.create_monitoring_user(actor=world.north_op, account=world.north_client, name="driver1",
                                             now=NOW)
    assert (user.service_id, user.account_id) == (world.acme.pk, world.north_client.pk)
    event = UnitEvent.objects.get(monitoring_user_id_snapshot=user.pk)
    assert (event.action, event.at, event.account_name) == (UnitAction.USER_CREATED, NOW, "North Client")


def test_monitoring_user_refusals(world):
    operations.create_monitoring_user(actor=world.top, account=world.south, name="taken")
    with pytest.raises(InvalidInput) as exc:
        operations.create_monitoring_user(actor=world.top, account=world.north, name="taken")
    assert list(exc.value.fields) == ["name"]
    with pytest.raises(DoesNotExist):
        operations.create_monitoring_user(actor=world.north_op, account=world.south, name="spy")
    with pytest.raises(InvalidInput):
        operations.create_monitoring_user(actor=world.top, account=world.north, name="  ")
    assert MonitoringUser.objects.count() == 1


def test_grant_and_revoke_unit_and_account_access(world, make_unit):
    unit = make_unit(world.north_east_client)
    user = operations.create_monitoring_user(actor=world.north_op, account=world.north, name="ops")
    unit_grant = operations.grant_access(actor=world.north_op, user=user, unit=unit, now=NOW)
    account_grant = operations.grant_access(actor=world.north_op, user=user, account=world.north_east, now=NOW)
    assert (unit_grant.unit_id, unit_grant.account_id) == (unit.pk, None)
    assert (account_grant.unit_id, account_grant.account_id) == (None, world.north_east.pk)
    with pytest.raises(InvalidInput) as exc:
        operations.grant_access(actor=world.north_op, user=user, unit=unit)
    assert list(exc.value.fields) == ["unit"]
    operations.revoke_access(actor=world.north_op, grant=unit_grant, now=NOW)
    assert list(AccessGrant.objects.values_list("pk", flat=True)) == [account_grant.pk]
    actions = list(UnitEvent.objects.filter(monitoring_user_id_snapshot=user.pk).order_by("id")
                   .values_list("action", flat=True))
    assert actions == ["user_created", "access_granted", "access_granted", "access_revoked"]


def test_grant_refusals(world, make_unit):
    north_unit = make_unit(world.north_client)
    south_unit = make_unit(world.south_client)
    other_unit = make_unit(Account.objects.get(name="Other Client"), actor=world.other_top)
    user = operations.create_monitoring_user(actor=world.top, account=world.north, name="ops")
    with pytest.raises(DoesNotExist) as exc:  # the grantee is visible, the unit is not (to North)
        operations.grant_access(actor=world.north_op, user=user, unit=south_unit)
    assert exc.value.fields == {"unit": ["No such object."]}
    with pytest.raises(DoesNotExist):  # another service
        operations.grant_access(actor=world.platform, user=user, unit=other_unit)
    with pytest.raises(DoesNotExist):
        operations.grant_access(actor=world.north_op, user=user, account=world.south)
    with pytest.raises(InvalidInput):
        operations.grant_access(actor=world.top, user=user, unit=north_unit, account=world.north)
    with pytest.raises(NotFound):  # South cannot see the user at all
        operations.grant_access(actor=world.south_op, user=user, unit=south_unit)
    assert operations.grant_access(actor=world.top, user=user, unit=south_unit).pk  # the top user sees both


# --- kernel counters ----------------------------------------------------------------------------------

def test_unit_and_feature_counters_follow_create_update_move_and_archive(world, make_unit):
    unit = make_unit(world.north_client, sensors=[{"name": "A", "type": "ignition"}, {"name": "B", "type": "mileage"}],
                     commands=[{"name": "C"}])
    assert counter(world.north_client, "avl_unit") == (1, 1)
    assert counter(world.north, "avl_unit") == (0, 1)
    assert counter(world.acme, "avl_unit") == (0, 1)
    assert counter(world.north_client, "unit_sensors") == (2, 2)
    assert counter(world.north_client, "unit_alias") == (1, 1)

    operations.update_unit(actor=world.top, unit=unit, changes={"sensors": [{"name": "A", "type": "ignition"}],
                                                               "commands": [{"name": "C"}, {"name": "D"}]})
    assert counter(world.north_client, "unit_sensors") == (1, 1)
    assert counter(world.north_client, "unit_alias") == (2, 2)

    operations.update_unit(actor=world.top, unit=unit, changes={"account": world.south_client})
    assert counter(world.north_client, "avl_unit") == (0, 0) and counter(world.north, "avl_unit") == (0, 0)
    assert counter(world.south_client, "avl_unit") == (1, 1) and counter(world.south, "avl_unit") == (0, 1)
    assert counter(world.acme, "avl_unit") == (0, 1)
    assert counter(world.south_client, "unit_sensors") == (1, 1) and counter(world.north_client, "unit_alias") == (0, 0)

    operations.archive_unit(actor=world.top, unit=unit)
    for service in ("avl_unit", "unit_sensors", "unit_alias"):
        assert counter(world.south_client, service) == (0, 0)
        assert counter(world.acme, service) == (0, 0)


def test_monitoring_user_counts_storage_user(world):
    operations.create_monitoring_user(actor=world.top, account=world.north_client, name="u1")
    assert counter(world.north_client, "storage_user") == (1, 1)
    assert counter(world.north, "storage_user") == (0, 1)


def _limit_units_below_north(world, table: str):
    PlanService.objects.create(plan=world.dealer_plan, name="avl_unit", type="periodic", interval="monthly",
                               cost_table=table)


def test_kernel_denial_refuses_the_unit_and_writes_nothing(world, make_unit):
    _limit_units_below_north(world, "1:0;2:-1")  # North (Dealer plan) may count one unit in its subtree
    make_unit(world.north_client)
    with pytest.raises(KernelDenied) as exc:
        make_unit(world.north_east_client, sensors=[{"name": "A", "type": "ignition"}])
    assert exc.value.status == 403
    assert Unit.objects.filter(account=world.north_east_client).count() == 0
    assert not Sensor.objects.filter(unit__account=world.north_east_client).exists()
    assert counter(world.north, "avl_unit") == (0, 1)
    assert UnitEvent.objects.filter(action="created").count() == 1


def test_move_checks_the_new_paths_limits(world, make_unit):
    _limit_units_below_north(world, "1:0;2:-1")
    make_unit(world.north_client)
    unit = make_unit(world.south_client)  # South also has the Dealer plan: one unit allowed there
    with pytest.raises(KernelDenied):
        operations.update_unit(actor=world.top, unit=unit, changes={"account": world.north_east_client})
    unit.refresh_from_db()
    assert unit.account_id == world.south_client.pk
    assert counter(world.south, "avl_unit") == (0, 1) and counter(world.north, "avl_unit") == (0, 1)
    # Inside North's subtree a move does not count the unit twice for North.
    inner = Unit.objects.get(account=world.north_client)
    operations.update_unit(actor=world.top, unit=inner, changes={"account": world.north_east_client})
    assert counter(world.north, "avl_unit") == (0, 1) and counter(world.north_east, "avl_unit") == (0, 1)


def _sensors(n: int) -> list[dict]:
    return [{"name": f"S{i}", "type": "ignition"} for i in range(1, n + 1)]


def test_sensor_limit_applies_to_each_units_own_count(world, make_unit):
    PlanService.objects.create(plan=world.dealer_plan, name="unit_sensors", type="periodic", interval="monthly",
                               cost_table="5:0;-1")  # North may give each unit at most 5 sensors
    first = make_unit(world.north_client, sensors=_sensors(3))
    second = make_unit(world.north_client, sensors=_sensors(3))  # 6 on the account, 3 on this unit: allowed
    assert counter(world.north_client, "unit_sensors") == (6, 6)
    operations.update_unit(actor=world.top, unit=first, changes={"sensors": _sensors(5)})
    with pytest.raises(KernelDenied) as refused:
        operations.update_unit(actor=world.top, unit=second, changes={"sensors": _sensors(6)})
    assert (refused.value.reason, refused.value.limiting_account_id) == ("limit_reached", world.north.pk)
    assert list(refused.value.fields) == ["sensors"] and "5 per unit, 6 asked" in refused.value.detail
    assert second.sensors.count() == 3 and counter(world.north_client, "unit_sensors") == (8, 8)
    assert not UnitEvent.objects.filter(unit_id_snapshot=second.pk, action=UnitAction.UPDATED).exists()


def test_command_limit_is_checked_per_unit_when_a_unit_moves(world, make_unit):
    PlanService.objects.create(plan=world.dealer_plan, name="unit_alias", type="periodic", interval="monthly",
                               cost_table="2:0;-1")
    unlimited = factories.account(world.acme, name="Direct Client", plan_=world.base_plan, actor=world.platform)
    unit = make_unit(unlimited, commands=[{"name": "a"}, {"name": "b"}, {"name": "c"}])
    with pytest.raises(KernelDenied) as refused:
        operations.update_unit(actor=world.top, unit=unit, changes={"account": world.south_client})
    assert list(refused.value.fields) == ["commands"] and refused.value.limiting_account_id == world.south.pk
    unit.refresh_from_db()
    assert unit.account_id == unlimited.pk and counter(world.south_client, "unit_alias") == (0, 0)


def test_unit_feature_counts_list_each_live_units_own_count(world, make_unit, django_assert_num_queries):
    from apps.services.queries import unit_feature_counts

    make_unit(world.north_client, sensors=_sensors(3), commands=[{"name": "a"}])
    make_unit(world.north_client, sensors=_sensors(2))
    make_unit(world.north_client)  # no sensor: adds nothing
    gone = make_unit(world.north_client, sensors=_sensors(4))
    operations.archive_unit(actor=world.top, unit=gone)
    make_unit(world.south_client, sensors=_sensors(1))
    ids = [world.north_client.pk, world.south_client.pk, world.north.pk]
    with django_assert_num_queries(1):
        sensors = unit_feature_counts(ids, "unit_sensors")
    assert sensors == {world.north_client.pk: [3, 2], world.south_client.pk: [1]}
    assert unit_feature_counts(ids, "unit_alias") == {world.north_client.pk: [1]}
    with django_assert_num_queries(2):  # the services of the ids, then their units: a subtree pays for its units
        below = unit_feature_counts([world.north.pk, world.acme.pk, world.north_east.pk], "unit_sensors", subtree=True)
    assert below == {world.north.pk: [3, 2], world.acme.pk: [3, 2, 1]}
