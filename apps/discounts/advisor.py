"""The discount advisor (SPEC §9.6, settled in §9.8): which single change raises a discount most.

Pure functions over the plain values of ``rules`` (no database). A ``World`` is everything the
rules read for one service: each counted unit's features and account, each account's features,
and the access graph. A ``Change`` alters one line of the points tables of one unit or account
(or removes one grant), and ``apply`` gives the world after it; a ``Suggestion`` is a change with
its points and the discount after it, computed by the same rules as the discount itself. So a
suggestion's ``discount_after`` is, by construction and by property test, exactly what
recomputing the changed inputs gives.

The lines (SPEC §9.8, one suggestion per line the unit or account uses):

- unit: one sensor (5; a non-fuel one when there is one), the fuel-group sensors (each 5 and
  the group's 20), the commands (all of them: 1 point each), one service interval (5), eco
  driving (20), road-limit speeding (10), the highest eco criterion (gains the difference to the
  next one);
- account: storage down one 400-day step, each app, CMS Manager, messages, and for packages and
  ladders the smallest removal that lowers the points one step;
- eligibility: the removal of one grant (a unit grant or an account-resource grant) after which
  the unit is counted again.

Suggestions that raise nothing, and grant removals that would lower any unit's discount (a
support account losing its status exposes units its users see), are left out. Ranked by the
discount after (highest first), then the points, then the feature's name.
"""

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import rules
from .rules import (
    FOREVER_HISTORY_DAYS,
    LADDER_SERVICES,
    PACKAGE_CAP,
    PACKAGE_POINTS,
    PACKAGE_SERVICES,
    PACKAGE_SIZE,
    RETRANSLATOR_GROUP,
    RETRANSLATOR_SERVICE,
    STORAGE_STEP_DAYS,
    AccessGraph,
    AccountFeatures,
    UnitFeatures,
)

UnitGrant = tuple[int, int, int]  # (user, unit, the unit's account), as in ``AccessGraph.unit_grants``
AccountGrant = tuple[int, int]  # (user, granted account)


