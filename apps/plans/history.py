"""Exact history of what priced a charge (SPEC §9.8 "Replay"): plan rows, account overrides and
account plans, each versioned with the time it took effect.

The operations that change them wrap their writes in ``recording(...)``: on entry, rows that have
no version at all (created before the history existed, or behind the operations' back) get one
from ``BEGINNING``; on exit, in the same transaction, the open versions that no longer match a
current row are closed at ``now`` and a version is opened for every current row without a matching
open one. Each step is one set-based statement (or a read and one insert), whatever the number of
rows, and a change that leaves a row as it was writes nothing.

``Versions`` reads the history back for the replay and answers "which row, which plan, at instant T".
"""

import bisect
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

from django.db.models import Exists, Max, OuterRef

from apps.accounts.models import Account

from .models import (
    AccountPlanVersion,
    AccountServiceOverride,
    AccountServiceVersion,
    PlanService,
    PlanServiceVersion,
)

BEGINNING = datetime(2000, 1, 1, tzinfo=timezone.utc)

_ROW_FIELDS = ("name", "type", "interval", "cost_table")


def _plan_rows(plan_ids):
    return PlanService.objects.filter(plan_id__in=plan_ids)


def _override_rows(account_ids):
    return AccountServiceOverride.objects.filter(account_id__in=account_ids)


def _sync_rows(*, versions, rows, owner: str, row_id: str, now: datetime, seed: bool):
    """Close the open versions without a matching current row, open one per unmatched current row.
    ``seed``: only give rows that have no version at all a version from ``BEGINNING``."""
    same_row = {f"{owner}_id": OuterRef(f"{owner}_id"), **{f: OuterRef(f) for f in _ROW_FIELDS}}
    if not seed:
        now = _effective(versions, now)
    if seed:
        missing = rows.exclude(Exists(versions.filter(**{f"{owner}_id": OuterRef(f"{owner}_id"), "name": OuterRef("name")})))
        valid_from = BEGINNING
    else:
        versions.filter(valid_until__isnull=True).exclude(Exists(rows.filter(**same_row))).update(valid_until=now)
        missing = rows.exclude(Exists(versions.filter(valid_until__isnull=True, **same_row)))
        valid_from = now
    model = versions.model
    model.objects.bulk_create([
        model(**{f"{owner}_id": owner_id, row_id: pk, **dict(zip(_ROW_FIELDS, values, strict=True))},
              valid_from=valid_from)
        for owner_id, pk, *values in missing.order_by().values_list(f"{owner}_id", "pk", *_ROW_FIELDS)])


def _effective(versions, now: datetime) -> datetime:
    """The instant a change takes effect: ``now``, or the start of the newest open version when a
    change that committed first (under the same lock) took effect later than this one's ``now``
    (taken before waiting for the lock): versions of a key never overlap or run backwards."""
    latest = versions.filter(valid_until__isnull=True).aggregate(latest=Max("valid_from"))["latest"]
    return max(now, latest) if latest is not None else now


def record_plan_rows(plan_ids, *, now: datetime, seed: bool = False):
    plan_ids = sorted(set(plan_ids))
    _sync_rows(versions=PlanServiceVersion.objects.filter(plan_id__in=plan_ids), rows=_plan_rows(plan_ids),
               owner="plan", row_id="plan_service_id", now=now, seed=seed)


def record_overrides(account_ids, *, now: datetime, seed: bool = False):
    account_ids = sorted(set(account_ids))
    _sync_rows(versions=AccountServiceVersion.objects.filter(account_id__in=account_ids),
               rows=_override_rows(account_ids), owner="account", row_id="override_id", now=now, seed=seed)


def record_account_plans(account_ids, *, now: datetime, seed: bool = False):
    """The accounts' plans: close an open version whose plan is no longer the account's, open one
    for each account without a matching open version (``seed``: only accounts without any version,
    from their creation). Two reads, then at most one UPDATE and one INSERT."""

    account_ids = sorted(set(account_ids))
    versions = AccountPlanVersion.objects.filter(account_id__in=account_ids)
    current = {pk: (plan_id, created) for pk, plan_id, created in
               Account.objects.filter(pk__in=account_ids).values_list("pk", "plan_id", "created_at")}
    if seed:
        known = set(versions.values_list("account_id", flat=True).distinct())
        new = [AccountPlanVersion(account_id=pk, plan_id=plan_id, valid_from=max(created, BEGINNING))
               for pk, (plan_id, created) in current.items() if pk not in known]
    else:
        now = _effective(versions, now)
        open_plan = dict(versions.filter(valid_until__isnull=True).values_list("account_id", "plan_id"))
        changed = [pk for pk, (plan_id, _) in current.items() if pk in open_plan and open_plan[pk] != plan_id]
        if changed:
            versions.filter(valid_until__isnull=True, account_id__in=changed).update(valid_until=now)
        new = [AccountPlanVersion(account_id=pk, plan_id=plan_id, valid_from=now)
               for pk, (plan_id, _) in current.items() if pk not in open_plan or pk in changed]
    AccountPlanVersion.objects.bulk_create(new)


