"""Periodic charges: once per (account, service, window), catch-up after an outage, the journal."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts import operations as account_ops
from apps.accounts.models import Account, LedgerEntry
from apps.accounts.queries import ledger_mismatches
from apps.codes.operations import switch_billing_method
from apps.services.charging import charge_periodic_services
from apps.services.models import ChargeWatermark, JobRun, PeriodicCharge
from apps.services.operations import move_objects
from tests import factories
from tests.services.conftest import row

# Acme is in Berlin: a local day starts at 23:00 UTC in winter. After the fixtures were created (real time).
DAY0 = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def job_running_since_day0(billed):
    """The charge job has been running: pairs first seen now start at DAY0's window, not at the
    fixtures' creation (which happened in real time)."""
    JobRun.objects.create(job="charge_periodic_services", last_started_at=DAY0 - timedelta(hours=1))


def charge_rows(account, service):
    return list(PeriodicCharge.objects.filter(account=account, service=service).order_by("window_start")
                .values_list("count", "amount"))


def test_each_ended_window_is_charged_once_with_flat_fee_and_graduated_sum(billed):
    row(billed.base_plan, "zones_library", "0:10;2:0;1", interval="daily")  # fee 10, two free, then 1 each
    with time_machine.travel(DAY0, tick=False):
        move_objects(account=billed.north_client, service="zones_library", delta=4)
        charge_periodic_services()  # nothing has ended yet
    assert not PeriodicCharge.objects.exists()
    with time_machine.travel(DAY0 + timedelta(days=1), tick=False):
        charge_periodic_services()
        charge_periodic_services()  # running twice changes nothing
    assert charge_rows(billed.north_client, "zones_library") == [(4, Decimal("12.0000"))]
    charge = PeriodicCharge.objects.get(account=billed.north_client)
    assert (charge.window_start, charge.window_end) == (datetime(2027, 1, 9, 23, tzinfo=UTC),
                                                        datetime(2027, 1, 10, 23, tzinfo=UTC))
    assert charge.cost_table == "0:10;2:0;3:1"  # canonical: every counter written out
    assert charge.ledger_entry.amount == Decimal("-12.0000") and charge.ledger_entry.quantity == 4
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
    assert not PeriodicCharge.objects.filter(service="avl_unit").exists()
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
        account_ops.record_payment(actor=billed.north_op, account=client, amount="20", description="bank transfer")
    client.refresh_from_db()
    assert (client.balance, client.blocked) == (Decimal("10.0000"), False)


def test_statements_per_run_do_not_grow_with_the_number_of_accounts(billed):
    row(billed.base_plan, "periodic", "0:10;-1", interval="daily")
    row(billed.base_plan, "zones_library", "1", interval="daily")

    def statements_of_a_run(at):
        with time_machine.travel(at, tick=False), CaptureQueriesContext(connection) as queries:
            result = charge_periodic_services()
        return len(queries), result["charges"]

    with time_machine.travel(DAY0, tick=False):
        charge_periodic_services()  # creates the watermarks
    few, few_charges = statements_of_a_run(DAY0 + timedelta(days=1))
    for _ in range(20):
        factories.account(billed.north, plan_=billed.base_plan, actor=billed.platform)
    with time_machine.travel(DAY0 + timedelta(days=1, hours=1), tick=False):
        charge_periodic_services()  # the new accounts' watermarks; nothing of theirs has ended yet
    many, many_charges = statements_of_a_run(DAY0 + timedelta(days=2))
    assert many_charges == few_charges + 20  # each new client pays the flat fee of `periodic`
    assert many == few
    assert not ledger_mismatches().exists()
