"""Reads of the kernel's state that interfaces and other apps need; all set-based."""

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count
from django.utils.translation import gettext

from apps.accounts.models import Account
from apps.core import periods
from apps.core.bulk import many_ids
from apps.core.money import as_money
from apps.plans.models import ServiceType

from .models import ObjectCounter, UsageCounter
from .resolution import Resolution, ServiceIndex, preloaded_settings

WARNING_HORIZON = timedelta(days=5)
DAYS_WARNING_MARGIN = 4  # warn when days − minimum ≤ 4 (SPEC §8.3)


def own_object_counts(account_ids, services) -> dict[tuple[int, str], int]:
    """Each account's own current object count per service (not its subtree), 0 where none.

    One query whatever the number of accounts; the discount module reads 10,000 accounts at once.
    """
    account_ids, services = list(account_ids), list(services)
    counts = {(pk, name): 0 for pk in account_ids for name in services}
    for pk, name, own in ObjectCounter.objects.filter(account_id__in=account_ids, service__in=services) \
            .values_list("account_id", "service", "own"):
        counts[(pk, name)] = own
    return counts


def subtree_object_counts(account_ids, service: str) -> dict[int, int]:
    """Each account's current object count of ``service`` over its whole subtree (missing: 0)."""
    return dict(ObjectCounter.objects.filter(account_id__in=list(account_ids), service=service)
                .values_list("account_id", "subtree"))


# The model counted by each per-unit service (a row with a ``unit`` foreign key), registered by the units
# app (``UnitsConfig.ready``): the kernel sits below units and does not import them.
PER_UNIT_ITEMS: dict = {}


def register_per_unit_items(service: str, model) -> None:
    PER_UNIT_ITEMS[service] = model


def unit_feature_counts(account_ids, service: str, *, subtree: bool = False) -> dict[int, list[int]]:
    """Per account, its units' own counts for a per-unit service (SPEC §8.2), in one query.

    ``unit_sensors`` counts each unit's sensors, ``unit_alias`` its commands. Every non-archived
    unit counts, active or not (as ``avl_unit`` does); units with no item are left out (they add
    nothing), so an account without any is absent. Lists are in unit id order.

    ``subtree=True``: the units of each account's whole subtree, as an ancestor with a table pays
    for (SPEC §8.3). That reads every unit of the accounts' services once (about a second for
    100,000 units), so a job should call it once per service with all the ids it charges.
    """
    if service not in PER_UNIT_ITEMS:
        raise ValueError(f"{service!r} is not a per-unit service.")
    ids = set(account_ids)
    rows = PER_UNIT_ITEMS[service].objects.filter(unit__archived_at__isnull=True)
    if subtree:
        # A few service ids as values: a sub-select over thousands of account ids let PostgreSQL pick a
        # nested loop on freshly loaded tables (minutes instead of a fraction of a second).
        services = set(Account.objects.filter(pk__in=many_ids(list(ids))).values_list("service_id", flat=True))
        rows = rows.filter(unit__service_id__in=services)
    else:
        rows = rows.filter(unit__account_id__in=list(ids))
    counts = defaultdict(list)
    for path, _, n in (rows.values("unit__account__path", "unit_id").annotate(n=Count("pk"))
                       .order_by("unit_id").values_list("unit__account__path", "unit_id", "n")):
        path_ids = [int(part) for part in path.strip("/").split("/")]  # the unit's account is the last
        for pk in path_ids if subtree else path_ids[-1:]:
            if pk in ids:
                counts[pk].append(n)
    return dict(counts)


