"""Every read of the discount module: who may open it, the calculation, the saved days.

``calculate_discount(service)`` is the whole module in one object: it feeds the pure rules with
``inputs.gather`` (a fixed number of queries) and explains every reduction in words.
"""

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.http import Http404
from django.utils.translation import gettext, gettext_lazy, ngettext

from apps.accounts.models import Account
from apps.accounts.rights import may_open_discount_module
from apps.core.errors import DoesNotExist, InvalidInput
from apps.core.scoping import is_platform
from apps.units.models import Unit

from . import rules
from .advisor import Advisor, Suggestion, World, describe
from .inputs import ServiceInputs, gather
from .models import DiscountSnapshot

_INELIGIBLE_TEXT = {
    "support_account": {
        "a": gettext_lazy("The account may be a technical support account: its user %(user)s has access to at "
                          "least 80 %% of the service's units."),
        "b": gettext_lazy("The account may be a technical support account: its user %(user)s has access to at "
                          "least 80 %% of the account's own units (dealer with 50 or more units)."),
    },
    "user_accesses_other_account": gettext_lazy("User %(user)s of this account has access to resources of account "
                                                "%(account)s."),
    "unit_granted_to_other_user": gettext_lazy("User %(user)s of account %(account)s has access to this unit."),
    "account_granted_to_other_user": gettext_lazy("User %(user)s of account %(account)s has access to this "
                                                  "account's resources."),
}


class UnitResult(NamedTuple):
    """One unit's line (a tuple: the module builds one per counted unit)."""

    unit_id: int
    name: str
    account_id: int
    unit_points: int
    account_points: int
    discount: int
    eligible: bool
    reasons: tuple[str, ...]

    @property
    def rank(self) -> int:
        return self.unit_points + self.account_points


@dataclass(frozen=True)
class AccountResult:
    account_id: int
    name: str
    rank: int
    discount: Decimal
    units: list[UnitResult] = field(default_factory=list)
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class DiscountReport:
    service: Account
    summary: rules.ServiceSummary
    accounts: list[AccountResult]

    @property
    def units(self) -> list[UnitResult]:
        return [unit for account in self.accounts for unit in account.units]


def _reduction_texts(points: rules.Points, whose: str) -> list[str]:
    """``"<label>: −<points> p.p. (<whose>[; <explanation>])"``, e.g. "Messages available: −5 p.p.
    (account; from plan Base; account override: none)"."""
    whose = gettext("unit") if whose == "unit" else gettext("account")
    return [gettext("%(label)s: −%(points)s p.p. (%(whose)s)") % {
        "label": item.label, "points": item.points,
        "whose": whose + ("; " + item.explanation if item.explanation else "")} for item in points.items]


def calculate_discount(service: Account, data: ServiceInputs | None = None) -> DiscountReport:
    """The service's discount now, with every unit's points, discount and reasons (nothing saved).
    ``data``: the service's inputs when the caller already gathered them."""
    data = data or gather(service)
    support = rules.support_accounts(data.graph)
    ineligible = rules.ineligible_units(data.graph, support)
    names = data.account_names

    texts: dict[rules.Ineligibility, str] = {}  # account-wide reasons repeat on every unit: word them once

    def explain(reason: rules.Ineligibility) -> str:
        if reason not in texts:
            user = data.user_names.get(reason.user, "?")
            if reason.code == "support_account":
                texts[reason] = str(_INELIGIBLE_TEXT[reason.code][reason.definition]) % {"user": user}
            else:
                texts[reason] = str(_INELIGIBLE_TEXT[reason.code]) % {"user": user,
                                                                      "account": names.get(reason.account, "?")}
        return texts[reason]

    account_points = {pk: rules.account_points(f) for pk, f in data.account_features.items()}
    account_texts = {pk: _reduction_texts(points, "account") for pk, points in account_points.items()}
    # Units share a handful of feature combinations: score and word each combination once.
    unit_scores: dict[rules.UnitFeatures, tuple[rules.Points, list[str]]] = {}
    units_by_account: dict[int, list[UnitResult]] = {}
    for unit in sorted(data.units.values(), key=lambda u: (u.name.lower(), u.id)):
        acc_points = account_points[unit.account_id]
        if unit.features not in unit_scores:
            points = rules.unit_points(unit.features)
            unit_scores[unit.features] = (points, _reduction_texts(points, "unit"))
        own_points, own_texts = unit_scores[unit.features]
        blockers = ineligible.get(unit.id, [])
        discount = 0 if blockers else rules.unit_discount(own_points.total, acc_points.total)
        reasons = [explain(r) for r in blockers] + own_texts + account_texts[unit.account_id]
        raw = 100 - own_points.total - acc_points.total
        if not blockers and raw > rules.UNIT_DISCOUNT_CAP:
            reasons.append(gettext("100 − %(unit)s − %(account)s = %(raw)s %%, capped at %(cap)s %%.") % {
                "unit": own_points.total, "account": acc_points.total, "raw": raw, "cap": rules.UNIT_DISCOUNT_CAP})
        elif not blockers and raw < 0:
            reasons.append(gettext("100 − %(unit)s − %(account)s = %(raw)s %%: no discount.") % {
                "unit": own_points.total, "account": acc_points.total, "raw": raw})
        units_by_account.setdefault(unit.account_id, []).append(UnitResult(
            unit_id=unit.id, name=unit.name, account_id=unit.account_id, unit_points=own_points.total,
            account_points=acc_points.total, discount=discount, eligible=not blockers, reasons=tuple(reasons)))

    listed = set(units_by_account) | set(support)
    accounts = []
    for pk in sorted(listed, key=lambda pk: (names[pk].lower(), pk)):
        units = units_by_account.get(pk, [])
        acc_points = account_points.get(pk, rules.Points())
        account_reasons = [explain(support[pk])] if pk in support else []
        accounts.append(AccountResult(
            account_id=pk, name=names[pk], rank=acc_points.total,
            discount=rules.percent_of(sum(u.discount for u in units), len(units) * 100), units=units,
            reasons=tuple(account_reasons + account_texts.get(pk, []))))

    summary = rules.service_summary(
        (unit.discount for units in units_by_account.values() for unit in units),
        basic_package_units=service.basic_package_units, purchased_units=service.purchased_units)
    return DiscountReport(service=service, summary=summary, accounts=accounts)


