"""Gather everything the discount rules read, for one service, in a fixed number of queries.

The query count does not depend on the number of accounts, units, sensors or grants (a test
asserts it): each table is read once for the whole service and the rows are joined in Python.
This is also the one place wired to the kernel (``resolutions``, ``own_object_counts``), so
a change in its contract touches nothing else.

Counted units (SPEC §8.6): active, not archived, and their account is not blocked, itself or
through an ancestor.
"""

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, TextField
from django.db.models.functions import Cast, Coalesce

from apps.accounts.models import Account
from apps.plans.inheritance import ROOT_DEFAULTS
from apps.plans.models import CatalogueService, Plan
from apps.units.models import FUEL_SENSOR_TYPES, AccessGrant, MonitoringUser, Sensor, ServiceInterval, Unit, UnitCommand
from apps.services.queries import own_object_counts
from apps.services.resolution import resolutions

from .rules import (
    APP_PREFIX,
    CMS_MANAGER_SERVICE,
    MESSAGES_SERVICE,
    OBJECT_SERVICES,
    AccessGraph,
    AccountFeatures,
    UnitFeatures,
)


class UnitRow(NamedTuple):
    id: int
    name: str
    account_id: int
    features: UnitFeatures


@dataclass(frozen=True)
class ServiceInputs:
    service: Account
    accounts: dict[int, Account]  # every unblocked account of the service, by id
    account_features: dict[int, AccountFeatures]
    units: dict[int, UnitRow]  # the counted units
    graph: AccessGraph
    user_names: dict[int, str]
    account_names: dict[int, str]  # every account of the service, blocked ones included
    focus: frozenset[int] | None = None  # gathered for these accounts only (see ``gather``)


def _blocked_ids(accounts: list[Account]) -> set[int]:
    """Accounts blocked for every purpose: blocked themselves or below a blocked ancestor."""
    blocked_self = {a.pk for a in accounts if a.blocked}
    if not blocked_self:
        return set()
    return {a.pk for a in accounts if any(int(p) in blocked_self for p in a.path.strip("/").split("/"))}


def _history_periods(accounts: list[Account], service: Account) -> dict[int, int]:
    """Each account's combined history period: its override, else the first plan up its chain
    that sets one, else the root default (SPEC §8.2), from one read of the service's plans."""
    plans = {pk: (parent, days) for pk, parent, days in
             Plan.objects.filter(service=service).values_list("pk", "parent_id", "history_period_days")}

    def from_plan(plan_id):
        seen = set()
        while plan_id is not None and plan_id not in seen:
            seen.add(plan_id)
            parent, days = plans[plan_id]
            if days is not None:
                return days
            plan_id = parent
        return ROOT_DEFAULTS["history_period_days"]

    return {a.pk: a.history_period_days if a.history_period_days is not None else from_plan(a.plan_id)
            for a in accounts}


def _per_unit_count(model, **filters) -> Coalesce:
    """The unit's number of ``model`` rows (matching ``filters``), as a subquery of the unit query:
    one statement and one row per unit, where separate grouped reads would send 300,000 rows."""
    rows = (model.objects.filter(unit=OuterRef("pk"), **filters).order_by().values("unit")
            .annotate(n=Count("pk")).values("n"))
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def _parse_criteria(text: str | None, parsed: dict[str, frozenset]) -> frozenset[str]:
    """``eco_criteria`` read as JSON text and decoded once per distinct value (a service's 100,000
    units hold a handful of different lists; decoding each row was a second of the calculation)."""
    if not text:
        return frozenset()
    if text not in parsed:
        parsed[text] = frozenset(json.loads(text))
    return parsed[text]


