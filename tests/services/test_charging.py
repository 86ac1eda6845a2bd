"""Periodic charges: once per (account, service, window), catch-up after an outage, the journal."""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.accounts import operations as account_ops
from apps.accounts.models import Account, LedgerEntry
from apps.accounts.queries import ledger_mismatches
from apps.codes.operations import switch_billing_method
from apps.services.charging import charge_periodic_services
from apps.services.models import ChargeWatermark, JobRun
from apps.services.operations import move_objects
from apps.units import operations as unit_ops
from apps.services import ledger
from tests import factories
from tests.helpers import requires_postgres
from tests.services.helpers import row
from tests.services.test_races import in_threads

# Acme is in Berlin: a local day starts at 23:00 UTC in winter. After the fixtures were created (real time).
DAY0 = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def job_running_since_day0(billed):
    """The charge job has been running: pairs first seen now start at DAY0's window, not at the
    fixtures' creation (which happened in real time)."""
    JobRun.objects.create(job="charge_periodic_services", last_started_at=DAY0 - timedelta(hours=1))


def periodic_charges():
    """The periodic charges: ledger rows of one window each."""
    return LedgerEntry.objects.filter(periodic=True)


def charge_rows(account, service):
    """(count, amount charged) per window, oldest first."""
    return [(count, -amount) for count, amount in periodic_charges().filter(account=account, service=service)
            .order_by("window_start").values_list("quantity", "amount")]


def test_each_ended_window_is_charged_once_with_flat_fee_and_graduated_sum(billed):
    row(billed.base_plan, "zones_library", "0:10;2:0;1", interval="daily")  # fee 10, two free, then 1 each
    with time_machine.travel(DAY0, tick=False):
        move_objects(account=billed.north_client, service="zones_library", delta=4)
        charge_periodic_services()  # nothing has ended yet
    assert not periodic_charges().exists()
    with time_machine.travel(DAY0 + timedelta(days=1), tick=False):
        charge_periodic_services()
        charge_periodic_services()  # running twice changes nothing
    assert charge_rows(billed.north_client, "zones_library") == [(4, Decimal("12.0000"))]
    charge = periodic_charges().get(account=billed.north_client)
    assert (charge.window_start, charge.window_end) == (datetime(2027, 1, 9, 23, tzinfo=UTC),
                                                        datetime(2027, 1, 10, 23, tzinfo=UTC))
    assert charge.cost_table == "0:10;2:0;3:1"  # canonical: every counter written out
    assert (charge.kind, charge.amount, charge.quantity) == ("charge", Decimal("-12.0000"), 4)
    # Ancestors resolving the row through the Dealer/Base chain pay over their subtree count.
    assert charge_rows(billed.north, "zones_library") == [(4, Decimal("12.0000"))]
    # An account with no objects still pays the flat fee.
    assert charge_rows(billed.south_client, "zones_library") == [(0, Decimal("10.0000"))]
    assert not ledger_mismatches().exists()


def test_three_day_outage_catches_up_every_window_with_the_count_at_its_end(billed):
    row(billed.base_plan, "zones_library", "1", interval="daily")
    with time_machine.travel(DAY0, tick=False):
        move_objects(account=billed.north_client, service="zones_library", delta=1)
        charge_periodic_services()
    with time_machine.travel(DAY0 + timedelta(days=1), tick=False):
        move_objects(account=billed.north_client, service="zones_library", delta=2)  # day 1: 3 objects
    with time_machine.travel(DAY0 + timedelta(days=2), tick=False):
        move_objects(account=billed.north_client, service="zones_library", delta=-3)  # day 2: none
    with time_machine.travel(DAY0 + timedelta(days=3, hours=1), tick=False):
        result = charge_periodic_services()
        again = charge_periodic_services()
    # Windows ended: the 10th (1 object), the 11th (3), the 12th (0: no charge row).
    assert charge_rows(billed.north_client, "zones_library") == [(1, Decimal("1.0000")), (3, Decimal("3.0000"))]
    assert again["charges"] == 0 and result["charges"] > 0
    watermark = ChargeWatermark.objects.get(account=billed.north_client, service="zones_library")
    assert watermark.charged_until == datetime(2027, 1, 12, 23, tzinfo=UTC)
    assert LedgerEntry.objects.filter(account=billed.north_client, kind="charge").count() == 2


