"""The days counter: one day off per ended local day, blocking below the minimum, catch-up, once."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from apps.accounts import operations as account_ops
from apps.accounts.models import Account, IdempotencyKey, LedgerEntry
from apps.accounts.queries import ledger_mismatches
from apps.plans.models import Plan
from apps.services.days import count_days
from apps.services.models import DayCount, JobRun
from apps.services.queries import block_warnings
from apps.services import ledger

DAY0 = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)  # after the fixtures' real creation time


@pytest.fixture
def counting(billed):
    """North Client counts days (minimum 0) and holds 6 days; the job has been running."""
    JobRun.objects.create(job="count_days", last_started_at=DAY0 - timedelta(hours=1))
    account_ops.update_account(actor=billed.platform, account=billed.north_client,
                               changes={"block_by_days": True, "min_days": 0})
    ledger.record_payment(actor=billed.north_op, account=billed.north_client, days=6, description="6 days")
    return billed


def test_each_ended_local_day_takes_one_day_once(counting):
    with time_machine.travel(DAY0, tick=False):
        count_days()
    with time_machine.travel(datetime(2027, 1, 10, 23, 30, tzinfo=UTC), tick=False):  # 00:30 on the 11th in Berlin
        count_days()
        count_days()
    client = Account.objects.get(pk=counting.north_client.pk)
    assert client.days == 5
    assert list(DayCount.objects.values_list("day", flat=True)) == [datetime(2027, 1, 10).date()]
    entry = LedgerEntry.objects.get(account=client, kind="days_decremented")
    assert (entry.days, entry.description) == (-1, "Days counter: 2027-01-10")
    assert not DayCount.objects.exclude(account=client).exists()  # block by days is off elsewhere


def test_missed_days_are_caught_up_and_the_account_blocked_below_the_minimum(counting):
    with time_machine.travel(DAY0 + timedelta(days=7), tick=False):
        result = count_days()
    client = Account.objects.get(pk=counting.north_client.pk)
    assert result["days"] == 7
    assert (client.days, client.blocked, client.blocked_by) == (-1, True, "days")
    assert DayCount.objects.filter(account=client).count() == 7
    assert not ledger_mismatches().exists()
    with time_machine.travel(DAY0 + timedelta(days=7, hours=1), tick=False):
        ledger.record_payment(actor=counting.north_op, account=client, days=30, description="renewal")
    client.refresh_from_db()
    assert (client.days, client.blocked) == (29, False)


def test_warning_from_five_days_before_a_block_by_days(counting):
    client = counting.north_client
    assert client.pk not in block_warnings([client.pk], DAY0)  # 6 days left: blocked in 7 days
    with time_machine.travel(DAY0 + timedelta(days=2), tick=False):
        count_days()  # two days off: 4 left
    warnings = block_warnings([client.pk, counting.north.pk], DAY0 + timedelta(days=2))
    assert "blocked by days in 5 day(s)" in warnings[client.pk]
    assert counting.north.pk not in warnings


def test_every_account_is_re_evaluated_once_its_local_day_ends(billed):
    """A plan's threshold raised without a ledger write blocks its accounts at the next local midnight."""
    JobRun.objects.create(job="count_days", last_started_at=DAY0 - timedelta(hours=1))
    # Editing a plan re-evaluates no account: only the daily job catches the new threshold.
    Plan.objects.filter(pk=billed.base_plan.pk).update(block_by_balance=True, block_balance=Decimal("1"))
    with time_machine.travel(DAY0, tick=False):  # the same local day as the previous run
        assert count_days()["evaluated"] == 0
    assert not Account.objects.filter(blocked=True).exists()
    with time_machine.travel(datetime(2027, 1, 10, 23, 30, tzinfo=UTC), tick=False):  # 00:30 in Berlin
        result = count_days()
    acme = Account.objects.filter(service=billed.acme)
    assert result["evaluated"] == acme.count() and result["block_changes"] == acme.count()
    client = Account.objects.get(pk=billed.north_client.pk)
    assert (client.blocked, client.blocked_by, client.blocked_at) == (
        True, "balance", datetime(2027, 1, 10, 23, 30, tzinfo=UTC))
    assert client.blocked_reason == "Balance 0.00 is below the block balance 1.00."
    assert not Account.objects.exclude(service=billed.acme).filter(blocked=True).exists()  # other plans
    # Paying clears the threshold at once (the ledger write re-evaluates), not at the next midnight.
    with time_machine.travel(datetime(2027, 1, 11, 8, tzinfo=UTC), tick=False):
        ledger.record_payment(actor=billed.platform, account=client, amount="5", description="transfer")
    client.refresh_from_db()
    assert not client.blocked


def test_idempotency_keys_older_than_90_days_are_removed_by_the_daily_job(billed):
    for key, age in (("old", timedelta(days=90, seconds=1)), ("kept", timedelta(days=89))):
        IdempotencyKey.objects.create(account=billed.north_client, key=key, fingerprint="f" * 64, status_code=201,
                                      body={}, created_at=DAY0 - age)
    with time_machine.travel(DAY0, tick=False):
        result = count_days()
    assert result["idempotency_keys_removed"] == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["kept"]
