"""The daily job (SPEC §3, §8.3): the days counter, the daily re-evaluation of blocking, and the
removal of idempotency keys older than 90 days.

With block by days on, one day comes off the counter for each local day that ends, and the
account is blocked when the counter falls below the minimum.

Run hourly: each service is acted on once its local day has ended, and every day missed while the
job was down is counted on the next run. ``DayCount`` is unique per (account, day); each chunk
locks its account rows (``SKIP LOCKED``), so two workers never count the same account at once.
An account is counted from the local day it was created on, or, when block by days is switched on
later, from the day of the previous run.

Then every account of a service whose local day ended since the previous run has its blocking
re-evaluated ("re-evaluated … and daily"): a threshold, a plan or a suspension may have changed
without a ledger write. Set-based: per chunk the same few statements whatever its size.
"""

import logging
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Max

from apps.accounts.audit import record_job_run
from apps.accounts.models import Account, IdempotencyKey, LedgerKind
from apps.core import clock, periods
from apps.core.bulk import insert_rows, many_ids
from apps.plans.inheritance import combined_settings
from apps.plans.models import Plan

from .blocking import evaluate_blocking_many
from .ledger import LedgerRow, post_ledger_entries
from .models import DayCount, JobRun

log = logging.getLogger(__name__)

JOB = "count_days"
CHUNK = 2000
IDEMPOTENCY_KEY_DAYS = 90  # SPEC §8.3: "Keys are kept 90 days."


def count_days(*, now: datetime | None = None) -> dict:
    """Count every ended local day for every account with block by days on, re-evaluate the blocks
    of every service whose local day ended, and drop expired idempotency keys; returns counts."""
    now = now or clock.now()
    previous_run = JobRun.objects.filter(job=JOB).values_list("last_started_at", flat=True).first()
    totals = {"accounts": 0, "days": 0, "evaluated": 0, "block_changes": 0}
    for service in Account.objects.filter(parent__isnull=True).order_by("pk"):
        result = _count_service(service, now=now, previous_run=previous_run)
        record_job_run("count_days", counts=result, account=service, now=now)  # only when it changed something
        for key in totals:
            totals[key] += result[key]
    totals["idempotency_keys_removed"] = remove_expired_idempotency_keys(now=now)
    JobRun.objects.update_or_create(job=JOB, defaults={"last_started_at": now})
    log.info("daily job: %(days)s days off %(accounts)s accounts, %(evaluated)s accounts re-evaluated "
             "(%(block_changes)s blocks changed), %(idempotency_keys_removed)s idempotency keys removed", totals)
    return totals


def remove_expired_idempotency_keys(*, now: datetime) -> int:
    """Delete the idempotency keys older than 90 days in one statement (nothing refers to them)."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=now - timedelta(days=IDEMPOTENCY_KEY_DAYS)).delete()
    return deleted


def _local_day_ended(service: Account, *, now: datetime, previous_run: datetime | None) -> bool:
    """Whether a local day of the service ended since the previous run (always on the first run)."""
    if previous_run is None:
        return True
    return periods.local_day(now, service.timezone) > periods.local_day(previous_run, service.timezone)


def _count_service(service: Account, *, now: datetime, previous_run: datetime | None) -> dict:
    today = periods.local_day(now, service.timezone)
    accounts = list(Account.objects.filter(service_id=service.pk).order_by("pk")
                    .only("id", "name", "plan_id", "block_by_days"))
    plans = Plan.objects.filter(service_id=service.pk).in_bulk()
    # The only setting read here is block by days: its value depends on the plan and the override.
    by_key: dict[tuple, bool] = {}
    counting = []
    for account in accounts:
        key = (account.plan_id, account.block_by_days)
        if key not in by_key:
            by_key[key] = bool(combined_settings(account, plans)["block_by_days"].value)
        if by_key[key]:
            counting.append(account.pk)
    totals = {"accounts": 0, "days": 0, "evaluated": 0, "block_changes": 0}
    for start in range(0, len(counting), CHUNK):
        result = _count_chunk(counting[start:start + CHUNK], service=service, today=today, now=now,
                              previous_run=previous_run)
        totals["accounts"] += result["accounts"]
        totals["days"] += result["days"]
    if _local_day_ended(service, now=now, previous_run=previous_run):
        ids = [account.pk for account in accounts]
        for start in range(0, len(ids), CHUNK):
            with transaction.atomic():
                totals["block_changes"] += evaluate_blocking_many(ids[start:start + CHUNK], now=now, lock=True)
        totals["evaluated"] = len(ids)
    return totals


def _days_to_count(created_at: datetime, last: date | None, *, tz: str, today: date,
                   previous_run: datetime | None) -> list[date]:
    if last is not None:
        first = last + timedelta(days=1)
    else:
        since = max(created_at, previous_run) if previous_run else created_at
        first = periods.local_day(since, tz)
    return [first + timedelta(days=n) for n in range((today - first).days)]


@transaction.atomic
def _count_chunk(ids: list[int], *, service: Account, today: date, now: datetime,
                 previous_run: datetime | None) -> dict:
    """Count one chunk's days: lock the accounts, read their last counted days, then the ledger
    rows (with balances and blocking, ``post_ledger_entries``) and the ``DayCount`` rows."""
    accounts = list(Account.objects.select_for_update(skip_locked=True).filter(pk__in=many_ids(ids)).order_by("pk")
                    .values_list("id", "created_at"))
    last = dict(DayCount.objects.filter(account_id__in=many_ids([pk for pk, _ in accounts])).values("account_id")
                .annotate(last=Max("day")).values_list("account_id", "last"))
    rows, counted = [], []
    for pk, created_at in accounts:
        for day in _days_to_count(created_at, last.get(pk), tz=service.timezone, today=today,
                                  previous_run=previous_run):
            rows.append(LedgerRow(account_id=pk, kind=LedgerKind.DAYS_DECREMENTED, days=-1,
                                  description=f"Days counter: {day:%Y-%m-%d}"))
            counted.append((pk, day))
    ledger_ids = post_ledger_entries(rows, now=now)
    insert_rows(DayCount, ("account_id", "day", "ledger_entry_id", "counted_at"),
                [(pk, day, ledger_id, now) for (pk, day), ledger_id in zip(counted, ledger_ids, strict=True)])
    return {"accounts": len({pk for pk, _ in counted}), "days": len(counted)}
