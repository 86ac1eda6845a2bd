"""Charge replay (SPEC §9.7, settled in §9.8): recompute every charge of a date range from the
object journal, the usage counters, the charge rows and the plan chain in force at each window,
and compare with the ledger window by window.

- **Periodic**: each window of a periodic service (its interval in force at the window's end) that
  ended within the range (and before the charge job's last run) is priced like the job prices it
  (``charging.window_amount``): the table in force at the window's end over the account's subtree
  count at that instant, rebuilt from the journal (the current count less the changes journaled at
  or after it).
- **On demand**: each window's charge rows, in order, are priced with the table in force when each
  was written, from the first position it records (``CostTable.range_total``, the kernel's own
  pricing). Positions of the window no row priced (between rows, and up to the counter's total)
  were free when used, or a row is missing: they count at the lowest price any table in force over
  that span gives them, so a deleted row shows and a free use never does. Rows overlapping positions
  already priced, or without a first position, are not explained and count 0.
- **Resolution** is the kernel's (``resolution._resolve``) over the versions in force at the instant
  (``apps.plans.history``): the account's plan and override then, each plan's row then. Plan
  parents are today's (a plan's parent is not versioned).

A window is in the range when it ended within it (local dates, both included): its end is after
the first local midnight and at or before the midnight after the last day. Amounts are the charges
(positive); a zero charge compares as 0 whether or not a row exists; ``None`` means no row (ledger)
or no window the plans explain (recomputed). Per-unit services (``unit_sensors``, ``unit_alias``)
are priced on the units' counts when the job runs, which no journal keeps: they are not replayed
(``ReplayResult.skipped``).
"""

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Q
from django.utils.translation import gettext

from apps.accounts.models import Account, BillingMethod, LedgerEntry, LedgerKind
from apps.core import clock, periods
from apps.core.errors import InvalidInput
from apps.plans.history import Versions
from apps.plans.models import ServiceType

from .as_of import ResolverAsOf
from .charging import JOB, window_amount
from apps.plans.models import CatalogueService
from .models import JobRun, ObjectChange, ObjectCounter, UsageCounter
from .operations import PER_UNIT_SERVICES
from .resolution import catalogue_q

ZERO = Decimal("0")


@dataclass(frozen=True)
class Difference:
    account_id: int
    account: str
    service: str
    window_start: datetime
    window_end: datetime | None
    ledger: Decimal | None  # the charged amount (positive), None: no row
    recomputed: Decimal | None  # None: no window the plans explain


@dataclass
class ReplayResult:
    since: date
    until: date
    windows: int = 0  # windows compared (with a row or a non-zero recomputed charge)
    differences: list[Difference] = field(default_factory=list)
    skipped: tuple[str, ...] = ()

    @property
    def matches(self) -> bool:
        return not self.differences


def replay_range(since, until) -> tuple[date, date]:
    """Parse and check the range of a request (400 ``invalid`` naming the field otherwise)."""
    values = {}
    for name, value in (("since", since), ("until", until)):
        if value in (None, ""):
            raise InvalidInput.field(name, gettext("This field is required (a local date, YYYY-MM-DD)."))
        try:
            values[name] = date.fromisoformat(str(value))
        except ValueError:
            raise InvalidInput.field(name, gettext("Not a date: use YYYY-MM-DD.")) from None
    if values["until"] < values["since"]:
        raise InvalidInput.field("until", gettext("Must not be before since."))
    return values["since"], values["until"]


def range_bounds(service: Account, since: date, until: date) -> tuple[datetime, datetime]:
    """(first local midnight, the midnight after the last day), UTC."""
    return periods.local_midnight(since, service.timezone), periods.local_midnight(until + timedelta(days=1),
                                                                                   service.timezone)


