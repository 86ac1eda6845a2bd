"""The functional discount's rules as pure functions over plain values (no database).

Source: the functional-discount guide (``seeds/003``) with the corrections of SPEC §8.6. The
database layer (``inputs.py``) gathers the plain values set-based; this module only counts.

Percentages are exact until they are stored or shown: service values are ``Decimal`` truncated to
2 places (``percent_of``); a unit's discount is a whole number of percent (points are whole).
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.utils.translation import gettext, gettext_lazy, ngettext
from decimal import Decimal
from functools import cached_property
from typing import NamedTuple

UNIT_DISCOUNT_CAP = 76
FOREVER_HISTORY_DAYS = 3650  # a history period of 0 ("keep forever") counts as ten years
STORAGE_FREE_DAYS = 400
STORAGE_STEP_DAYS = 400
STORAGE_POINTS_PER_STEP = 5
APP_POINTS = 5
CMS_MANAGER_POINTS = 50
MESSAGES_POINTS = 5

APP_PREFIX = "Apps: "
CMS_MANAGER_SERVICE = "cms_manager"
MESSAGES_SERVICE = "messages"

# Objects counted in packages of five: 2 points a started package, at most 20 per type.
PACKAGE_SERVICES = {"drivers": gettext_lazy("Drivers"), "trailers": gettext_lazy("Trailers"),
                    "zones_library": gettext_lazy("Geofences")}
PACKAGE_SIZE = 5
PACKAGE_POINTS = 2
PACKAGE_CAP = 20
# Retranslated units: 1 point per started group of five, no cap.
RETRANSLATOR_SERVICE = "retranslator_units"
RETRANSLATOR_GROUP = 5
# The ladder: the first object 10 points, the 2nd to 5th 5 points each, from the 6th nothing (cap 30).
LADDER_SERVICES = {"notifications": gettext_lazy("Notifications"), "jobs": gettext_lazy("Jobs"),
                   "routes": gettext_lazy("Routes"), "reporttemplates": gettext_lazy("Report templates")}
LADDER_FIRST = 10
LADDER_NEXT = 5
LADDER_NEXT_COUNT = 4
OBJECT_SERVICES = (*PACKAGE_SERVICES, RETRANSLATOR_SERVICE, *LADDER_SERVICES)

SENSOR_POINTS = 5
FUEL_GROUP_POINTS = 20
COMMAND_POINTS = 1
SERVICE_INTERVAL_POINTS = 5
ECO_DRIVING_POINTS = 20
ROAD_LIMITS_POINTS = 10
ECO_CRITERION_POINTS = {"acceleration": 20, "braking": 20, "turn": 20, "reckless_driving": 20, "custom": 20,
                        "speeding": 30}
ECO_CRITERION_LABELS = {"acceleration": gettext_lazy("Acceleration"), "braking": gettext_lazy("Braking"),
                        "turn": gettext_lazy("Turn"), "reckless_driving": gettext_lazy("Reckless driving"),
                        "custom": gettext_lazy("Custom"), "speeding": gettext_lazy("Speeding")}

SUPPORT_SHARE = (4, 5)  # "at least 80 %": granted × 5 ≥ total × 4, in integers
SUPPORT_DEALER_MIN_UNITS = 50

_CENT = Decimal("0.01")
ZERO_PERCENT = Decimal("0.00")


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def percent_of(numerator: int, denominator: int) -> Decimal:
    """The ratio ``numerator / denominator`` in percent, truncated to 2 places, computed in integers
    (exact: (87 − 50) / 87 is 42.52, never 42.53 from a float)."""
    if denominator <= 0:
        return ZERO_PERCENT
    hundredths = numerator * 10000 // denominator
    return (Decimal(hundredths) / 100).quantize(_CENT)


# --- Points -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PointItem:
    """One feature's contribution, kept so Details can list every reason a discount is reduced.

    ``explanation``: why the feature is there, when a rule says more than the label (an available
    service carries the kernel resolution's explanation, SPEC §8.6)."""

    code: str
    label: str
    points: int
    explanation: str = ""


@dataclass(frozen=True)
class Points:
    items: tuple[PointItem, ...] = ()

    @cached_property
    def total(self) -> int:
        return sum(item.points for item in self.items)


def storage_points(history_period_days: int) -> int:
    """5 points per started 400-day period beyond the first 400 days; 0 (forever) = 3650 days."""
    days = FOREVER_HISTORY_DAYS if history_period_days == 0 else history_period_days
    if days <= STORAGE_FREE_DAYS:
        return 0
    return STORAGE_POINTS_PER_STEP * _ceil_div(days - STORAGE_FREE_DAYS, STORAGE_STEP_DAYS)


def package_points(count: int) -> int:
    """Drivers, trailers, geofences: 2 points per started package of five, at most 20."""
    return min(_ceil_div(max(count, 0), PACKAGE_SIZE) * PACKAGE_POINTS, PACKAGE_CAP)


def retranslator_points(count: int) -> int:
    return _ceil_div(max(count, 0), RETRANSLATOR_GROUP)


def ladder_points(count: int) -> int:
    """Notifications, jobs, routes, report templates: 10 + 5 × min(n − 1, 4) for n ≥ 1."""
    if count < 1:
        return 0
    return LADDER_FIRST + LADDER_NEXT * min(count - 1, LADDER_NEXT_COUNT)


@dataclass(frozen=True)
class AccountFeatures:
    """What an account uses: its combined history period, its available services, its own objects.

    ``available_services``: the names available to the account (a set, or a mapping from each name
    to the resolution's explanation of why it is available)."""

    history_period_days: int
    available_services: Mapping[str, str] | frozenset[str] = frozenset()
    object_counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def apps(self) -> list[str]:
        return sorted(name for name in self.available_services if name.startswith(APP_PREFIX))


def account_points(features: AccountFeatures) -> Points:
    items = []
    storage = storage_points(features.history_period_days)
    if storage:
        days = features.history_period_days
        shown = (ngettext("%(days)d day", "%(days)d days", days) % {"days": days} if days
                 else gettext("kept forever (counts as %(days)d days)") % {"days": FOREVER_HISTORY_DAYS})
        items.append(PointItem("storage", gettext("Data storage period %(period)s") % {"period": shown}, storage))
    available = features.available_services
    explained = available if isinstance(available, Mapping) else {}
    for app in features.apps:
        items.append(PointItem("app", gettext("Application available: %(app)s") % {"app": app}, APP_POINTS,
                               explained.get(app, "")))
    if CMS_MANAGER_SERVICE in available:
        items.append(PointItem("cms_manager", gettext("Management system (CMS Manager) available"), CMS_MANAGER_POINTS,
                               explained.get(CMS_MANAGER_SERVICE, "")))
    if MESSAGES_SERVICE in available:
        items.append(PointItem("messages", gettext("Messages available"), MESSAGES_POINTS,
                               explained.get(MESSAGES_SERVICE, "")))
    counts = features.object_counts
    for service, label in PACKAGE_SERVICES.items():
        n = counts.get(service, 0)
        if points := package_points(n):
            items.append(PointItem(service, f"{label}: {n}", points))
    n = counts.get(RETRANSLATOR_SERVICE, 0)
    if points := retranslator_points(n):
        items.append(PointItem(RETRANSLATOR_SERVICE, gettext("Retranslated units: %(count)d") % {"count": n}, points))
    for service, label in LADDER_SERVICES.items():
        n = counts.get(service, 0)
        if points := ladder_points(n):
            items.append(PointItem(service, f"{label}: {n}", points))
    return Points(tuple(items))


class UnitFeatures(NamedTuple):
    """A unit's features. A tuple, because a service has 100,000 of them and few distinct ones:
    cheap to build and to hash, so each distinct combination is scored once."""

    sensors: int = 0
    fuel_sensors: int = 0
    commands: int = 0
    service_intervals: int = 0
    eco_driving: bool = False
    road_limits_speeding: bool = False
    eco_criteria: frozenset[str] = frozenset()


def unit_points(features: UnitFeatures) -> Points:
    """The unit's own points; every feature adds up, but only the highest eco criterion counts."""
    items = []
    if features.sensors:
        items.append(PointItem("sensors", gettext("Sensors: %(count)d") % {"count": features.sensors},
                               SENSOR_POINTS * features.sensors))
    if features.fuel_sensors:
        items.append(PointItem("fuel_sensors", gettext("Fuel-group sensors in use"), FUEL_GROUP_POINTS))
    if features.commands:
        items.append(PointItem("commands", gettext("Commands: %(count)d") % {"count": features.commands},
                               COMMAND_POINTS * features.commands))
    if features.service_intervals:
        items.append(PointItem("service_intervals", gettext("Service intervals: %(count)d") % {"count": features.service_intervals},
                               SERVICE_INTERVAL_POINTS * features.service_intervals))
    if features.eco_driving:
        items.append(PointItem("eco_driving", gettext("Eco driving enabled"), ECO_DRIVING_POINTS))
    if features.road_limits_speeding:
        items.append(PointItem("road_limits_speeding", gettext("Speeding by road limits"), ROAD_LIMITS_POINTS))
    known = [c for c in features.eco_criteria if c in ECO_CRITERION_POINTS]
    if known:
        top = max(sorted(known), key=ECO_CRITERION_POINTS.__getitem__)
        items.append(PointItem("eco_criterion", gettext("Eco-driving criterion: %(criterion)s") % {
            "criterion": str(ECO_CRITERION_LABELS.get(top, top.replace('_', ' '))).lower()},
                               ECO_CRITERION_POINTS[top]))
    return Points(tuple(items))


def unit_discount(unit_points_total: int, account_points_total: int) -> int:
    """100 − unit points − account points, floored at 0 and capped at 76 (whole percent)."""
    return max(0, min(UNIT_DISCOUNT_CAP, 100 - unit_points_total - account_points_total))


# --- Eligibility --------------------------------------------------------------------------------

@dataclass(frozen=True)
class AccessGraph:
    """Who may see what, in plain ids.

    ``unit_account``: every counted unit → its account. ``user_account``: every monitoring user →
    its account. ``unit_grants``: (user, unit, unit's account) for grants on the service's live units
    (counted or not: access to a deactivated unit is still access to another account's resources).
    ``account_grants``: (user, granted account). ``dealers``: accounts with dealer rights.
    """

    unit_account: Mapping[int, int]
    user_account: Mapping[int, int]
    unit_grants: tuple[tuple[int, int, int], ...] = ()
    account_grants: tuple[tuple[int, int], ...] = ()
    dealers: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Ineligibility:
    """Why a unit gets no discount. ``user`` / ``account`` name the monitoring user and account involved.

    Codes: ``support_account`` (``definition`` "a" or "b"), ``user_accesses_other_account``,
    ``unit_granted_to_other_user``, ``account_granted_to_other_user``.
    """

    code: str
    user: int | None = None
    account: int | None = None
    definition: str = ""


def _share_reached(granted: int, total: int) -> bool:
    num, den = SUPPORT_SHARE
    return total > 0 and granted * den >= total * num


def support_accounts(graph: AccessGraph) -> dict[int, Ineligibility]:
    """Support accounts by both definitions, each with the user that makes it one.

    (a) one of its users holds grants on ≥ 80 % of the service's counted units;
    (b) it has dealer rights, ≥ 50 counted units of its own, and one of its users holds grants on
        ≥ 80 % of those. An empty denominator never makes a support account.
    """
    total = len(graph.unit_account)
    own_units = defaultdict(int)
    for account in graph.unit_account.values():
        own_units[account] += 1
    granted_counted = defaultdict(set)  # user → counted units granted
    for user, unit, _ in graph.unit_grants:
        if unit in graph.unit_account:
            granted_counted[user].add(unit)

    found: dict[int, Ineligibility] = {}
    for user in sorted(granted_counted):
        account = graph.user_account.get(user)
        if account is None or account in found:
            continue
        units = granted_counted[user]
        if _share_reached(len(units), total):
            found[account] = Ineligibility("support_account", user=user, account=account, definition="a")
            continue
        own = own_units.get(account, 0)
        if account in graph.dealers and own >= SUPPORT_DEALER_MIN_UNITS:
            own_granted = sum(1 for unit in units if graph.unit_account[unit] == account)
            if _share_reached(own_granted, own):
                found[account] = Ineligibility("support_account", user=user, account=account, definition="b")
    return found


def ineligible_units(graph: AccessGraph, support: Mapping[int, Ineligibility] | None = None
                     ) -> dict[int, list[Ineligibility]]:
    """Every counted unit that gets no discount, with every reason (rules 1–4 of SPEC §8.6)."""
    if support is None:
        support = support_accounts(graph)
    by_account: dict[int, list[Ineligibility]] = defaultdict(list)  # reasons hitting all the account's units
    by_unit: dict[int, list[Ineligibility]] = defaultdict(list)

    for account, reason in support.items():  # (1)
        by_account[account].append(reason)
    seen_outbound = set()
    for user, unit, unit_account in graph.unit_grants:
        user_account = graph.user_account.get(user)
        if user_account is None or user_account == unit_account:
            continue
        if (user, unit_account) not in seen_outbound:  # (2): the user's account reaches out
            seen_outbound.add((user, unit_account))
            by_account[user_account].append(Ineligibility("user_accesses_other_account", user=user,
                                                          account=unit_account))
        if unit in graph.unit_account and user_account not in support:  # (3)
            by_unit[unit].append(Ineligibility("unit_granted_to_other_user", user=user, account=user_account))
    for user, granted_account in graph.account_grants:
        user_account = graph.user_account.get(user)
        if user_account is None or user_account == granted_account:
            continue
        if (user, granted_account) not in seen_outbound:  # (2)
            seen_outbound.add((user, granted_account))
            by_account[user_account].append(Ineligibility("user_accesses_other_account", user=user,
                                                          account=granted_account))
        if user_account not in support:  # (4)
            by_account[granted_account].append(Ineligibility("account_granted_to_other_user", user=user,
                                                             account=user_account))

    out: dict[int, list[Ineligibility]] = {}
    for unit, account in graph.unit_account.items():
        reasons = by_account.get(account, []) + by_unit.get(unit, [])
        if reasons:
            out[unit] = reasons
    return out


# --- The service --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServiceSummary:
    current: Decimal
    maximum: Decimal
    applied: Decimal
    purchased: int
    in_use: int
    unused: int
    full_cost: int


def maximum_discount(units: int, basic_package_units: int) -> Decimal:
    """(n − basic) / n, floored at 0; without a basic package that is 100 %; 0 with no units."""
    if units <= 0:
        return ZERO_PERCENT
    return percent_of(max(units - max(basic_package_units, 0), 0), units)


def service_summary(unit_discounts: Iterable[int], *, basic_package_units: int, purchased_units: int
                    ) -> ServiceSummary:
    """The summary line from the counted units' discounts (ineligible units count at 0)."""
    discounts = list(unit_discounts)
    n = len(discounts)
    current = percent_of(sum(discounts), n * 100)
    maximum = maximum_discount(n, basic_package_units)
    return ServiceSummary(
        current=current, maximum=maximum, applied=min(current, maximum),
        purchased=purchased_units, in_use=n, unused=max(purchased_units - n, 0),
        full_cost=sum(1 for d in discounts if d == 0),
    )


def average_percent(values: Iterable[Decimal]) -> Decimal | None:
    """The mean of percentages held to 2 places (e.g. a month's daily applied values), truncated
    to 2 places; None when there is nothing to average."""
    cents = [int(v * 100) for v in values]
    if not cents:
        return None
    return percent_of(sum(cents), len(cents) * 10000)