def test_activation_code_billing_does_not_charge_units(billed):
    row(billed.base_plan, "avl_unit", "5", interval="daily")
    switch_billing_method(actor=billed.platform, service=billed.acme, method="activation_codes", confirm=True)
    with time_machine.travel(DAY0, tick=False):
        move_objects(account=billed.north_client, service="avl_unit", delta=1, internal=True)
        charge_periodic_services()
    with time_machine.travel(DAY0 + timedelta(days=2), tick=False):
        charge_periodic_services()
    assert not periodic_charges().filter(service="avl_unit").exists()
    # The windows still count as done: switching back charges from then on, not the past.
    assert ChargeWatermark.objects.get(account=billed.north_client, service="avl_unit").charged_until == \
        datetime(2027, 1, 11, 23, tzinfo=UTC)


def test_a_charge_below_the_block_balance_blocks_and_a_payment_unblocks_at_once(billed):
    row(billed.base_plan, "periodic", "0:10;-1", interval="daily")
    account_ops.update_account(actor=billed.platform, account=billed.north_client,
                               changes={"block_by_balance": True, "block_balance": Decimal("-5")})
    with time_machine.travel(DAY0, tick=False):
        charge_periodic_services()
    with time_machine.travel(DAY0 + timedelta(days=1), tick=False):
        charge_periodic_services()
    client = Account.objects.get(pk=billed.north_client.pk)
    assert (client.balance, client.blocked, client.blocked_by) == (Decimal("-10.0000"), True, "balance")
    with time_machine.travel(DAY0 + timedelta(days=1, hours=2), tick=False):
        ledger.record_payment(actor=billed.north_op, account=client, amount="20", description="bank transfer")
    client.refresh_from_db()
    assert (client.balance, client.blocked) == (Decimal("10.0000"), False)


def test_statements_per_run_do_not_grow_with_the_number_of_accounts(billed):
    row(billed.base_plan, "periodic", "0:10;-1", interval="daily")
    row(billed.base_plan, "zones_library", "1", interval="daily")
    row(billed.base_plan, "unit_sensors", "0:1;1", interval="daily")  # priced per unit: one read per run
    for name in ("avl_unit", "unit_alias"):
        row(billed.base_plan, name, "", interval="none")

    def statements_of_a_run(at):
        with time_machine.travel(at, tick=False), CaptureQueriesContext(connection) as queries:
            result = charge_periodic_services()
        return len(queries), result["charges"]

    with time_machine.travel(DAY0, tick=False):
        unit_with_sensors(billed, billed.north_client, 2)
        charge_periodic_services()  # creates the watermarks
    few, few_charges = statements_of_a_run(DAY0 + timedelta(days=1))
    new_clients = [factories.account(billed.north, plan_=billed.base_plan, actor=billed.platform) for _ in range(20)]
    for client in new_clients:
        unit_with_sensors(billed, client, 2)
    with time_machine.travel(DAY0 + timedelta(days=1, hours=1), tick=False):
        charge_periodic_services()  # the new accounts' watermarks; nothing of theirs has ended yet
    many, many_charges = statements_of_a_run(DAY0 + timedelta(days=2))
    # Each new client pays the flat fee of `periodic` and its unit's `unit_sensors` (1 + 2).
    assert many_charges == few_charges + 40
    assert list(periodic_charges().filter(service="unit_sensors", account__in=new_clients)
                .values_list("quantity", "amount")) == [(2, Decimal("-3.0000"))] * 20
    assert many == few
    assert not ledger_mismatches().exists()


# --- per-unit services (SPEC §8.2): the sum over the subtree's units ----------------------------------