def replay_charges(service: Account, *, since: date, until: date, account: Account | None = None,
                   now: datetime | None = None) -> ReplayResult:
    """Recompute the charges of ``service`` (or of ``account`` alone) whose windows ended between
    local days ``since`` and ``until`` (both included) and compare them with the ledger."""
    now = now or clock.now()
    start, end = range_bounds(service, since, until)
    end = min(end, now)
    accounts = Account.objects.filter(service_id=service.pk)
    if account is not None:
        accounts = accounts.filter(pk=account.pk)
    scope = {pk: (name, path, created) for pk, name, path, created in
             accounts.values_list("pk", "name", "path", "created_at")}
    catalogue = dict(CatalogueService.objects.filter(catalogue_q(service.pk)).values_list("name", "type"))
    names = sorted(n for n in catalogue if n not in PER_UNIT_SERVICES)
    versions = Versions(service.pk, names, account_ids=None)
    resolver = ResolverAsOf(service, versions, catalogue)
    result = ReplayResult(since=since, until=until, skipped=tuple(sorted(PER_UNIT_SERVICES)))

    ledger: dict[tuple, Decimal] = defaultdict(lambda: ZERO)
    ledger_end: dict[tuple, datetime | None] = {}
    charges = LedgerEntry.objects.filter(account_id__in=list(scope), kind=LedgerKind.CHARGE, service__in=names)
    # Periodic rows: only what is compared (each datetime read costs: a month is a million of them).
    for account_id, name, w_start, amount in charges.filter(
            periodic=True, window_end__gt=start, window_end__lte=end).values_list(
            "account_id", "service", "window_start", "amount"):
        ledger[(account_id, name, w_start)] += -amount
    on_demand_rows = defaultdict(list)
    for account_id, name, w_start, w_end, amount, quantity, first, at in charges.filter(
            Q(window_end__gt=start, window_end__lte=end) | Q(window_end__isnull=True, at__gt=start, at__lte=end),
            periodic=False).order_by("at", "id").values_list(
            "account_id", "service", "window_start", "window_end", "amount", "quantity", "first_position", "at"):
        key = (account_id, name, w_start if w_start is not None else at)
        ledger[key] += -amount
        ledger_end[key] = w_end
        on_demand_rows[key].append((at, quantity, first))

    recomputed: dict[tuple, Decimal | None] = {}
    _periodic(service, scope, names, catalogue, resolver, start, end, recomputed, ledger_end)
    _on_demand(service, scope, names, catalogue, resolver, start, end, now, on_demand_rows, recomputed, ledger_end)

    for key in sorted(set(ledger) | set(recomputed), key=lambda k: (scope[k[0]][0].lower(), k[0], k[1], k[2])):
        charged = ledger[key] if key in ledger else None
        computed = recomputed.get(key)
        result.windows += 1
        if (charged or ZERO) != (computed or ZERO):
            result.differences.append(Difference(key[0], scope[key[0]][0], key[1], key[2], ledger_end.get(key),
                                                 charged, computed))
    return result


def _subtree_counts(service, scope, names, since):
    """Each account's current subtree count per name and the journal's changes at or after
    ``since`` attributed to every account of their path, as sorted (at, delta) lists."""
    current = {(a, n): c for a, n, c in ObjectCounter.objects.filter(
        account_id__in=list(scope), service__in=names).values_list("account_id", "service", "subtree")}
    tail = defaultdict(list)
    for name, delta, path, at in ObjectChange.objects.filter(
            at__gte=since, service__in=names, path__startswith=service.path).values_list("service", "delta", "path",
                                                                                          "at"):
        for pk in (int(p) for p in path.strip("/").split("/")):
            if pk in scope:
                tail[(pk, name)].append((at, delta))
    out = {}
    for key, changes in tail.items():
        changes.sort()
        suffix, total = [], 0
        for _, delta in reversed(changes):
            total += delta
            suffix.append(total)
        out[key] = ([at for at, _ in changes], list(reversed(suffix)))
    return current, out


def _count_at(current, tails, key, when) -> int:
    """The subtree count at instant ``when``: today's count less the changes at or after it."""
    count = current.get(key, 0)
    if key in tails:
        times, suffix = tails[key]
        i = bisect.bisect_left(times, when)
        if i < len(suffix):
            count -= suffix[i]
    return count