def service_usage(account: Account, resolutions: list[Resolution], now: datetime) -> dict[str, dict]:
    """``{name: {"own": n, "subtree": n}}``: object counts for periodic services, the current
    window's usage for on-demand ones (0 for on-demand services without an interval). Two queries."""
    tz = Account.objects.filter(pk=account.service_id).values_list("timezone", flat=True).first() or "UTC"
    objects = {name: (own, subtree) for name, own, subtree in
               ObjectCounter.objects.filter(account=account).values_list("service", "own", "subtree")}
    starts = {r.name: periods.window(r.interval, now, tz)[0] for r in resolutions
              if r.type == ServiceType.ON_DEMAND and r.has_window}
    windows = {(name, start): (own, total) for name, start, own, total in
               UsageCounter.objects.filter(account=account, service__in=list(starts))
               .values_list("service", "window_start", "own", "total")}
    usage = {}
    for r in resolutions:
        if r.type == ServiceType.PERIODIC:
            own, subtree = objects.get(r.name, (0, 0))
        else:
            own, subtree = windows.get((r.name, starts.get(r.name)), (0, 0))
        usage[r.name] = {"own": own, "subtree": subtree}
    return usage


def _window_ends_within(interval: str, now: datetime, horizon: datetime, tz: str) -> int:
    """How many windows of ``interval`` end in ``(now, horizon]``."""
    count, current = 0, periods.window(interval, now, tz)
    while current[1] <= horizon:
        count += 1
        current = periods.window(interval, current[1], tz)
    return count


def block_warnings(account_ids, now: datetime) -> dict[int, str]:
    """A warning per account whose automatic block is predicted within 5 days (SPEC §8.3).

    Days: block by days on and days − minimum ≤ 4. Balance: block by balance on and the periodic
    charges falling due in the next 5 days, at today's counts, would take the balance below the
    block balance. Blocked accounts get none (they are blocked already). A fixed number of queries:
    the accounts, then per service its plans, rows, overrides and catalogue, and the counters.
    """
    accounts = list(Account.objects.filter(pk__in=list(account_ids), blocked=False))
    by_service = defaultdict(list)
    for acc in accounts:
        by_service[acc.service_id].append(acc)
    tops, zones = {}, {}
    for pk, plan_id, tz in Account.objects.filter(pk__in=list(by_service)).values_list("pk", "plan_id", "timezone"):
        tops[pk], zones[pk] = plan_id, tz
    subtree = {(pk, name): n for pk, name, n in ObjectCounter.objects.filter(
        account_id__in=[a.pk for a in accounts]).values_list("account_id", "service", "subtree")}
    horizon = now + WARNING_HORIZON
    ends_cache: dict[tuple[str, str], int] = {}
    warnings = {}
    for service_id, members in by_service.items():
        index = ServiceIndex(service_id, [a.pk for a in members])
        periodic = [n for n, kind in index.catalogue.items() if kind == ServiceType.PERIODIC]
        tz = zones[service_id]
        for acc in members:
            settings = preloaded_settings(index.attach_plan(acc))
            if settings["block_by_days"].value:
                margin = acc.days - int(settings["min_days"].value)
                if margin <= DAYS_WARNING_MARGIN:
                    warnings[acc.pk] = gettext("Days counter %(days)s: blocked by days in %(left)s day(s) (minimum "
                                               "%(minimum)s).") % {"days": acc.days, "left": max(margin + 1, 0),
                                                                   "minimum": settings["min_days"].value}
                    continue
            if settings["block_by_balance"].value and tops[service_id] is not None:
                due = Decimal(0)
                for name in periodic:
                    r = index.resolve(acc, name, False)
                    if not r.resolves or not r.has_window:
                        continue
                    key = (r.interval, tz)
                    if key not in ends_cache:
                        ends_cache[key] = _window_ends_within(r.interval, now, horizon, tz)
                    if ends_cache[key]:
                        due += ends_cache[key] * r.table.total(subtree.get((acc.pk, name), 0))
                block = as_money(settings["block_balance"].value)
                if due and acc.balance - due < block:
                    warnings[acc.pk] = gettext("Periodic charges of %(due)s due in the next 5 days would take the "
                                               "balance %(balance)s below the block balance %(block)s.") % {
                        "due": f"{due:.2f}", "balance": f"{acc.balance:.2f}", "block": f"{block:.2f}"}
    return warnings