# The first monthly window seen from DAY0: Berlin's January, and a moment after it ended.
JANUARY = (datetime(2026, 12, 31, 23, tzinfo=UTC), datetime(2027, 1, 31, 23, tzinfo=UTC))
AFTER_JANUARY = datetime(2027, 2, 1, 12, 0, tzinfo=UTC)
_unique_ids = itertools.count(1)


@pytest.fixture
def sensors_priced(billed):
    """``unit_sensors`` at ``0:2;5:1;10:0.5`` monthly on the Base plan (so on every account); the
    other unit services free and without windows, so creating units is allowed and charges nothing."""
    row(billed.base_plan, "unit_sensors", "0:2;5:1;10:0.5", interval="monthly")
    for name in ("avl_unit", "unit_alias"):
        row(billed.base_plan, name, "", interval="none")
    return billed


def unit_with_sensors(world, account, sensors: int):
    number = next(_unique_ids)
    return unit_ops.create_unit(actor=world.top, account=account, name=f"Truck {number}",
                                unique_id=f"PU{number:06d}",
                                sensors=[{"name": f"Sensor {i}", "type": "custom"} for i in range(1, sensors + 1)])


def test_per_unit_service_charges_the_flat_fee_once_plus_each_units_own_positions(sensors_priced):
    world = sensors_priced
    with time_machine.travel(DAY0, tick=False):
        unit_with_sensors(world, world.north_client, 3)
        unit_with_sensors(world, world.north_client, 7)
        charge_periodic_services()  # January has not ended
    assert not periodic_charges().exists()
    with time_machine.travel(AFTER_JANUARY, tick=False):
        first = charge_periodic_services()
        again = charge_periodic_services()
    # 2 + (3 × 1) + (5 × 1 + 2 × 0.5); the total count would have priced 10 sensors as 2 + 5 + 5 × 0.5.
    assert charge_rows(world.north_client, "unit_sensors") == [(10, Decimal("11.0000"))]
    charge = periodic_charges().get(account=world.north_client, service="unit_sensors")
    assert (charge.window_start, charge.window_end) == JANUARY
    assert (charge.amount, charge.quantity) == (Decimal("-11.0000"), 10)
    assert charge.description == "unit_sensors: 10 on 2 unit(s) for the monthly window from 2027-01-01 00:00"
    # An account without units pays the flat fee alone.
    assert charge_rows(world.south_client, "unit_sensors") == [(0, Decimal("2.0000"))]
    assert first["charges"] > 0 and again["charges"] == 0
    assert ChargeWatermark.objects.get(account=world.north_client, service="unit_sensors").charged_until == JANUARY[1]
    assert not periodic_charges().filter(service__in=["avl_unit", "unit_alias"]).exists()
    assert not ledger_mismatches().exists()


def test_a_dealer_with_its_own_row_pays_its_own_price_over_its_subtrees_units(sensors_priced):
    world = sensors_priced
    row(world.dealer_plan, "unit_sensors", "0:1;2:0;3", interval="monthly")  # fee 1, two free per unit, then 3
    with time_machine.travel(DAY0, tick=False):
        unit_with_sensors(world, world.north_client, 3)
        unit_with_sensors(world, world.north_client, 7)
        unit_with_sensors(world, world.north_east_client, 2)
        charge_periodic_services()
    with time_machine.travel(AFTER_JANUARY, tick=False):
        charge_periodic_services()
    # North: 1 + (0 + 3) + (0 + 5 × 3) + 0 over every unit below it; North-East: 1 + 0 over its client's.
    assert charge_rows(world.north, "unit_sensors") == [(12, Decimal("19.0000"))]
    assert charge_rows(world.north_east, "unit_sensors") == [(2, Decimal("1.0000"))]
    assert charge_rows(world.south, "unit_sensors") == [(0, Decimal("1.0000"))]
    # The clients keep the Base price of their own units.
    assert charge_rows(world.north_client, "unit_sensors") == [(10, Decimal("11.0000"))]
    assert charge_rows(world.north_east_client, "unit_sensors") == [(2, Decimal("4.0000"))]
    assert Account.objects.get(pk=world.north.pk).balance == Decimal("-19.0000")


