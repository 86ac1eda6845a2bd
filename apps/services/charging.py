"""Periodic charges (SPEC §3, §8.3): every window of a periodic service that has ended is charged
once, at flat fee + the graduated sum over the count at the window's end.

Exactly once, even with two workers and after an outage:

1. Each (account, service) pair has a watermark (``ChargeWatermark.charged_until``, a window end).
   A pair seen for the first time starts at the window containing the later of the account's
   creation and the previous run (so a plan row added today does not bill the past).
2. Pairs whose next window has ended are processed in chunks; each chunk is one transaction that
   first claims its pairs: one conditional UPDATE moves each watermark from the value read to the
   end of its last ended window, and leaves alone those another worker has moved since. On
   PostgreSQL the chunks of one service take a transaction-level advisory lock, so two workers
   charge a service's chunks one after the other (the second finds them claimed) and never wait
   on each other's rows in an order that could deadlock. The chunk then charges every claimed
   window (catch-up is the normal path).
3. The charge is a ledger row marked ``periodic``, with the count, the window and the cost table
   in force; the ledger's unique key on (account, service, window start) for those rows is the
   last guard. A zero amount writes no row: the moved watermark marks the window done.

Counts at a window's end are rebuilt from the journal: the current subtree count minus the
changes journaled at or after that instant, both read by one statement (one snapshot), so an
object moved meanwhile is either in both or in neither.

Per-unit services (``unit_sensors``, ``unit_alias``, SPEC §8.2) are priced per unit instead: the
flat fee once, plus each unit's positions 1..n (its own sensors or commands), summed over the
units of the account's subtree. Their counts are the units' counts when the job runs (the journal
holds account totals, not units), read once per service and name for every due account.

Set-based: per service a fixed number of queries to resolve every account, then per chunk a fixed
number of statements whatever its size; the ledger rows, balances and blocking are those of the
ledger's ``post_ledger_entries``. On PostgreSQL the charges are written by ``_copy_charges``:
the rows of a chunk share a handful of (service, count, window, table) combinations, so each
combination's text for ``COPY`` is built once and a row is its account id plus that text (issue 16:
the value-by-value text of 300,000 rows was a fifth of the run).
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import BigIntegerField, CharField, DateTimeField, Value

from apps.accounts.audit import record_job_run
from apps.accounts.models import Account, BillingMethod, LedgerEntry, LedgerKind
from apps.core.bulk import array_literal, many_ids
from apps.core import clock, periods
from apps.core.money import as_money
from apps.plans.cost_table import CostTable
from apps.plans.models import ServiceType
from apps.plans.history import Versions

from . import counters
from .blocking import evaluate_blocking_many
from .ledger import LedgerRow, move_cached_totals, post_ledger_entries
from .models import ChargeWatermark, JobRun, ObjectChange, ObjectCounter
from .operations import PER_UNIT_SERVICES  # priced per unit (SPEC §8.2), not from the account's counter
from .queries import unit_feature_counts
from .resolution import Resolution, ServiceIndex

log = logging.getLogger(__name__)

JOB = "charge_periodic_services"
CHUNK = 5000


@dataclass(slots=True)
class DuePair:
    watermark_id: int
    account_id: int
    service: str
    resolution: Resolution
    charged_until: datetime  # as read before the chunk: the chunk claims the pair only if unchanged


def charge_periodic_services(*, now: datetime | None = None) -> dict:
    """Charge every ended window of every periodic service; returns counts for the log."""
    now = now or clock.now()
    previous_run = JobRun.objects.filter(job=JOB).values_list("last_started_at", flat=True).first()
    totals = {"windows": 0, "charges": 0, "amount": Decimal("0")}
    for service in Account.objects.filter(parent__isnull=True, plan__isnull=False).order_by("pk"):
        result = _charge_service(service, now=now, previous_run=previous_run)
        record_job_run("charge_periodic_services", counts=result, account=service, now=now)  # only when it changed something
        for key in totals:
            totals[key] += result[key]
    JobRun.objects.update_or_create(job=JOB, defaults={"last_started_at": now})
    log.info("periodic charges: %(windows)s windows, %(charges)s charges, %(amount)s in total", totals)
    return totals


def _charge_service(service: Account, *, now: datetime, previous_run: datetime | None) -> dict:
    tz = service.timezone
    accounts = list(Account.objects.filter(service_id=service.pk).values_list("id", "plan_id"))
    index = ServiceIndex(service.pk)
    names = [n for n, kind in index.catalogue.items() if kind == ServiceType.PERIODIC
             and (n in index.rows or _any_override(index, n))]
    skipped = {"avl_unit"} if service.billing_method == BillingMethod.ACTIVATION_CODES else set()
    watermarks = _read_watermarks(service.pk, names)

    # 1. Which pairs are charged, and where new ones start. Accounts without an override of a name
    #    share their plan's resolution, so 100,000 accounts cost a resolution per plan and name.
    #    None: the pair is not charged (no row in force, or a row without windows).
    by_plan: dict[tuple[int, str], Resolution | None] = {}

    def charged(resolution: Resolution) -> Resolution | None:
        return resolution if resolution.resolves and resolution.has_window else None

    pairs, missing = [], []
    for account_id, plan_id in accounts:
        own = index.overrides.get(account_id)
        for name in names:
            if own and name in own:
                resolution = charged(index.resolve(Account(id=account_id, plan_id=plan_id), name, False))
            else:
                resolution = by_plan.get((plan_id, name), False)
                if resolution is False:
                    resolution = by_plan[(plan_id, name)] = charged(
                        index.resolve(Account(plan_id=plan_id), name, False))
            if resolution is None:
                continue
            pairs.append((account_id, name, resolution))
            if (account_id, name) not in watermarks:
                missing.append((account_id, name, resolution))
    if missing:  # creation times only for the accounts that need them (most runs: none)
        created = dict(Account.objects.filter(pk__in=many_ids(sorted({a for a, _, _ in missing})))
                       .values_list("id", "created_at"))
        new, starts = [], {}  # most pairs start at the previous run: one window computed for all
        for account_id, name, resolution in missing:
            since = max(created[account_id], previous_run) if previous_run else created[account_id]
            if (resolution.interval, since) not in starts:
                starts[(resolution.interval, since)] = periods.window(resolution.interval, since, tz)[0]
            new.append((account_id, name, starts[(resolution.interval, since)]))
        watermarks.update(counters.create_watermarks(new))

    # 2. Pairs whose next window has ended (window ends cached: most pairs share a watermark).
    next_end: dict[tuple, datetime] = {}
    due = []
    for account_id, name, resolution in pairs:
        pk, until = watermarks[(account_id, name)]
        key = (resolution.interval, until)
        if key not in next_end:
            next_end[key] = periods.window(resolution.interval, until, tz)[1]
        if next_end[key] <= now:
            due.append(DuePair(pk, account_id, name, resolution, until))

    unit_counts = _unit_counts(due, skipped)
    history = _history_if_changed(service, index, names, due, next_end)
    totals = {"windows": 0, "charges": 0, "amount": Decimal("0")}
    for start in range(0, len(due), CHUNK):
        result = _charge_chunk(due[start:start + CHUNK], service=service, skipped=skipped,
                               unit_counts=unit_counts, now=now, history=history)
        for key in totals:
            totals[key] += result[key]
    return totals


def _read_watermarks(service_id: int, names: list[str]) -> dict[tuple[int, str], tuple[int, datetime]]:
    """``{(account_id, name): (watermark id, charged_until)}`` of the service's accounts.

    On PostgreSQL the instants come as text and are parsed once per distinct value: most pairs share
    a watermark, and psycopg's loader parsed 300,000 equal timestamps one by one."""
    if connection.vendor != "postgresql":
        return {(a, s): (pk, until) for pk, a, s, until in ChargeWatermark.objects.filter(
            account__service_id=service_id, service__in=names).values_list("id", "account_id", "service",
                                                                          "charged_until")}
    instants: dict[str, datetime] = {}
    out = {}
    with connection.cursor() as cursor:
        # The session's time zone is UTC (Django sets it), so the text ends in "+00".
        cursor.execute(
            f"SELECT w.id, w.account_id, w.service, w.charged_until::text FROM {ChargeWatermark._meta.db_table} w "
            f"JOIN {Account._meta.db_table} a ON a.id = w.account_id WHERE a.service_id = %s "
            f"AND w.service = ANY(%s::text[])", [service_id, array_literal(names)])
        for pk, account_id, name, text in cursor.fetchall():
            until = instants.get(text)
            if until is None:
                until = instants[text] = datetime.fromisoformat(text)
            out[(account_id, name)] = (pk, until)
    return out