@contextmanager
def recording(*, now: datetime, plans=(), overrides=(), account_plans=()):
    """Wrap writes to the rows of ``plans`` (ids), the overrides of ``overrides`` (account ids) and
    the plans of ``account_plans`` (account ids): seed on entry, record on exit (same transaction)."""
    steps = [(record_plan_rows, plans), (record_overrides, overrides), (record_account_plans, account_plans)]
    for record, ids in steps:
        if ids:
            record(ids, now=now, seed=True)
    yield
    for record, ids in steps:
        if ids:
            record(ids, now=now)


# --- Reading it back ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Version:
    valid_from: datetime
    valid_until: datetime | None
    value: object  # a ``(type, interval, cost_table)`` tuple, or a plan id


class Timeline:
    """Versions of one key, by start: ``at(T)`` is the version in force at T, or None."""

    def __init__(self, versions: list[Version]):
        self.versions = sorted(versions, key=lambda v: v.valid_from)
        self.starts = [v.valid_from for v in self.versions]

    def at(self, when: datetime):
        i = bisect.bisect_right(self.starts, when) - 1
        if i < 0:
            return None
        version = self.versions[i]
        return version.value if version.valid_until is None or when < version.valid_until else None

    def span(self, when: datetime) -> tuple[object, datetime | None, datetime | None]:
        """``(value at when, since, until)``: the value holds on [since, until) (None: unbounded)."""
        i = bisect.bisect_right(self.starts, when) - 1
        following = self.starts[i + 1] if i + 1 < len(self.starts) else None
        if i < 0:
            return None, None, following
        version = self.versions[i]
        if version.valid_until is None or when < version.valid_until:
            return version.value, version.valid_from, version.valid_until or following
        return None, version.valid_until, following

    def changes(self) -> list[datetime]:
        return sorted({v.valid_from for v in self.versions} | {v.valid_until for v in self.versions if v.valid_until})


class Versions:
    """The history of one service's plan rows, overrides and account plans for some names."""

    def __init__(self, service_id: int, names, account_ids=None):
        names = sorted(set(names))
        rows = defaultdict(list)
        for plan_id, name, kind, interval, table, start, end in PlanServiceVersion.objects.filter(
                plan__service_id=service_id, name__in=names).values_list(
                "plan_id", "name", "type", "interval", "cost_table", "valid_from", "valid_until"):
            rows[(plan_id, name)].append(Version(start, end, (kind, interval, table)))
        self.plan_rows = {key: Timeline(v) for key, v in rows.items()}
        overrides = AccountServiceVersion.objects.filter(account__service_id=service_id, name__in=names)
        plans = AccountPlanVersion.objects.filter(account__service_id=service_id)
        if account_ids is not None:
            overrides = overrides.filter(account_id__in=account_ids)
            plans = plans.filter(account_id__in=account_ids)
        rows = defaultdict(list)
        for account_id, name, kind, interval, table, start, end in overrides.values_list(
                "account_id", "name", "type", "interval", "cost_table", "valid_from", "valid_until"):
            rows[(account_id, name)].append(Version(start, end, (kind, interval, table)))
        self.overrides = {key: Timeline(v) for key, v in rows.items()}
        rows = defaultdict(list)
        for account_id, plan_id, start, end in plans.values_list("account_id", "plan_id", "valid_from", "valid_until"):
            rows[account_id].append(Version(start, end, plan_id))
        self.account_plans = {key: Timeline(v) for key, v in rows.items()}
        self._current_as_history(service_id, names, account_ids)

    def _current_as_history(self, service_id, names, account_ids):
        """Rows no operation has versioned yet (written behind their back, or before the history)
        read as in force since ``BEGINNING``, as ``recording`` would seed them."""
        for plan_id, name, *row in PlanService.objects.filter(plan__service_id=service_id, name__in=names) \
                .values_list("plan_id", "name", *_ROW_FIELDS[1:]):
            if (plan_id, name) not in self.plan_rows:
                self.plan_rows[(plan_id, name)] = Timeline([Version(BEGINNING, None, tuple(row))])
        overrides = AccountServiceOverride.objects.filter(account__service_id=service_id, name__in=names)
        accounts = Account.objects.filter(service_id=service_id)
        if account_ids is not None:
            overrides = overrides.filter(account_id__in=account_ids)
            accounts = accounts.filter(pk__in=account_ids)
        for account_id, name, *row in overrides.values_list("account_id", "name", *_ROW_FIELDS[1:]):
            if (account_id, name) not in self.overrides:
                self.overrides[(account_id, name)] = Timeline([Version(BEGINNING, None, tuple(row))])
        for pk, plan_id, created in accounts.values_list("pk", "plan_id", "created_at"):
            if pk not in self.account_plans:
                self.account_plans[pk] = Timeline([Version(min(created, BEGINNING), None, plan_id)])

    def plan_row(self, plan_id: int, name: str, at: datetime):
        timeline = self.plan_rows.get((plan_id, name))
        return timeline.at(at) if timeline else None

    def override(self, account_id: int, name: str, at: datetime):
        timeline = self.overrides.get((account_id, name))
        return timeline.at(at) if timeline else None

    def plan_of(self, account_id: int, at: datetime) -> int | None:
        timeline = self.account_plans.get(account_id)
        return timeline.at(at) if timeline else None
