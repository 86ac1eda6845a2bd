"""The days counter (SPEC §3, §8.3): with block by days on, one day comes off the counter for
each local day that ends, and the account is blocked when the counter falls below the minimum.

Run hourly: each service is acted on once its local day has ended, and every day missed while the
job was down is counted on the next run. ``DayCount`` is unique per (account, day); each chunk
locks its account rows (``SKIP LOCKED``), so two workers never count the same account at once.
An account is counted from the local day it was created on, or, when block by days is switched on
later, from the day of the previous run.
"""

import logging
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Max

from apps.accounts.models import Account, LedgerEntry, LedgerKind
from apps.core import clock, periods

from .models import DayCount, JobRun
from .operations import reevaluate_blocking
from .resolution import ServiceIndex, preloaded_settings

log = logging.getLogger(__name__)

JOB = "count_days"
CHUNK = 2000


def count_days(*, now: datetime | None = None) -> dict:
    """Count every ended local day for every account with block by days on; returns counts."""
    now = now or clock.now()
    previous_run = JobRun.objects.filter(job=JOB).values_list("last_started_at", flat=True).first()
    totals = {"accounts": 0, "days": 0}
    for service in Account.objects.filter(parent__isnull=True).order_by("pk"):
        result = _count_service(service, now=now, previous_run=previous_run)
        totals["accounts"] += result["accounts"]
        totals["days"] += result["days"]
    JobRun.objects.update_or_create(job=JOB, defaults={"last_started_at": now})
    log.info("days counter: %(days)s days off %(accounts)s accounts", totals)
    return totals


def _count_service(service: Account, *, now: datetime, previous_run: datetime | None) -> dict:
    today = periods.local_day(now, service.timezone)
    accounts = list(Account.objects.filter(service_id=service.pk))
    index = ServiceIndex(service.pk, [])
    counting = [a.pk for a in accounts if preloaded_settings(index.attach_plan(a))["block_by_days"].value]
    totals = {"accounts": 0, "days": 0}
    for start in range(0, len(counting), CHUNK):
        result = _count_chunk(counting[start:start + CHUNK], service=service, index=index, today=today, now=now,
                              previous_run=previous_run)
        totals["accounts"] += result["accounts"]
        totals["days"] += result["days"]
    return totals


def _days_to_count(account: Account, last: date | None, *, tz: str, today: date,
                   previous_run: datetime | None) -> list[date]:
    if last is not None:
        first = last + timedelta(days=1)
    else:
        since = max(account.created_at, previous_run) if previous_run else account.created_at
        first = periods.local_day(since, tz)
    return [first + timedelta(days=n) for n in range((today - first).days)]


@transaction.atomic
def _count_chunk(ids: list[int], *, service: Account, index: ServiceIndex, today: date, now: datetime,
                 previous_run: datetime | None) -> dict:
    accounts = list(Account.objects.select_for_update(skip_locked=True).filter(pk__in=ids).order_by("pk"))
    last = dict(DayCount.objects.filter(account_id__in=[a.pk for a in accounts]).values("account_id")
                .annotate(last=Max("day")).values_list("account_id", "last"))
    entries, counts, changed = [], [], []
    for account in accounts:
        days = _days_to_count(account, last.get(account.pk), tz=service.timezone, today=today,
                              previous_run=previous_run)
        if not days:
            continue
        for day in days:
            entries.append(LedgerEntry(account_id=account.pk, kind=LedgerKind.DAYS_DECREMENTED, days=-1, at=now,
                                       actor_name="system", description=f"Days counter: {day:%Y-%m-%d}"))
            counts.append(DayCount(account_id=account.pk, day=day, counted_at=now))
        account.days -= len(days)
        changed.append(account)
    LedgerEntry.objects.bulk_create(entries)
    for count, entry in zip(counts, entries, strict=True):
        count.ledger_entry_id = entry.pk
    DayCount.objects.bulk_create(counts)
    Account.objects.bulk_update(changed, ["days"])
    for account in changed:
        reevaluate_blocking(index.attach_plan(account), now=now)
    return {"accounts": len(changed), "days": len(counts)}
