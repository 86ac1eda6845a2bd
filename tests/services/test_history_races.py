"""History under concurrency (PostgreSQL): operations changing the same plan row, override or account
plan at once leave one open version per key and a chain without gaps or overlaps."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.accounts import operations as account_ops
from apps.plans import operations as plan_ops
from apps.plans.models import AccountPlanVersion, AccountServiceVersion, PlanServiceVersion
from apps.services.operations import set_service_override
from tests.helpers import requires_postgres
from tests.services.test_races import in_threads

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]
T0 = datetime(2027, 3, 10, 12, 0, tzinfo=UTC)
CALLS = 12


def _chain_is_whole(versions):
    """In the order they were written: each version ends where the next starts, never before it
    started, and exactly one is open (the last)."""
    rows = sorted(versions, key=lambda v: v.pk)
    assert all(v.valid_until is None or v.valid_until >= v.valid_from for v in rows)
    assert [v.valid_until is None for v in rows].count(True) == 1
    assert rows[-1].valid_until is None
    for before, after in zip(rows, rows[1:], strict=False):
        assert before.valid_until == after.valid_from


def test_parallel_price_changes_keep_one_open_version(billed):
    w = billed
    row = plan_ops.add_plan_service(actor=w.platform, plan=w.base_plan, now=T0, values={
        "name": "sms", "type": "on_demand", "interval": "daily", "cost_table": "1"})
    results = in_threads(CALLS, lambda i: plan_ops.update_plan_service(
        actor=w.platform, row=row, changes={"cost_table": str(i + 2)}, now=T0 + timedelta(seconds=i + 1)))
    assert not [r for r in results if isinstance(r, Exception)]
    versions = list(PlanServiceVersion.objects.filter(plan=w.base_plan, name="sms"))
    _chain_is_whole(versions)
    row.refresh_from_db()
    assert next(v for v in versions if v.valid_until is None).cost_table == row.cost_table


def test_parallel_overrides_and_plan_changes_keep_one_open_version(billed):
    w = billed
    results = in_threads(CALLS, lambda i: set_service_override(
        actor=w.platform, account=w.north_client, name="sms", interval="daily", cost_table=str(i + 1),
        now=T0 + timedelta(seconds=i)))
    assert not [r for r in results if isinstance(r, Exception)]
    _chain_is_whole(AccountServiceVersion.objects.filter(account=w.north_client, name="sms"))
    plans = [w.base_plan, w.dealer_plan]
    results = in_threads(CALLS, lambda i: account_ops.update_account(
        actor=w.platform, account=w.north_client, changes={"plan": plans[i % 2]}, now=T0 + timedelta(seconds=i)))
    assert not [r for r in results if isinstance(r, Exception)]
    _chain_is_whole(AccountPlanVersion.objects.filter(account=w.north_client))