# --- The advisor ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Advice:
    """What the advisor tells about one unit or account: its discount and the suggestions, best
    first, each with its change in words."""

    discount: Decimal | None  # None: a unit the discount does not count (deactivated, account blocked)
    suggestions: list[dict]


class ServiceAdvice:
    """The advisor over one service's inputs (gathered once), worded with names."""

    def __init__(self, service: Account, data: ServiceInputs | None = None, focus: int | None = None):
        """``focus``: advice for this account (or its units) only. The inputs are then gathered
        with the features of that account and of the accounts whose units a suggested grant removal
        would make eligible or not (a second, still focused, read when there are any), instead of
        the whole service's."""
        self.service = service
        if data is None and focus is not None:
            data = gather(service, focus={focus})
            reach = self._advisor_of(data).grant_reach([focus]) - {focus}
            if reach:
                data = gather(service, focus={focus, *reach})
        self.data = data or gather(service)
        self.advisor = self._advisor_of(self.data)
        self._unit_names: dict[int, str] | None = None
        self._words: dict = {}
        self._unit_advice: dict = {}

    @staticmethod
    def _advisor_of(d: ServiceInputs) -> Advisor:
        return Advisor(World(units={pk: row.features for pk, row in d.units.items()},
                             accounts=d.account_features, graph=d.graph))

    def _unit_name(self, pk: int) -> str:
        if pk in self.data.units:
            return self.data.units[pk].name
        if self._unit_names is None:  # a granted unit the discount does not count: one read, when needed
            self._unit_names = dict(Unit.objects.filter(service=self.service).values_list("pk", "name"))
        return self._unit_names.get(pk, "?")

    def words(self, suggestion: Suggestion) -> dict:
        """The API's fields of a suggestion, worded once per distinct suggestion (a service's units
        share a handful: the page words 30,000 of them)."""
        change = suggestion.change
        key = (change.feature, change.before, change.after, change.name, change.grant, suggestion.points,
               suggestion.discount_after, suggestion.units)
        if key not in self._words:
            self._words[key] = {
                "feature": suggestion.feature,
                "change": describe(change, user_name=lambda pk: self.data.user_names.get(pk, "?"),
                                   unit_name=self._unit_name,
                                   account_name=lambda pk: self.data.account_names.get(pk, "?")),
                "points": suggestion.points,
                "discount_after": Decimal(suggestion.discount_after).quantize(Decimal("0.01")),
                "units": suggestion.units}
        return self._words[key]

    def note(self, words: dict) -> str:
        """The page's note on a suggestion: its points and how many units gain, in words."""
        parts = []
        if words["points"]:
            parts.append(ngettext("%(n)s point", "%(n)s points", words["points"]) % {"n": words["points"]})
        if words["units"] > 1:
            parts.append(ngettext("%(n)s unit gains", "%(n)s units gain", words["units"]) % {"n": words["units"]})
        return ", ".join(parts)

    def for_unit(self, unit_id: int, limit: int | None = None) -> Advice:
        if unit_id not in self.data.units:
            return Advice(None, [])
        advisor = self.advisor
        shared = None
        if unit_id not in advisor.ineligible:  # an eligible unit's advice depends on its features and
            # its account's points only: worded once per combination (the page asks for every unit)
            shared = (advisor.world.units[unit_id],
                      advisor.account_points.get(advisor.world.graph.unit_account[unit_id], 0), limit)
            if shared in self._unit_advice:
                return self._unit_advice[shared]
        suggestions = advisor.for_unit(unit_id)[:limit]
        answer = Advice(Decimal(advisor.discounts[unit_id]).quantize(Decimal("0.01")),
                        [self.words(s) for s in suggestions])
        if shared is not None:
            self._unit_advice[shared] = answer
        return answer

    def for_account(self, account_id: int, limit: int | None = None) -> Advice:
        suggestions = self.advisor.for_account(account_id)[:limit]
        return Advice(self.advisor.account_discount(account_id), [self.words(s) for s in suggestions])

    def service_after_top(self) -> rules.ServiceSummary:
        return self.advisor.service_after_top(basic_package_units=self.service.basic_package_units,
                                              purchased_units=self.service.purchased_units)


