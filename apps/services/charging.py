"""Periodic charges (SPEC §3, §8.3): every window of a periodic service that has ended is charged
once, at flat fee + the graduated sum over the count at the window's end.

Exactly once, even with two workers and after an outage:

1. Each (account, service) pair has a watermark (``ChargeWatermark.charged_until``, a window end).
   A pair seen for the first time starts at the window containing the later of the account's
   creation and the previous run (so a plan row added today does not bill the past).
2. Pairs whose next window has ended are processed in chunks; each chunk is one transaction that
   locks its watermarks with ``SKIP LOCKED`` (a second worker takes other pairs, never the same),
   re-reads them, charges every ended window (catch-up is the normal path), and moves them.
3. ``PeriodicCharge`` has a unique key on (account, service, window start) as the last guard; a
   zero amount writes no row, the moved watermark marks the window done.

Counts at a window's end are rebuilt from the journal: the current subtree count minus the
changes journaled at or after that instant. The chunk locks the counter rows first, so no object
move can slip between reading the counts and reading the journal.

Set-based: per service a fixed number of queries to resolve every account, then per chunk a fixed
number of statements whatever its size.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction

from apps.accounts.models import Account, BillingMethod
from apps.core import clock, periods
from apps.plans.inheritance import ACCOUNT_OVERRIDABLE
from apps.plans.models import ServiceType

from . import counters
from .models import ChargeWatermark, JobRun, ObjectChange, ObjectCounter
from .operations import reevaluate_blocking
from .resolution import Resolution, ServiceIndex

log = logging.getLogger(__name__)

JOB = "charge_periodic_services"
CHUNK = 5000
# Priced per unit by the units app (SPEC §8.2), not from the account's counter.
PER_UNIT_SERVICES = frozenset({"unit_sensors", "unit_alias"})


@dataclass
class DuePair:
    watermark_id: int
    account_id: int
    service: str
    resolution: Resolution


def charge_periodic_services(*, now: datetime | None = None) -> dict:
    """Charge every ended window of every periodic service; returns counts for the log."""
    now = now or clock.now()
    previous_run = JobRun.objects.filter(job=JOB).values_list("last_started_at", flat=True).first()
    totals = {"windows": 0, "charges": 0, "amount": Decimal("0")}
    for service in Account.objects.filter(parent__isnull=True, plan__isnull=False).order_by("pk"):
        result = _charge_service(service, now=now, previous_run=previous_run)
        for key in totals:
            totals[key] += result[key]
    JobRun.objects.update_or_create(job=JOB, defaults={"last_started_at": now})
    log.info("periodic charges: %(windows)s windows, %(charges)s charges, %(amount)s in total", totals)
    return totals


def _charge_service(service: Account, *, now: datetime, previous_run: datetime | None) -> dict:
    tz = service.timezone
    accounts = list(Account.objects.filter(service_id=service.pk).values_list("id", "plan_id", "created_at"))
    index = ServiceIndex(service.pk)
    names = [n for n, kind in index.catalogue.items() if kind == ServiceType.PERIODIC
             and n not in PER_UNIT_SERVICES and (n in index.rows or _any_override(index, n))]
    skipped = {"avl_unit"} if service.billing_method == BillingMethod.ACTIVATION_CODES else set()
    watermarks = {(a, s): (pk, until) for pk, a, s, until in ChargeWatermark.objects.filter(
        account__service_id=service.pk, service__in=names).values_list("id", "account_id", "service", "charged_until")}

    # 1. Which pairs are charged, and where new ones start. Accounts without an override of a name
    #    share their plan's resolution, so 100,000 accounts cost a resolution per plan and name.
    by_plan: dict[tuple[int, str], Resolution] = {}

    def resolve(account_id: int, plan_id: int, name: str) -> Resolution:
        if name in index.overrides.get(account_id, {}):
            return index.resolve(Account(id=account_id, plan_id=plan_id), name, False)
        if (plan_id, name) not in by_plan:
            by_plan[(plan_id, name)] = index.resolve(Account(plan_id=plan_id), name, False)
        return by_plan[(plan_id, name)]

    pairs, new = [], []
    for account_id, plan_id, created_at in accounts:
        for name in names:
            resolution = resolve(account_id, plan_id, name)
            if not (resolution.resolves and resolution.has_window):
                continue
            pairs.append((account_id, name, resolution))
            if (account_id, name) not in watermarks:
                since = max(created_at, previous_run) if previous_run else created_at
                start = periods.window(resolution.interval, since, tz)[0]
                new.append(ChargeWatermark(account_id=account_id, service=name, charged_until=start))
    if new:
        ChargeWatermark.objects.bulk_create(new, ignore_conflicts=True, batch_size=5000)
        watermarks.update({(a, s): (pk, until) for pk, a, s, until in ChargeWatermark.objects.filter(
            account__service_id=service.pk, service__in=names, charged_until__in={w.charged_until for w in new},
        ).values_list("id", "account_id", "service", "charged_until")})

    # 2. Pairs whose next window has ended (window ends cached: most pairs share a watermark).
    next_end: dict[tuple, datetime] = {}
    due = []
    for account_id, name, resolution in pairs:
        pk, until = watermarks[(account_id, name)]
        key = (resolution.interval, until)
        if key not in next_end:
            next_end[key] = periods.window(resolution.interval, until, tz)[1]
        if next_end[key] <= now:
            due.append(DuePair(pk, account_id, name, resolution))

    totals = {"windows": 0, "charges": 0, "amount": Decimal("0")}
    for start in range(0, len(due), CHUNK):
        result = _charge_chunk(due[start:start + CHUNK], service=service, index=index, skipped=skipped, now=now)
        for key in totals:
            totals[key] += result[key]
    return totals


def _any_override(index: ServiceIndex, name: str) -> bool:
    return any(name in rows for rows in index.overrides.values())


# What ``reevaluate_blocking`` reads of a charged account: loaded for thousands at once.
_BLOCKING_FIELDS = ("id", "name", "plan_id", "balance", "days", "blocked", "blocked_by", "blocked_reason",
                    "blocked_at", "auto_block_suspended_until", *ACCOUNT_OVERRIDABLE)


@transaction.atomic
def _charge_chunk(chunk: list[DuePair], *, service: Account, index: ServiceIndex, skipped: set[str],
                  now: datetime) -> dict:
    tz = service.timezone
    by_watermark = {pair.watermark_id: pair for pair in chunk}
    locked = list(ChargeWatermark.objects.select_for_update(skip_locked=True)
                  .filter(pk__in=list(by_watermark)).order_by("pk").values_list("id", "charged_until"))
    if not locked:
        return {"windows": 0, "charges": 0, "amount": Decimal("0")}
    account_ids = sorted({by_watermark[pk].account_id for pk, _ in locked})
    names = sorted({by_watermark[pk].service for pk, _ in locked})
    # Lock the counters before reading them and the journal: a move waits until this chunk is done.
    current = {(a, s): n for a, s, n in ObjectCounter.objects.select_for_update()
               .filter(account_id__in=account_ids, service__in=names).order_by("account_id", "service")
               .values_list("account_id", "service", "subtree")}
    windows_of = {pk: list(periods.windows_between(by_watermark[pk].resolution.interval, until, now, tz))
                  for pk, until in locked}
    earliest = min((ws[0][1] for ws in windows_of.values() if ws), default=now)
    tail = _journal_tail(service, names, since=earliest, account_ids=set(account_ids))

    charges, amounts, moves, window_count = [], defaultdict(Decimal), {}, 0
    local_starts: dict[datetime, str] = {}
    for pk, _ in locked:
        pair, windows = by_watermark[pk], windows_of[pk]
        if not windows:
            continue
        window_count += len(windows)
        moves[pk] = windows[-1][1]
        if pair.service in skipped:
            continue
        for start, end in windows:
            count = current.get((pair.account_id, pair.service), 0) - sum(
                delta for at, delta in tail.get((pair.account_id, pair.service), ()) if at >= end)
            amount = pair.resolution.table.total(count)
            if amount <= 0:
                continue
            if start not in local_starts:
                local_starts[start] = f"{start.astimezone(periods.as_zone(tz)):%Y-%m-%d %H:%M}"
            charges.append({
                "account_id": pair.account_id, "service": pair.service, "window_start": start, "window_end": end,
                "count": count, "cost_table": pair.resolution.cost_table, "amount": amount,
                "description": f"{pair.service}: {count} for the {pair.resolution.interval} window "
                               f"from {local_starts[start]}",
            })
            amounts[pair.account_id] += amount
    counters.insert_charges(charges, now=now)
    counters.move_watermarks(moves)
    balances = counters.debit_balances(dict(amounts))
    for account in Account.objects.filter(pk__in=list(balances)).only(*_BLOCKING_FIELDS):
        reevaluate_blocking(index.attach_plan(account), now=now)
    return {"windows": window_count, "charges": len(charges), "amount": sum(amounts.values(), Decimal("0"))}


def _journal_tail(service: Account, names: list[str], *, since: datetime,
                  account_ids: set[int]) -> dict[tuple[int, str], list[tuple[datetime, int]]]:
    """Changes journaled at or after ``since``, attributed to every account of their path that is
    in ``account_ids`` (an ancestor's subtree count moved with each of them)."""
    tail = defaultdict(list)
    for path, name, delta, at in ObjectChange.objects.filter(
            at__gte=since, service__in=names, path__startswith=service.path).values_list("path", "service", "delta",
                                                                                           "at"):
        for pk in (int(p) for p in path.strip("/").split("/")):
            if pk in account_ids:
                tail[(pk, name)].append((at, delta))
    return tail