def test_per_unit_services_count_the_units_live_when_the_job_runs(sensors_priced):
    """No journal per unit: a unit archived before the run is not counted, a unit deactivated is."""
    world = sensors_priced
    with time_machine.travel(DAY0, tick=False):
        unit_with_sensors(world, world.north_client, 3)
        archived = unit_with_sensors(world, world.north_client, 7)
        deactivated = unit_with_sensors(world, world.north_client, 1)
        charge_periodic_services()
    with time_machine.travel(DAY0 + timedelta(days=10), tick=False):
        unit_ops.archive_unit(actor=world.top, unit=archived)
        unit_ops.set_unit_active(actor=world.top, unit=deactivated, active=False)
    with time_machine.travel(AFTER_JANUARY, tick=False):
        charge_periodic_services()
    assert charge_rows(world.north_client, "unit_sensors") == [(4, Decimal("6.0000"))]  # 2 + 3 + 1


def test_an_outage_catches_up_every_per_unit_window_once(sensors_priced):
    world = sensors_priced
    with time_machine.travel(DAY0, tick=False):
        unit_with_sensors(world, world.north_client, 3)
        charge_periodic_services()
    with time_machine.travel(AFTER_JANUARY + timedelta(days=31), tick=False):  # February ended too
        charge_periodic_services()
        again = charge_periodic_services()
    assert charge_rows(world.north_client, "unit_sensors") == [(3, Decimal("5.0000"))] * 2
    assert again["charges"] == 0
    assert LedgerEntry.objects.filter(account=world.north_client, service="unit_sensors").count() == 2


def test_activation_code_billing_still_charges_per_unit_services(sensors_priced):
    world = sensors_priced
    row(world.base_plan, "avl_unit", "5", interval="monthly")
    switch_billing_method(actor=world.platform, service=world.acme, method="activation_codes", confirm=True)
    with time_machine.travel(DAY0, tick=False):
        unit = unit_with_sensors(world, world.north_client, 3)  # deactivated until a code: still counted
        charge_periodic_services()
    with time_machine.travel(AFTER_JANUARY, tick=False):
        charge_periodic_services()
    assert not unit.active
    assert charge_rows(world.north_client, "unit_sensors") == [(3, Decimal("5.0000"))]
    assert not periodic_charges().filter(service="avl_unit").exists()


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_four_runs_at_once_charge_each_per_unit_window_once(sensors_priced):
    world = sensors_priced
    with time_machine.travel(DAY0, tick=False):
        unit_with_sensors(world, world.north_client, 3)
        unit_with_sensors(world, world.north_client, 7)
        charge_periodic_services()
    results = in_threads(4, lambda i: charge_periodic_services(now=AFTER_JANUARY))
    assert not [r for r in results if isinstance(r, Exception)]
    accounts = Account.objects.filter(service=world.acme).count()
    assert sum(r["charges"] for r in results) == accounts  # January, once for every account (flat fee)
    assert periodic_charges().filter(service="unit_sensors").count() == accounts
    assert charge_rows(world.north_client, "unit_sensors") == [(10, Decimal("11.0000"))]
    assert not ledger_mismatches().exists()


def test_the_ledger_holds_one_charge_per_window(billed):
    """The database's own guard: a second periodic charge of a window is refused, and a periodic
    row must be a charge with its window."""
    window = {"window_start": DAY0, "window_end": DAY0 + timedelta(days=1)}
    fields = {"account": billed.north_client, "kind": "charge", "amount": Decimal("-1"), "service": "zones_library",
              "description": "test", "at": DAY0, "periodic": True}
    LedgerEntry.objects.create(**fields, **window)
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(**fields, **window)
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(**{**fields, "kind": "payment"}, window_start=DAY0 + timedelta(days=1),
                                   window_end=DAY0 + timedelta(days=2))
    # On-demand charges share windows freely: they are not periodic.
    for _ in range(2):
        LedgerEntry.objects.create(**{**fields, "periodic": False}, **window)