def _history_if_changed(service, index, names, due, next_end):
    """When a plan row, override or account plan changed after the earliest due window ended (a
    catch-up across a price change), the resolution as of each window's end and the instant of the
    last change; else None (today's resolution is the one in force at every due window's end)."""
    from .as_of import ResolverAsOf, last_change_after

    if not due:
        return None
    earliest = min(next_end[(pair.resolution.interval, pair.charged_until)] for pair in due)
    last_change = last_change_after(service.pk, earliest)
    if last_change is None:
        return None
    return ResolverAsOf(service, Versions(service.pk, names), dict(index.catalogue)), last_change


def window_amount(table: CostTable, count: int) -> Decimal:
    """A periodic window's charge: flat fee + the graduated sum over the count at its end (SPEC §3).
    The replay (``replay.py``) prices with this same function."""
    return table.total(count)


def _any_override(index: ServiceIndex, name: str) -> bool:
    return any(name in rows for rows in index.overrides.values())


def _unit_counts(due: list[DuePair], skipped: set[str]) -> dict[str, dict[int, list[int]]]:
    """Per per-unit name with due pairs, each due account's subtree unit counts: one read per name
    for the whole service (not per chunk), as ``unit_feature_counts`` reads every unit of it."""
    accounts = defaultdict(set)
    for pair in due:
        if pair.service in PER_UNIT_SERVICES and pair.service not in skipped:
            accounts[pair.service].add(pair.account_id)
    return {name: unit_feature_counts(ids, name, subtree=True) for name, ids in sorted(accounts.items())}