def advice_subject(service: Account, unit=None, account=None) -> tuple[str, int, int]:
    """Validate the advice query: exactly one of ``unit`` and ``account``, an id of the service
    (400 ``invalid`` / ``does_not_exist`` on the field otherwise). Returns the kind, the id and the
    account concerned (the unit's)."""
    given = {name: value for name, value in (("unit", unit), ("account", account)) if value not in (None, "")}
    if len(given) != 1:
        raise InvalidInput.field("unit" if not given else "account",
                                 gettext("Give either a unit or an account (one of them)."))
    (name, value), = given.items()
    try:
        pk = int(value)
    except (TypeError, ValueError):
        raise InvalidInput.field(name, gettext("An id is a whole number.")) from None
    if name == "unit":
        account_id = Unit.objects.filter(pk=pk, service=service, archived_at__isnull=True) \
            .values_list("account_id", flat=True).first()
    else:
        account_id = pk if Account.objects.filter(pk=pk, service=service).exists() else None
    if account_id is None:
        raise DoesNotExist.field(name)
    return name, pk, account_id


# --- The services whose module an operator may open (who may: ``accounts.rights``) ---------------

def discount_services_visible_to(user):
    """The services whose module ``user`` may open: discount enabled, and its own for a top user."""
    qs = Account.objects.filter(parent__isnull=True, discount_enabled=True).order_by("name")
    if not may_open_discount_module(user):
        return qs.none()
    if is_platform(user):
        return qs
    return qs.filter(pk=user.account.service_id)


def get_discount_service(user, service_param=None) -> Account:
    """The service a request is about: a top user's own; the platform operator names it.

    404 for a role that may not open the module and for a service without the discount; a
    platform operator who names no service gets a 400 on ``service``.
    """
    if not may_open_discount_module(user):
        raise Http404
    if is_platform(user):
        if service_param in (None, ""):
            raise InvalidInput.field("service", gettext("Pick a service (the id of its top account)."))
        try:
            service_id = int(service_param)
        except (TypeError, ValueError):
            raise InvalidInput.field("service", gettext("A service is the id of its top account.")) from None
    else:
        service_id = user.account.service_id
    try:
        return discount_services_visible_to(user).get(pk=service_id)
    except Account.DoesNotExist:
        raise Http404 from None


# --- Saved days ---------------------------------------------------------------------------------

def local_today(service: Account, now: datetime) -> date:
    return now.astimezone(ZoneInfo(service.timezone)).date()


def latest_snapshot(service: Account) -> DiscountSnapshot | None:
    return DiscountSnapshot.objects.filter(service=service).order_by("-day").first()


@dataclass(frozen=True)
class MonthHistory:
    first_day: date
    days: list[DiscountSnapshot]
    average: Decimal | None  # the month's discount: mean of the daily applied values, truncated


def month_history(service: Account, year: int, month: int) -> MonthHistory:
    first = date(year, month, 1)
    last = date(year, month, calendar.monthrange(year, month)[1])
    days = list(DiscountSnapshot.objects.filter(service=service, day__range=(first, last)).order_by("day"))
    return MonthHistory(first_day=first, days=days, average=rules.average_percent(d.applied for d in days))


def parse_month(text) -> tuple[int, int]:
    """``YYYY-MM`` → (year, month); 400 on ``month`` otherwise."""
    try:
        year, month = (int(part) for part in str(text).split("-"))
        date(year, month, 1)
    except (TypeError, ValueError):
        raise InvalidInput.field("month", gettext("Use YYYY-MM, e.g. 2026-03.")) from None
    return year, month