def _periodic(service, scope, names, catalogue, resolver, start, end, recomputed, ledger_end):
    last_run = JobRun.objects.filter(job=JOB).values_list("last_started_at", flat=True).first()
    if last_run is None:
        return
    end = min(end, last_run)
    tz = service.timezone
    periodic = [n for n in names if catalogue[n] == ServiceType.PERIODIC]
    if service.billing_method == BillingMethod.ACTIVATION_CODES:
        periodic = [n for n in periodic if n != "avl_unit"]
    current, tails = _subtree_counts(service, scope, periodic, start)
    windows_of: dict[str, list] = {}
    for account_id, (_, _, created) in scope.items():
        for name in periodic:
            for interval in resolver.intervals(account_id, name):
                if interval not in windows_of:
                    first = periods.window(interval, start, tz)[0]
                    windows_of[interval] = [w for w in periods.windows_between(interval, first, end, tz)
                                            if w[1] > start]
                for w_start, w_end in windows_of[interval]:
                    if w_end <= created:
                        continue
                    resolution = resolver.at(account_id, name, w_end)
                    if resolution is None or resolution.interval != interval:
                        continue
                    key = (account_id, name, w_start)
                    count = _count_at(current, tails, (account_id, name), w_end)
                    recomputed[key] = max(window_amount(resolution.table, count), ZERO)
                    ledger_end.setdefault(key, w_end)


def _on_demand(service, scope, names, catalogue, resolver, start, end, now, rows, recomputed, ledger_end):
    on_demand = [n for n in names if catalogue[n] == ServiceType.ON_DEMAND]
    usage = {(a, n, s): (e, total) for a, n, s, e, total in UsageCounter.objects.filter(
        account_id__in=list(scope), service__in=on_demand, window_end__gt=start, window_end__lte=end).values_list(
        "account_id", "service", "window_start", "window_end", "total")}
    changes = sorted({t for tl in (*resolver.versions.plan_rows.values(), *resolver.versions.overrides.values(),
                                   *resolver.versions.account_plans.values()) for t in tl.changes()})
    keys = set(usage) | {k for k in rows if k[1] in on_demand}
    for key in keys:
        account_id, name, w_start = key
        w_end, total = usage.get(key, (ledger_end.get(key), None))
        charged_rows = rows.get(key, [])
        if w_end is None:  # interval none: each call priced alone from position 1
            amount = ZERO
            for at, quantity, first in charged_rows:
                resolution = resolver.at(account_id, name, at)
                if resolution is not None and first == 1 and quantity:
                    amount += resolution.table.range_total(0, quantity) or ZERO
            recomputed[key] = amount
            continue
        ledger_end.setdefault(key, w_end)
        amount, priced_to, since = ZERO, 0, w_start
        for at, quantity, first in charged_rows:
            resolution = resolver.at(account_id, name, at)
            if first is None or not quantity or first <= priced_to or resolution is None:
                continue  # not explained by the counters and tables: counts 0
            amount += _gap_price(resolver, account_id, name, priced_to, first - 1, since, at, changes)
            amount += resolution.table.range_total(first - 1, quantity) or ZERO
            priced_to, since = first - 1 + quantity, at
        if total is not None and total > priced_to:
            amount += _gap_price(resolver, account_id, name, priced_to, total, since, min(w_end, now), changes)
        recomputed[key] = amount


def _gap_price(resolver, account_id, name, after, up_to, since, until, changes) -> Decimal:
    """The lowest price any table in force between ``since`` and ``until`` gives positions
    ``after + 1 .. up_to`` of a window (0 when one of them is free or denies them)."""
    if up_to <= after:
        return ZERO
    instants = [since, until, *changes[bisect.bisect_right(changes, since):bisect.bisect_left(changes, until)]]
    prices = []
    for when in instants:
        resolution = resolver.at(account_id, name, when)
        price = resolution.table.range_total(after, up_to - after) if resolution is not None else None
        prices.append(price if price is not None else ZERO)
    return min(prices)