def _per_unit_total(table: CostTable, counts: list[int], prices: dict[int, Decimal]) -> Decimal:
    """The flat fee once plus, for each unit, the price of its positions 1..n (``prices`` caches
    ``table.total(n) − flat fee`` by n: most units share a handful of counts)."""
    for n in counts:
        if n not in prices:
            prices[n] = table.total(n) - table.flat_fee
    return table.flat_fee + sum((prices[n] for n in counts), Decimal("0"))


@transaction.atomic
def _charge_chunk(chunk: list[DuePair], *, service: Account, skipped: set[str],
                  unit_counts: dict[str, dict[int, list[int]]], now: datetime, history=None) -> dict:
    """Charge the ended windows of one chunk of pairs in one transaction.

    Statements: the service's advisory lock (PostgreSQL), claim the watermarks (one conditional
    UPDATE moving them past the windows charged here), read the counters with the journal tail
    (one statement), then ``post_ledger_entries`` (ledger rows, balances, blocking of every charged
    account): a fixed number whatever the chunk's size. The per-pair work in Python is cached by
    what pairs share (their windows, their table and count). Per-unit names read ``unit_counts``
    (read before the chunks) instead of the counters and the journal.
    """
    tz = service.timezone
    _lock_service(service.pk)
    windows_of: dict[tuple[str, datetime], list[tuple[datetime, datetime]]] = {}
    for pair in chunk:
        key = (pair.resolution.interval, pair.charged_until)
        if key not in windows_of:
            windows_of[key] = list(periods.windows_between(key[0], pair.charged_until, now, tz))
    claimed = counters.claim_watermarks([
        (pair.watermark_id, pair.charged_until, windows_of[(pair.resolution.interval, pair.charged_until)][-1][1])
        for pair in chunk])
    chunk = [pair for pair in chunk if pair.watermark_id in claimed]
    if not chunk:
        return {"windows": 0, "charges": 0, "amount": Decimal("0")}
    account_ids = sorted({pair.account_id for pair in chunk})
    names = sorted({pair.service for pair in chunk} - PER_UNIT_SERVICES)
    earliest = min(windows[0][1] for windows in windows_of.values())
    current, tail = _counts_and_tail(service, names, account_ids, since=earliest)

    # A charge is (account id, what it shares with others: description, amount, service, count,
    # window, cost table); ``_post_charges`` writes them.
    charges: list[tuple[int, tuple]] = []
    shared: dict[tuple, tuple] = {}
    window_count, total = 0, Decimal("0")
    amounts: dict[tuple[str, int], Decimal] = {}
    unit_prices: dict[str, dict[int, Decimal]] = defaultdict(dict)  # per cost table: a unit's price by count
    descriptions: dict[tuple[str, int, int | None, str, datetime], str] = {}
    for pair in chunk:
        resolution = pair.resolution
        windows = windows_of[(resolution.interval, pair.charged_until)]
        window_count += len(windows)
        if pair.service in skipped:
            continue
        per_unit = pair.service in PER_UNIT_SERVICES
        if per_unit:  # today's counts, the same for every window caught up
            units = unit_counts[pair.service].get(pair.account_id, [])
            unit_total = _per_unit_total(resolution.table, units, unit_prices[resolution.cost_table])
            unit_items = sum(units)
        changes = () if per_unit else tail.get((pair.account_id, pair.service), ())
        for start, end in windows:
            in_force = resolution
            if history is not None and not per_unit and end <= history[1]:
                # A version changed since this window ended: the table in force at its end prices it.
                in_force = history[0].at(pair.account_id, pair.service, end)
                if in_force is None or in_force.interval != resolution.interval:
                    continue
            if per_unit:
                count, amount = unit_items, unit_total
            else:
                count = current.get((pair.account_id, pair.service), 0) - sum(
                    delta for at, delta in changes if at >= end)
                if (in_force.cost_table, count) not in amounts:
                    amounts[(in_force.cost_table, count)] = window_amount(in_force.table, count)
                amount = amounts[(in_force.cost_table, count)]
            if amount <= 0:
                continue
            text_key = (pair.service, count, len(units) if per_unit else None, resolution.interval, start)
            if text_key not in descriptions:
                on_units = f" on {len(units)} unit(s)" if per_unit else ""
                descriptions[text_key] = (f"{pair.service}: {count}{on_units} for the {resolution.interval} window "
                                          f"from {start.astimezone(periods.as_zone(tz)):%Y-%m-%d %H:%M}")
            what = (descriptions[text_key], amount, pair.service, count, start, end, in_force.cost_table)
            charges.append((pair.account_id, shared.setdefault(what, what)))
            total += amount
    _post_charges(charges, now=now)
    return {"windows": window_count, "charges": len(charges), "amount": total}