def gather(service: Account, focus=None) -> ServiceInputs:
    """Everything the rules read for ``service``. With ``focus`` (account ids), only those accounts'
    units carry their features and only those accounts their features (history, services, objects):
    every other counted unit is there with its name and account only (``UnitFeatures()``), enough for
    the eligibility rules, which are service-wide. The advisor for one account reads this way, so
    its time follows the account's size more than the service's."""
    all_accounts = list(Account.objects.filter(service=service).order_by())
    blocked = _blocked_ids(all_accounts)
    accounts = {a.pk: a for a in all_accounts if a.pk not in blocked}

    units, parsed_criteria = {}, {}
    counted = Unit.objects.filter(service=service, active=True, archived_at__isnull=True).order_by()
    if focus is not None:
        focus = frozenset(focus)
        for pk, name, account_id in counted.exclude(account_id__in=focus).values_list("pk", "name", "account_id"):
            if account_id in accounts:
                units[pk] = UnitRow(pk, name, account_id, UnitFeatures())
        counted = counted.filter(account_id__in=focus)
    for pk, name, account_id, eco, road, criteria, n_sensors, n_fuel, n_commands, n_intervals in (
            counted
            .annotate(criteria_text=Cast("eco_criteria", TextField()),
                      n_sensors=_per_unit_count(Sensor), n_fuel=_per_unit_count(Sensor, type__in=FUEL_SENSOR_TYPES),
                      n_commands=_per_unit_count(UnitCommand), n_intervals=_per_unit_count(ServiceInterval))
            .values_list("pk", "name", "account_id", "eco_driving", "road_limits_speeding", "criteria_text",
                         "n_sensors", "n_fuel", "n_commands", "n_intervals")):
        if account_id not in accounts:
            continue
        units[pk] = UnitRow(pk, name, account_id, UnitFeatures(
            sensors=n_sensors, fuel_sensors=n_fuel, commands=n_commands, service_intervals=n_intervals,
            eco_driving=eco, road_limits_speeding=road, eco_criteria=_parse_criteria(criteria, parsed_criteria)))

    users = {pk: (account_id, name) for pk, account_id, name in
             MonitoringUser.objects.filter(service=service).order_by().values_list("pk", "account_id", "name")}
    unit_grants, account_grants = [], []
    for user_id, unit_id, unit_account_id, account_id in (
            AccessGrant.objects.filter(user__service=service)
            .filter(Q(unit__isnull=True) | Q(unit__archived_at__isnull=True)).order_by()
            .values_list("user_id", "unit_id", "unit__account_id", "account_id")):
        if unit_id is not None:
            unit_grants.append((user_id, unit_id, unit_account_id))
        else:
            account_grants.append((user_id, account_id))

    featured = [a for pk, a in accounts.items() if focus is None or pk in focus]
    periods = _history_periods(featured, service)
    # Only the names the rules read: a service has about fifty, the discount needs a few.
    apps = CatalogueService.objects.filter(service=service, name__startswith=APP_PREFIX).values_list("name", flat=True)
    available = defaultdict(dict)  # account → {name: explanation} of its available services
    for (account_id, name), resolution in resolutions(
            featured, [CMS_MANAGER_SERVICE, MESSAGES_SERVICE, *apps]).items():
        if resolution.allowed:
            available[account_id][name] = resolution.explanation
    counts = own_object_counts([a.pk for a in featured], OBJECT_SERVICES)
    per_account = defaultdict(dict)
    for (account_id, name), n in counts.items():
        per_account[account_id][name] = n
    features = {pk: AccountFeatures(history_period_days=periods[pk],
                                    available_services=available.get(pk, {}),
                                    object_counts=per_account.get(pk, {}))
                for pk in periods}

    graph = AccessGraph(
        unit_account={pk: row.account_id for pk, row in units.items()},
        user_account={pk: account_id for pk, (account_id, _) in users.items()},
        unit_grants=tuple(unit_grants), account_grants=tuple(account_grants),
        dealers=frozenset(pk for pk, a in accounts.items() if a.dealer_rights),
    )
    return ServiceInputs(service=service, accounts=accounts, account_features=features, units=units, graph=graph,
                         user_names={pk: name for pk, (_, name) in users.items()},
                         account_names={a.pk: a.name for a in all_accounts}, focus=focus)