@dataclass(frozen=True)
class World:
    """The inputs of a service's discount: ``units`` maps every counted unit to its features (its
    account is ``graph.unit_account``), ``accounts`` every account to its features."""

    units: Mapping[int, UnitFeatures]
    accounts: Mapping[int, AccountFeatures]
    graph: AccessGraph

    @cached_property
    def units_of(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for unit, account in self.graph.unit_account.items():
            out.setdefault(account, []).append(unit)
        return out


@dataclass(frozen=True)
class Change:
    """One line of the points tables changed, or one grant removed.

    ``feature``: the line's code (``sensors``, ``fuel_sensors``, ``commands``, ``service_intervals``,
    ``eco_driving``, ``road_limits_speeding``, ``eco_criterion``, ``storage``, ``app``, ``cms_manager``,
    ``messages``, an object counter name, ``unit_grant``, ``account_grant``). ``unit`` / ``account``:
    whose features change. ``unit_after`` / ``account_after``: the features after the change.
    ``before`` / ``after``: the line's count (or days) before and after, ``name``: an app's or a
    criterion's name; ``grant``: the grant removed."""

    feature: str
    unit: int | None = None
    account: int | None = None
    unit_after: UnitFeatures | None = None
    account_after: AccountFeatures | None = None
    before: int = 0
    after: int = 0
    name: str = ""
    grant: UnitGrant | AccountGrant | None = None


def apply(change: Change, world: World) -> World:
    """The world after ``change``; every other input is the same."""
    if change.unit_after is not None:
        return replace(world, units={**world.units, change.unit: change.unit_after})
    if change.account_after is not None:
        return replace(world, accounts={**world.accounts, change.account: change.account_after})
    graph = world.graph
    if change.feature == "unit_grant":
        graph = replace(graph, unit_grants=tuple(g for g in graph.unit_grants if g != change.grant))
    else:
        graph = replace(graph, account_grants=tuple(g for g in graph.account_grants if g != change.grant))
    return replace(world, graph=graph)


@dataclass(frozen=True)
class Suggestion:
    change: Change
    points: int  # the points the change takes off (0 for a grant)
    discount: Decimal | int  # before: a unit's whole percent, an account's average (2 places)
    discount_after: Decimal | int
    units: int  # units whose discount rises

    @property
    def feature(self) -> str:
        return self.change.feature


# --- Computing discounts ---------------------------------------------------------------------------

@dataclass
class Scorer:
    """Discounts of a world, with the points of each distinct feature set computed once."""

    unit_cache: dict[UnitFeatures, int] = field(default_factory=dict)

    def unit_points(self, features: UnitFeatures) -> int:
        if features not in self.unit_cache:
            self.unit_cache[features] = rules.unit_points(features).total
        return self.unit_cache[features]

    def discounts(self, world: World, ineligible: Mapping | None = None) -> dict[int, int]:
        """Every counted unit's discount (ineligible units 0), as the module computes it."""
        if ineligible is None:
            ineligible = rules.ineligible_units(world.graph)
        account_points: dict[int, int] = {}
        out = {}
        for unit, account in world.graph.unit_account.items():
            if unit in ineligible:
                out[unit] = 0
                continue
            if account not in account_points:
                features = world.accounts.get(account)
                account_points[account] = rules.account_points(features).total if features else 0
            out[unit] = rules.unit_discount(self.unit_points(world.units[unit]), account_points[account])
        return out


def account_discount(discounts: Mapping[int, int], units: Iterable[int]) -> Decimal:
    """An account's discount: the truncated mean of its units' discounts (as the module shows it)."""
    values = [discounts[u] for u in units]
    return rules.percent_of(sum(values), len(values) * 100)


# --- The changes a unit or an account could make ---------------------------------------------------

def _criterion_points(name: str) -> int:
    return rules.ECO_CRITERION_POINTS.get(name, 0)


def unit_changes(unit: int, f: UnitFeatures) -> list[Change]:
    """One change per line of the unit points table that the unit uses."""
    out = []

    def change(feature, after, before_n=0, after_n=0, name=""):
        out.append(Change(feature, unit=unit, unit_after=after, before=before_n, after=after_n, name=name))

    if f.sensors > f.fuel_sensors:  # a plain sensor: 5 points
        change("sensors", f._replace(sensors=f.sensors - 1), f.sensors, f.sensors - 1)
    elif f.fuel_sensors > 1:  # only fuel sensors: one of them (the group stays)
        change("sensors", f._replace(sensors=f.sensors - 1, fuel_sensors=f.fuel_sensors - 1), f.sensors,
               f.sensors - 1)
    if f.fuel_sensors:
        change("fuel_sensors", f._replace(sensors=f.sensors - f.fuel_sensors, fuel_sensors=0), f.fuel_sensors, 0)
    if f.commands:
        change("commands", f._replace(commands=0), f.commands, 0)
    if f.service_intervals:
        change("service_intervals", f._replace(service_intervals=f.service_intervals - 1), f.service_intervals,
               f.service_intervals - 1)
    if f.eco_driving:
        change("eco_driving", f._replace(eco_driving=False))
    if f.road_limits_speeding:
        change("road_limits_speeding", f._replace(road_limits_speeding=False))
    known = sorted(c for c in f.eco_criteria if c in rules.ECO_CRITERION_POINTS)
    if known:
        top = max(known, key=_criterion_points)  # the one unit_points counts
        following = max((_criterion_points(c) for c in known if c != top), default=0)
        if _criterion_points(top) > following:  # two criteria of the top weight: removing one gains nothing
            change("eco_criterion", f._replace(eco_criteria=f.eco_criteria - {top}), name=top)
    return out


def _without(available, name):
    if isinstance(available, Mapping):
        return {k: v for k, v in available.items() if k != name}
    return frozenset(available) - {name}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def account_changes(account: int, f: AccountFeatures) -> list[Change]:
    """One change per line of the account points table that the account uses; for packages and
    ladders, the smallest removal that lowers the points one step."""
    out = []

    def change(feature, after, before_n=0, after_n=0, name=""):
        out.append(Change(feature, account=account, account_after=after, before=before_n, after=after_n, name=name))

    if rules.storage_points(f.history_period_days):
        days = FOREVER_HISTORY_DAYS if f.history_period_days == 0 else f.history_period_days
        steps = _ceil_div(days - rules.STORAGE_FREE_DAYS, STORAGE_STEP_DAYS)
        shorter = rules.STORAGE_FREE_DAYS + STORAGE_STEP_DAYS * (steps - 1)
        change("storage", replace(f, history_period_days=shorter), f.history_period_days, shorter)
    for app in f.apps:
        change("app", replace(f, available_services=_without(f.available_services, app)), name=app)
    for name in (rules.CMS_MANAGER_SERVICE, rules.MESSAGES_SERVICE):
        if name in f.available_services:
            change(name, replace(f, available_services=_without(f.available_services, name)))
    counts = f.object_counts
    for service in PACKAGE_SERVICES:
        n = counts.get(service, 0)
        if rules.package_points(n):
            packages = min(_ceil_div(n, PACKAGE_SIZE), PACKAGE_CAP // PACKAGE_POINTS)
            fewer = PACKAGE_SIZE * (packages - 1)
            change(service, replace(f, object_counts={**counts, service: fewer}), n, fewer)
    n = counts.get(RETRANSLATOR_SERVICE, 0)
    if rules.retranslator_points(n):
        fewer = RETRANSLATOR_GROUP * (_ceil_div(n, RETRANSLATOR_GROUP) - 1)
        change(RETRANSLATOR_SERVICE, replace(f, object_counts={**counts, RETRANSLATOR_SERVICE: fewer}), n, fewer)
    for service in LADDER_SERVICES:
        n = counts.get(service, 0)
        if rules.ladder_points(n):
            fewer = min(n - 1, rules.LADDER_NEXT_COUNT)
            change(service, replace(f, object_counts={**counts, service: fewer}), n, fewer)
    return out


class GrantIndex:
    """The graph's grants by user, and the grant removals behind each ineligibility reason (cached:
    an account-wide reason repeats on every unit of the account)."""

    def __init__(self, graph: AccessGraph):
        self.graph = graph
        self.unit_grants: dict[int, list[UnitGrant]] = {}
        for grant in sorted(graph.unit_grants):
            self.unit_grants.setdefault(grant[0], []).append(grant)
        self.account_grants = set(graph.account_grants)
        self._cache: dict = {}

    def for_reason(self, unit: int, reason: rules.Ineligibility) -> tuple[Change, ...]:
        """The one grant behind ``reason`` (of ``unit``). A reason behind which stand several grants
        (a user seeing three units of another account) cannot be lifted by one removal and yields
        none; for a support account, one of its user's grants on a counted unit (all weigh the same
        in the share)."""
        graph, user = self.graph, reason.user
        if reason.code == "unit_granted_to_other_user":
            return (Change("unit_grant", grant=(user, unit, graph.unit_account[unit])),)
        if reason.code == "account_granted_to_other_user":
            return (Change("account_grant", grant=(user, graph.unit_account[unit])),)
        if reason not in self._cache:
            found: tuple[Change, ...] = ()
            if reason.code == "support_account":
                for grant in self.unit_grants.get(user, ()):
                    if grant[1] in graph.unit_account and (
                            reason.definition != "b" or graph.unit_account[grant[1]] == reason.account):
                        found = (Change("unit_grant", grant=grant),)
                        break
            elif reason.code == "user_accesses_other_account":
                reaching = [Change("unit_grant", grant=g) for g in self.unit_grants.get(user, ())
                            if g[2] == reason.account]
                if (user, reason.account) in self.account_grants:
                    reaching.append(Change("account_grant", grant=(user, reason.account)))
                found = tuple(reaching) if len(reaching) == 1 else ()
            self._cache[reason] = found
        return self._cache[reason]


def grant_changes(world: World, unit: int, reasons: Iterable[rules.Ineligibility],
                  index: GrantIndex | None = None) -> list[Change]:
    """The grant removals that could lift ``reasons`` of ``unit`` (see ``GrantIndex.for_reason``)."""
    index = index or GrantIndex(world.graph)
    out = {}
    for reason in reasons:
        for change in index.for_reason(unit, reason):
            out[(change.feature, change.grant)] = change
    return sorted(out.values(), key=lambda c: (c.feature, c.grant))


# --- The advisor -------------------------------------------------------------------------------------

def _rank(suggestions: list[Suggestion]) -> list[Suggestion]:
    return sorted(suggestions, key=lambda s: (-s.discount_after, -s.points, s.feature, s.change.name,
                                              s.change.grant or ()))


class Advisor:
    """Suggestions for the units and accounts of one world. The world's discounts are computed
    once; a grant removal's world is recomputed once however many units it concerns."""

    def __init__(self, world: World):
        self.world = world
        self.scorer = Scorer()
        self.ineligible = rules.ineligible_units(world.graph)
        self.discounts = self.scorer.discounts(world, self.ineligible)
        self.account_points = {pk: rules.account_points(f).total for pk, f in world.accounts.items()}
        self._after_grant: dict[tuple, tuple[dict[int, int], int] | None] = {}
        self._unit_cache: dict[tuple, list[Suggestion]] = {}
        self.grants = GrantIndex(world.graph)
        self._account_cache: dict[int, list[Suggestion]] = {}

    def _grant_discounts(self, change: Change) -> tuple[dict[int, int], int] | None:
        """Every unit's discount after a grant removal and how many units gain; None when it lowers
        any unit's discount. Computed once per removal, however many units ask."""
        key = (change.feature, change.grant)
        if key not in self._after_grant:
            after = self.scorer.discounts(apply(change, self.world))
            lowers = any(after[u] < d for u, d in self.discounts.items())
            gained = sum(1 for u, d in after.items() if d > self.discounts[u])
            self._after_grant[key] = None if lowers else (after, gained)
        return self._after_grant[key]

    def grant_reach(self, accounts: Iterable[int]) -> set[int]:
        """The accounts whose units' eligibility any grant removal suggested for ``accounts``' units
        would change (pure graph: no features needed). The advisor needs those units' features to
        tell whether a removal lowers or raises their discount."""
        reach, seen = set(), set()
        for account in accounts:
            for unit in self.world.units_of.get(account, []):
                for change in grant_changes(self.world, unit, self.ineligible.get(unit, ()), self.grants):
                    key = (change.feature, change.grant)
                    if key in seen:
                        continue
                    seen.add(key)
                    after = rules.ineligible_units(apply(change, self.world).graph)
                    flipped = set(after) ^ set(self.ineligible)
                    reach |= {self.world.graph.unit_account[u] for u in flipped}
        return reach

    def for_unit(self, unit: int) -> list[Suggestion]:
        """The unit's suggestions, best first (none for a unit at the cap)."""
        before = self.discounts[unit]
        if before >= rules.UNIT_DISCOUNT_CAP:
            return []
        out = []
        reasons = self.ineligible.get(unit)
        if reasons:
            for change in grant_changes(self.world, unit, reasons, self.grants):
                found = self._grant_discounts(change)
                if found is not None and found[0][unit] > before:
                    out.append(Suggestion(change, 0, before, found[0][unit], found[1]))
            return _rank(out)
        account_points = self.account_points.get(self.world.graph.unit_account[unit], 0)
        features = self.world.units[unit]
        key = (features, account_points)  # units share a handful of combinations: rank each once
        if key not in self._unit_cache:
            points = self.scorer.unit_points(features)
            for change in unit_changes(0, features):
                taken = points - self.scorer.unit_points(change.unit_after)
                after = rules.unit_discount(points - taken, account_points)
                if after > before:
                    out.append(Suggestion(change, taken, before, after, 1))
            self._unit_cache[key] = _rank(out)
        return [replace(s, change=replace(s.change, unit=unit)) for s in self._unit_cache[key]]

    def account_discount(self, account: int, discounts: Mapping[int, int] | None = None) -> Decimal:
        return account_discount(discounts or self.discounts, self.world.units_of.get(account, []))

    def for_account(self, account: int) -> list[Suggestion]:
        if account not in self._account_cache:
            self._account_cache[account] = self._for_account(account)
        return self._account_cache[account]

    def _for_account(self, account: int) -> list[Suggestion]:
        """The account's suggestions, best first: its account-level lines (``discount_after`` is
        the account's average after the change) and the grant removals that lift any of its units'
        ineligibility."""
        units = self.world.units_of.get(account, [])
        if not units:
            return []
        before = self.account_discount(account)
        out = []
        features = self.world.accounts.get(account)
        if features is not None:
            eligible = Counter(self.scorer.unit_points(self.world.units[u]) for u in units if u not in self.ineligible)
            points = self.account_points[account]
            for change in account_changes(account, features):
                taken = points - rules.account_points(change.account_after).total
                total, gained = 0, 0
                for unit_points, n in eligible.items():
                    now, then = (rules.unit_discount(unit_points, points),
                                 rules.unit_discount(unit_points, points - taken))
                    total += then * n
                    gained += n if then > now else 0
                ineligible_count = len(units) - sum(eligible.values())
                after = rules.percent_of(total, (sum(eligible.values()) + ineligible_count) * 100)
                if after > before:
                    out.append(Suggestion(change, taken, before, after, gained))
        grants: dict = {}
        for unit in units:
            for change in grant_changes(self.world, unit, self.ineligible.get(unit, ()), self.grants):
                grants[(change.feature, change.grant)] = change
        for change in grants.values():
            found = self._grant_discounts(change)
            if found is None:
                continue
            value = self.account_discount(account, found[0])
            if value > before:
                out.append(Suggestion(change, 0, before, value, found[1]))
        return _rank(out)

    def with_top_account_suggestions(self) -> tuple[World, list[Suggestion]]:
        """The world after every account's top suggestion is taken (each once), with the suggestions."""
        world, taken, seen = self.world, [], set()
        for account in sorted(self.world.units_of):
            suggestions = self.for_account(account)
            if suggestions:
                top = suggestions[0]
                key = (top.change.feature, top.change.account, top.change.grant)
                taken.append(top)
                if key not in seen:
                    seen.add(key)
                    world = apply(top.change, world)
        return world, taken

    def service_after_top(self, *, basic_package_units: int, purchased_units: int) -> rules.ServiceSummary:
        """The service's summary if every account's top suggestion were taken (computed, not guessed)."""
        world, _ = self.with_top_account_suggestions()
        return rules.service_summary(self.scorer.discounts(world).values(), basic_package_units=basic_package_units,
                                     purchased_units=purchased_units)


# --- Words -------------------------------------------------------------------------------------------

_OBJECT_LABELS = {"drivers": gettext_lazy("drivers"), "trailers": gettext_lazy("trailers"),
                  "zones_library": gettext_lazy("geofences"), RETRANSLATOR_SERVICE: gettext_lazy("retranslated units"),
                  "notifications": gettext_lazy("notifications"), "jobs": gettext_lazy("jobs"),
                  "routes": gettext_lazy("routes"), "reporttemplates": gettext_lazy("report templates")}


def describe(change: Change, *, user_name: Callable[[int], str], unit_name: Callable[[int], str],
             account_name: Callable[[int], str]) -> str:
    """The change in the reader's language, with names (never ids)."""
    f = change.feature
    values = {"before": change.before, "after": change.after, "name": change.name.replace("_", " ")}
    if f == "sensors":
        return _("Remove one sensor (%(before)s to %(after)s)") % values
    if f == "fuel_sensors":
        return _("Remove the fuel-group sensors (%(before)s)") % values
    if f == "commands":
        return _("Remove the commands (%(before)s)") % values
    if f == "service_intervals":
        return _("Remove one service interval (%(before)s to %(after)s)") % values
    if f == "eco_driving":
        return _("Turn eco driving off")
    if f == "road_limits_speeding":
        return _("Turn speeding by road limits off")
    if f == "eco_criterion":
        return _("Remove the eco-driving criterion “%(name)s”") % values
    if f == "storage":
        before = change.before or FOREVER_HISTORY_DAYS
        return _("Shorten the data storage period from %(before)s to %(after)s days") % {**values, "before": before}
    if f == "app":
        return _("Make the application “%(name)s” unavailable") % {"name": change.name}
    if f == rules.CMS_MANAGER_SERVICE:
        return _("Make CMS Manager unavailable")
    if f == rules.MESSAGES_SERVICE:
        return _("Make messages unavailable")
    if f in _OBJECT_LABELS:
        return _("Reduce %(objects)s from %(before)s to %(after)s") % {
            **values, "objects": str(_OBJECT_LABELS[f])}
    if f == "unit_grant":
        user, unit, account = change.grant
        return _("Remove user %(user)s's access to unit %(unit)s of account %(account)s") % {
            "user": user_name(user), "unit": unit_name(unit), "account": account_name(account)}
    user, account = change.grant
    return _("Remove user %(user)s's access to the resources of account %(account)s") % {
        "user": user_name(user), "account": account_name(account)}
