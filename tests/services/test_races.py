"""Races on PostgreSQL with real threads: limits, limit by balance, idempotency keys, two charge runs.

Each thread closes its connection at its end. The pool is smaller than the number of requests so
the test fits PostgreSQL's default ``max_connections`` while the requests still overlap.
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from apps.accounts import operations as account_ops
from apps.accounts.models import Account, LedgerEntry
from apps.accounts.queries import ledger_mismatches
from apps.services.charging import charge_periodic_services
from apps.services.models import JobRun, UsageCounter
from apps.services.operations import KernelDenied, consume_service, move_objects
from apps.services import ledger
from tests.helpers import requires_postgres
from tests.services.helpers import row

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]
NOW = datetime(2027, 3, 10, 12, 0, tzinfo=UTC)
THREADS = 30


def in_threads(calls: int, fn):
    """Run ``fn(i)`` for i in range(calls) on a thread pool; each result is a value or the exception."""

    def run(i):
        try:
            return fn(i)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each request got
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(run, range(calls)))


def test_parallel_consumes_against_a_daily_limit_allow_exactly_three(billed):
    row(billed.base_plan, "sms", "3:0;-1", interval="daily")
    client = billed.north_client
    results = in_threads(100, lambda i: consume_service(account=client, service="sms", idempotency_key=f"k{i}",
                                                        now=NOW))
    allowed = [r for r in results if isinstance(r, dict)]
    denied = [r for r in results if isinstance(r, KernelDenied)]
    assert len(allowed) == 3 and len(denied) == 97, {type(r) for r in results}
    assert {d.reason for d in denied} == {"limit_reached"}
    assert UsageCounter.objects.get(account=client, service="sms").total == 3


def test_parallel_paid_consumes_never_go_below_the_deny_balance(billed):
    row(billed.base_plan, "sms", "0.7", interval="daily")
    client = billed.north_client
    account_ops.update_account(actor=billed.platform, account=client,
                               changes={"limit_by_balance": True, "deny_balance": Decimal("-10")})
    ledger.record_payment(actor=billed.north_op, account=client, amount="5", description="topup")
    results = in_threads(100, lambda i: consume_service(account=client, service="sms", idempotency_key=f"p{i}",
                                                        now=NOW))
    allowed = [r for r in results if isinstance(r, dict)]
    client.refresh_from_db()
    assert len(allowed) == 21  # 5 + 10 = 15 of credit, 0.7 each: 21 uses (14.70)
    assert client.balance == Decimal("5") - Decimal("0.7") * 21 >= Decimal("-10")
    assert {r.reason for r in results if isinstance(r, KernelDenied)} == {"balance_limit"}
    assert LedgerEntry.objects.filter(account=client, kind="charge").count() == 21
    assert not ledger_mismatches().exists()


def test_one_idempotency_key_from_twenty_threads_charges_once(billed):
    row(billed.base_plan, "sms", "2", interval="daily")
    client = billed.north_client
    results = in_threads(20, lambda i: consume_service(account=client, service="sms", idempotency_key="same",
                                                       now=NOW))
    assert all(r == results[0] for r in results), results
    assert LedgerEntry.objects.filter(account=client, kind="charge").count() == 1
    assert UsageCounter.objects.get(account=client, service="sms").total == 1


def test_two_charge_runs_at_once_charge_each_window_once(billed):
    row(billed.base_plan, "zones_library", "0:1;1", interval="daily")
    JobRun.objects.create(job="charge_periodic_services", last_started_at=NOW - timedelta(hours=1))
    move_objects(account=billed.north_client, service="zones_library", delta=2, now=NOW)
    charge_periodic_services(now=NOW)
    later = NOW + timedelta(days=3)
    in_threads(4, lambda i: charge_periodic_services(now=later))
    accounts = Account.objects.filter(service=billed.acme).count()
    charges = LedgerEntry.objects.filter(periodic=True)
    assert charges.count() == 3 * accounts  # three ended days, every account (flat fee)
    assert list(charges.filter(account=billed.north_client).values_list("amount", flat=True)) == [Decimal("-3")] * 3
    assert not ledger_mismatches().exists()