def _post_charges(charges: list[tuple[int, tuple]], *, now: datetime) -> None:
    """Write the charges as ledger rows, move the balances and re-evaluate the blocks of the accounts
    charged: what ``post_ledger_entries`` does, with the rows sent by ``_copy_charges`` on PostgreSQL."""
    if connection.vendor != "postgresql":
        post_ledger_entries([LedgerRow(
            account_id=account_id, kind=LedgerKind.CHARGE, description=description, amount=-amount, service=name,
            quantity=count, window_start=start, window_end=end, periodic=True, cost_table=cost_table)
            for account_id, (description, amount, name, count, start, end, cost_table) in charges], now=now)
        return
    if not charges:
        return
    _copy_charges(charges, now=now)
    moves: dict[int, Decimal] = defaultdict(Decimal)
    stored: dict[int, Decimal] = {}  # each row's amount as the ledger stores it (4 places), per shared part
    for account_id, what in charges:
        amount = stored.get(id(what))
        if amount is None:
            amount = stored[id(what)] = as_money(-what[1])
        moves[account_id] += amount
    move_cached_totals({pk: (amount, 0) for pk, amount in moves.items()})
    evaluate_blocking_many(list(moves), now=now)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_COLUMNS = ("account_id", "kind", "amount", "days", "service", "quantity", "window_start", "window_end",
                 "periodic", "cost_table", "description", "actor_name", "at")


def _copy_charges(charges: list[tuple[int, tuple]], *, now: datetime) -> None:
    """``COPY`` the charges into the ledger (PostgreSQL), ids from the table's identity default.

    COPY's text format, built once per shared part (``charges`` holds a few distinct ones for
    thousands of rows): a row is its account id, a tab, and that text. Kept apart from
    ``apps.core.bulk.insert_rows`` (value by value, for rows that share nothing)."""
    texts: dict[int, str] = {}
    at = now.isoformat()
    lines = []
    for account_id, what in charges:
        text = texts.get(id(what))
        if text is None:
            description, amount, name, count, start, end, cost_table = what
            text = texts[id(what)] = "\t".join((
                LedgerKind.CHARGE, format(as_money(-amount), "f"), "0", name.translate(_COPY_ESCAPES), str(count),
                start.isoformat(), end.isoformat(), "t", cost_table.translate(_COPY_ESCAPES),
                description.translate(_COPY_ESCAPES), "system", at)) + "\n"
        lines.append(f"{account_id}\t{text}")
    with connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY {LedgerEntry._meta.db_table} ({', '.join(_COPY_COLUMNS)}) FROM STDIN") as copy:
        for offset in range(0, len(lines), 5000):
            copy.write("".join(lines[offset:offset + 5000]))


def _lock_service(service_id: int) -> None:
    """Serialize the charge chunks of one service between workers (PostgreSQL; SQLite has one
    writer anyway). Held until the chunk's transaction ends."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"{JOB}:{service_id}"])


def _counts_and_tail(service: Account, names: list[str], account_ids: list[int], *, since: datetime):
    """The subtree counts of ``account_ids`` and the changes journaled at or after ``since``, in
    one statement (one snapshot: a move committed meanwhile is in both or in neither).

    Returns ``{(account_id, name): count}`` and ``{(account_id, name): [(at, delta), …]}``, each
    change attributed to every account of its path that is in ``account_ids`` (an ancestor's
    subtree count moved with it).
    """
    if not names:
        return {}, {}
    counts = ObjectCounter.objects.filter(account_id__in=many_ids(account_ids), service__in=names).values_list(
        "account_id", "service", "subtree", Value("", output_field=CharField()),
        Value(None, output_field=DateTimeField()))
    changes = ObjectChange.objects.filter(at__gte=since, service__in=names, path__startswith=service.path).values_list(
        Value(None, output_field=BigIntegerField()), "service", "delta", "path", "at")
    current, tail, wanted = {}, defaultdict(list), set(account_ids)
    for account_id, name, number, path, at in counts.union(changes, all=True):
        if account_id is not None:
            current[(account_id, name)] = number
            continue
        for pk in (int(p) for p in path.strip("/").split("/")):
            if pk in wanted:
                tail[(pk, name)].append((at, number))
    return current, tail
