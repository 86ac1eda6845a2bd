"""The billing kernel (SPEC §3, §8.3): check, consume, objects; and account service overrides.

Who pays: an account's usage of a service is its own plus its whole subtree's. Every account of
the chain (the account and its ancestors) that has a table for the service is charged at its own
prices and limited by its own table, counted over its subtree; an account for which the service
is unknown-but-allowed neither pays nor limits.

Statement budget of a consume (whatever the tree depth; documented in docs/decisions.md):
1. the chain's accounts with their overrides, the catalogue type and the service's plans with
   their rows for the name (``load_chain``),
2. the window counters: one upsert returning the new totals,
3. the balances, the ledger rows and the idempotency key with its answer: on PostgreSQL one
   statement (``counters.post_consumption``); SQLite, which cannot write inside ``WITH``, runs it
   as three (an UPDATE returning the new balances, one INSERT of the ledger rows, one of the key).
A denial raises inside the transaction, so nothing of it remains; its answer is then stored in a
second, short transaction so a repeat replays it.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from apps.accounts import audit
from apps.accounts.models import Account, IdempotencyKey, LedgerKind
from apps.accounts.operations import actor_name, require_manage, require_not_blocked
from apps.core import clock, periods
from apps.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from apps.core.money import ZERO, as_money, money_text
from apps.core.scoping import sees
from apps.plans import history
from apps.plans.cost_table import CostTableError, parse
from apps.plans.models import AccountServiceOverride, ResetInterval, ServiceType

from . import counters
from .blocking import evaluate_blocking
from apps.plans.models import CatalogueService
from .models import ObjectChange, UsageCounter
from .resolution import Chain, ChainLink, catalogue_q, load_chain, preloaded_settings

# Limited and priced per unit (SPEC §8.2): each unit's own count of sensors / commands is checked
# against the tables as positions 1..n; the account counters still hold the totals, for display.
PER_UNIT_SERVICES = frozenset({"unit_sensors", "unit_alias"})
# Moved only by the code that creates those objects (units, accounts, monitoring users), never by
# the public ``objects`` endpoint (SPEC §8.3).
INTERNAL_SERVICES = frozenset({"avl_unit", "avl_resource", "storage_user", *PER_UNIT_SERVICES})
MAX_QUANTITY = 10_000
MAX_DELTA = 1_000
MAX_KEY_LENGTH = 255
DENIAL_REASONS = ("account_blocked", "ancestor_blocked", "no_plan", "service_denied", "service_unknown",
                  "limit_reached", "balance_limit")


class KernelDenied(Forbidden):
    """A kernel refusal (403): ``reason`` is one of ``DENIAL_REASONS`` and is also the error code."""

    def __init__(self, reason: str, detail: str, *, limiting_account: Account | None = None):
        super().__init__(detail, code=reason)
        self.reason = reason
        self.limiting_account_id = limiting_account.pk if limiting_account is not None else None

    def as_dict(self) -> dict:
        body = {"allowed": False, "reason": self.reason, "detail": self.detail, "code": self.reason}
        if self.limiting_account_id is not None:
            body["limiting_account"] = self.limiting_account_id
        if self.fields:  # set by a caller that knows which of its fields asked (a unit's sensors)
            body["fields"] = self.fields
        return body

    @classmethod
    def from_dict(cls, body: dict) -> "KernelDenied":
        denial = cls(body["reason"], body["detail"])
        denial.limiting_account_id = body.get("limiting_account")
        return denial


@dataclass(frozen=True)
class CheckResult:
    allowed: bool
    reason: str | None
    detail: str
    cost: Decimal

    def as_dict(self) -> dict:
        return {"allowed": self.allowed, "reason": self.reason, "detail": self.detail,
                "cost": money_text(self.cost)}


# --- validation -------------------------------------------------------------------------------------

def _require_catalogue_service(chain: Chain, name: str, expected_type: str | None):
    if chain.catalogue_type is None:
        raise InvalidInput.field("service", gettext("'%(name)s' is not a service of the catalogue.") % {"name": name})
    if expected_type is not None and chain.catalogue_type != expected_type:
        label = ServiceType(expected_type).label.lower()
        raise InvalidInput.field("service", gettext("'%(name)s' is not a service of type '%(type)s'.") % {
            "name": name, "type": label})


def _require_whole(value, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput.field(field, gettext("A whole number from %(minimum)s to %(maximum)s.") % {
            "minimum": low, "maximum": high})
    return value


# --- the rules, over a loaded chain -------------------------------------------------------------------

def _entry_denial(chain: Chain) -> KernelDenied | None:
    """Denials that do not depend on counts: blocking, no plan, the account's own resolution."""
    account = chain.account
    if account.blocked:
        return KernelDenied("account_blocked", gettext("Account '%(account)s' is blocked.") % {"account": account.name})
    for link in chain.links[:-1]:
        if link.account.blocked:
            return KernelDenied("ancestor_blocked", gettext("Account '%(account)s' above this one is blocked.") % {
                "account": link.account.name})
    resolution = chain.resolution
    if not resolution.allowed:
        return KernelDenied(resolution.reason, gettext("'%(service)s': %(explanation)s.") % {
            "service": resolution.name, "explanation": resolution.explanation})
    return None


def _charged(chain: Chain) -> list[ChainLink]:
    """The accounts of the chain that have a table for the service: they pay and they limit."""
    return [link for link in chain.links if link.resolution.resolves]


def _windows(chain: Chain, links: list[ChainLink], now: datetime) -> dict[int, tuple | None]:
    return {link.account.pk: (periods.window(link.resolution.interval, now, chain.timezone)
                              if link.resolution.has_window else None) for link in links}


def _price(links: list[ChainLink], used_before: dict[int, int], quantity: int) -> dict[int, Decimal]:
    """Each charged account's price for the next ``quantity`` positions; the first limit denies."""
    costs = {}
    for link in reversed(links):  # the account's own table first, then up the tree
        cost = link.resolution.table.range_total(used_before[link.account.pk], quantity)
        if cost is None:
            allowed = link.resolution.table.max_allowed
            raise KernelDenied(
                "limit_reached",
                gettext("'%(service)s': the limit of account '%(account)s' is %(limit)s, %(used)s used, "
                        "%(quantity)s more asked.") % {
                    "service": link.resolution.name, "account": link.account.name, "limit": allowed,
                    "used": used_before[link.account.pk], "quantity": quantity},
                limiting_account=link.account,
            )
        costs[link.account.pk] = cost
    return costs


def _check_unit_positions(links: list[ChainLink], unit_count: int):
    """Per-unit services: every charged table must allow positions 1..``unit_count`` of the one unit
    (its own count, whatever the account's other units hold); the nearest refusing table denies."""
    for link in reversed(links):
        if link.resolution.table.range_total(0, unit_count) is None:
            raise KernelDenied(
                "limit_reached",
                gettext("'%(service)s': the limit of account '%(account)s' is %(limit)s per unit, %(count)s asked "
                        "for this unit.") % {
                    "service": link.resolution.name, "account": link.account.name,
                    "limit": link.resolution.table.max_allowed, "count": unit_count},
                limiting_account=link.account,
            )


def _balance_denial(link: ChainLink, balance_after: Decimal) -> KernelDenied | None:
    settings = preloaded_settings(link.account)
    if not settings["limit_by_balance"].value:
        return None
    deny = as_money(settings["deny_balance"].value)
    if balance_after < deny:
        return KernelDenied(
            "balance_limit",
            gettext("The balance of account '%(account)s' would fall to %(balance)s, below its deny balance "
                    "%(deny)s.") % {"account": link.account.name, "balance": f"{balance_after:.2f}",
                                    "deny": f"{deny:.2f}"},
            limiting_account=link.account,
        )
    return None


def _current_usage(chain: Chain, links: list[ChainLink], windows: dict) -> dict[int, int]:
    """Read-only: each charged account's usage so far (window total, object subtree count)."""
    from .queries import subtree_object_counts

    ids = [link.account.pk for link in links]
    if chain.catalogue_type == ServiceType.PERIODIC:
        counts = subtree_object_counts(ids, chain.resolution.name)
        return {pk: counts.get(pk, 0) for pk in ids}
    starts = {pk: w[0] for pk, w in windows.items() if w is not None}
    found = {(a, s): total for a, s, total in UsageCounter.objects.filter(
        account_id__in=list(starts), service=chain.resolution.name, window_start__in=set(starts.values()),
    ).values_list("account_id", "window_start", "total")}
    return {pk: (found.get((pk, starts[pk]), 0) if pk in starts else 0) for pk in ids}


def reevaluate_blocking(account: Account, *, now: datetime):
    """After a charge: let ``evaluate_blocking`` (the one authority) act when a threshold is crossed.

    A charge only lowers the balance or the days, so it can only set a block; the screen reads the
    preloaded settings (no query) and calls ``evaluate_blocking`` only for an unblocked account
    that is now below a threshold, which keeps the kernel's statement budget fixed.
    """
    if account.blocked:
        return
    settings = preloaded_settings(account)
    below_balance = settings["block_by_balance"].value and account.balance < as_money(settings["block_balance"].value)
    below_days = settings["block_by_days"].value and account.days < int(settings["min_days"].value)
    if below_balance or below_days:
        evaluate_blocking(account, now=now)


# --- check ---------------------------------------------------------------------------------------------

def check_service(*, account: Account, service: str, quantity: int = 1, now: datetime | None = None) -> CheckResult:
    """May ``account`` use ``quantity`` of ``service`` now? Reads only; every denial names its reason.

    ``cost`` is what the account itself would pay: the price of the positions (for a periodic
    service, what the new objects add to each period's charge). For a per-unit service
    (``unit_sensors``, ``unit_alias``) ``quantity`` is one unit's count, priced as positions
    1..``quantity`` of every charged table.
    """
    now = now or clock.now()
    quantity = _require_whole(quantity, "quantity", 1, MAX_QUANTITY)
    chain = load_chain(account.pk, service)
    _require_catalogue_service(chain, service, None)
    try:
        denial = _entry_denial(chain)
        if denial:
            raise denial
        links = _charged(chain)
        windows = _windows(chain, links, now)
        if service in PER_UNIT_SERVICES:  # ``quantity`` is one unit's count: positions 1..quantity
            _check_unit_positions(links, quantity)
            costs = {link.account.pk: link.resolution.table.range_total(0, quantity) for link in links}
        else:
            costs = _price(links, _current_usage(chain, links, windows), quantity)
        if chain.catalogue_type == ServiceType.ON_DEMAND:
            for link in links:
                if costs[link.account.pk] > 0:
                    denial = _balance_denial(link, link.account.balance - costs[link.account.pk])
                    if denial:
                        raise denial
    except KernelDenied as denial:
        return CheckResult(False, denial.reason, denial.detail, ZERO)
    own_cost = costs.get(account.pk, ZERO)
    return CheckResult(True, None, gettext("Allowed."), as_money(own_cost))


# --- consume -------------------------------------------------------------------------------------------

def _fingerprint(service: str, quantity: int) -> str:
    return hashlib.sha256(f"consume|{service}|{quantity}".encode()).hexdigest()


def _replay(account_id: int, key: str, fingerprint: str) -> dict:
    stored = IdempotencyKey.objects.get(account_id=account_id, key=key)
    if stored.fingerprint != fingerprint:
        raise Conflict(gettext("This idempotency key was used with other parameters."), code="idempotency_key_reused")
    if stored.status_code != 200:
        raise KernelDenied.from_dict(stored.body)
    return stored.body


def consume_service(*, account: Account | int, service: str, quantity: int = 1, idempotency_key: str,
                    actor=None, now: datetime | None = None) -> dict:
    """Use ``quantity`` of an on-demand service: check, count and charge in one transaction.

    Returns the API body ``{allowed, cost, usage, balance}``; raises ``KernelDenied`` (403).
    A repeated ``idempotency_key`` returns the first answer (denials included) and charges nothing;
    the same key with another service or quantity answers 409 ``idempotency_key_reused``.

    ``account``: the account or its id. The account is read with its chain, so the API passes the
    id from the URL and reads nothing before; an ``actor`` that does not see the account (or no such
    account) gets ``NotFound``, as any scoped read would answer.
    """
    now = now or clock.now()
    account_id = account if isinstance(account, int) else account.pk
    quantity = _require_whole(quantity, "quantity", 1, MAX_QUANTITY)
    key = (idempotency_key or "").strip() if isinstance(idempotency_key, str) else ""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput.field("idempotency_key", gettext("Required, at most %(maximum)s characters.") % {
            "maximum": MAX_KEY_LENGTH})
    fingerprint = _fingerprint(service, quantity)
    try:
        with transaction.atomic():
            return _consume(account_id, service, quantity, actor, now, key=(account_id, key, fingerprint, now))
    except IntegrityError as error:
        # The key collided: a first answer exists and this attempt was rolled back.
        try:
            return _replay(account_id, key, fingerprint)
        except IdempotencyKey.DoesNotExist:
            raise error from None
    except KernelDenied as denial:
        try:
            with transaction.atomic():
                IdempotencyKey.objects.create(account_id=account_id, key=key, fingerprint=fingerprint,
                                              status_code=denial.status, body=denial.as_dict(), created_at=now)
        except IntegrityError:
            return _replay(account_id, key, fingerprint)
        raise


def _consume(account_id: int, service: str, quantity: int, actor, now: datetime, *, key: tuple) -> dict:
    chain = load_chain(account_id, service)
    own = chain.account
    if actor is not None and not sees(actor, own):
        raise NotFound(gettext("Not found."))
    _require_catalogue_service(chain, service, ServiceType.ON_DEMAND)
    denial = _entry_denial(chain)
    if denial:
        raise denial
    links = _charged(chain)
    windows = _windows(chain, links, now)
    # 1. Count first, atomically: the limit is checked on the totals this transaction produced.
    totals = counters.add_usage(service=service, rows=[
        (pk, window, quantity if pk == account_id else 0, quantity)
        for pk, window in windows.items() if window is not None
    ])
    used_before = {link.account.pk: (totals[link.account.pk][1] - quantity if link.account.pk in totals else 0)
                   for link in links}
    costs = _price(links, used_before, quantity)
    # 2. Charge every paying account and store the answer under the idempotency key; limit by
    # balance is checked on the balances after the debit (a denial rolls all of it back).
    paid = {pk: cost for pk, cost in costs.items() if cost > 0}
    answer = {"allowed": True, "cost": money_text(costs.get(own.pk, ZERO)),
              "usage": totals[own.pk][1] if own.pk in totals else quantity, "balance": money_text(own.balance)}
    balances = counters.post_consumption(
        debits=paid, charges=_charge_rows(chain, paid, windows, used_before, quantity, actor, now),
        key=key, answer=answer, answer_account=own.pk)
    by_id = {link.account.pk: link for link in links}
    for pk, balance in balances.items():
        denial = _balance_denial(by_id[pk], balance)
        if denial:
            raise denial
    for pk, balance in balances.items():
        by_id[pk].account.balance = balance
        reevaluate_blocking(by_id[pk].account, now=now)
    return {**answer, "balance": money_text(own.balance)}


def _charge_rows(chain: Chain, paid: dict[int, Decimal], windows: dict, used_before: dict[int, int],
                 quantity: int, actor, now: datetime) -> list[tuple]:
    """One charge ledger row per paying account (``counters.CHARGE_COLUMNS``), recording what priced
    it (SPEC §9.8, for the replay): its window, quantity, the first position of the window it
    priced and the table it used. The description is stored in the ledger and read by everyone as
    stored: plain English, not the language of the request that consumed."""
    user, name = chain.account, chain.resolution.name
    tables = {link.account.pk: link.resolution.cost_table for link in chain.links}
    return [
        (pk, LedgerKind.CHARGE, -as_money(cost), 0, name, quantity, *(windows[pk] or (None, None)), False,
         tables[pk], used_before[pk] + 1,
         f"{name} × {quantity}" if pk == user.pk else f"{name} × {quantity} used by {user.name}",
         actor.pk if actor else None, actor_name(actor), now)
        for pk, cost in sorted(paid.items())
    ]


# --- objects -------------------------------------------------------------------------------------------

def move_objects(*, account: Account, service: str, delta: int, actor=None, now: datetime | None = None,
                 internal: bool = False, unit_count: int | None = None) -> int:
    """Create (``delta`` > 0) or delete (``delta`` < 0) objects of a periodic service.

    Creating checks the new positions against the account's table and every charged ancestor's
    table (each counted over its subtree) and blocking; raises ``KernelDenied``. Every change is
    journaled. Returns the account's new own count. Three statements whatever the depth:
    ``load_chain``, one upsert of the counters, one journal row.

    Per-unit services (``PER_UNIT_SERVICES``, internal only) are limited by each unit's own count:
    an increase must pass ``unit_count``, the unit's count after the change, and the tables are
    checked for positions 1..``unit_count`` instead of the account's totals.
    """
    now = now or clock.now()
    delta = _require_whole(delta, "delta", -MAX_DELTA, MAX_DELTA)
    if delta == 0:
        raise InvalidInput.field("delta", gettext("Must not be 0."))
    if not internal and service in INTERNAL_SERVICES:
        raise InvalidInput.field("service", gettext("'%(name)s' is counted by the objects it stands for, not here.")
                                 % {"name": service})
    per_unit = service in PER_UNIT_SERVICES
    if per_unit and delta > 0:
        unit_count = _require_whole(unit_count, "unit_count", delta, MAX_DELTA)
    elif unit_count is not None:
        raise InvalidInput.field("unit_count", gettext("Only an increase of a per-unit service is counted on a unit."))
    with transaction.atomic():
        chain = load_chain(account.pk, service)
        _require_catalogue_service(chain, service, ServiceType.PERIODIC)
        if delta > 0:
            denial = _entry_denial(chain)
            if denial:
                raise denial
        try:
            counts = counters.add_objects(service=service, account_id=account.pk,
                                          ancestor_ids=account.ancestor_ids(), delta=delta)
        except IntegrityError:
            counts = {}
        if account.pk not in counts:
            raise InvalidInput.field("delta", gettext("The count cannot go below 0."))
        if delta > 0:
            links = _charged(chain)
            if per_unit:
                _check_unit_positions(links, unit_count)
            else:
                _price(links, {link.account.pk: counts[link.account.pk][1] - delta for link in links}, delta)
        ObjectChange.objects.create(account_id=account.pk, path=chain.account.path, service=service, delta=delta,
                                    at=now, actor_name=actor_name(actor))
        return counts[account.pk][0]


# --- account service overrides -------------------------------------------------------------------------

def _catalogue_type(account: Account, name: str) -> str:
    kind = CatalogueService.objects.filter(catalogue_q(account.service_id), name=name) \
        .values_list("type", flat=True).first()
    if kind is None:
        raise InvalidInput.field("name", gettext("'%(name)s' is not a service of the catalogue.") % {"name": name})
    return kind


@transaction.atomic
def set_service_override(*, actor, account: Account, name: str, interval: str = ResetInterval.NONE,
                         cost_table: str = "", type: str | None = None,
                         now: datetime | None = None) -> AccountServiceOverride:
    """Give ``account`` its own row for service ``name`` (create or replace), winning over its plan.

    Only an operator of a strict ancestor may (SPEC §8.1). The name must be in the catalogue; a
    given ``type`` must be the catalogue's; the table is stored in its canonical form.
    """
    require_not_blocked(actor)
    require_manage(actor, account)
    kind = _catalogue_type(account, name)
    if type is not None and type != kind:
        raise InvalidInput.field("type", gettext("'%(name)s' is a %(type)s service in the catalogue.") % {
            "name": name, "type": kind})
    if interval not in ResetInterval.values:
        raise InvalidInput.field("interval", gettext("One of %(values)s.") % {"values": ", ".join(ResetInterval.values)})
    try:
        table = parse(cost_table or "")
    except CostTableError as exc:
        raise InvalidInput.field("cost_table", str(exc)) from None
    if table.flat_fee and (kind != ServiceType.PERIODIC or interval == ResetInterval.NONE):
        raise InvalidInput.field("cost_table",
                                 gettext("A flat fee (counter 0) needs a periodic service with an interval."))
    now = now or clock.now()
    old = AccountServiceOverride.objects.filter(account=account, name=name).values("interval", "cost_table").first()
    history.record_overrides([account.pk], now=now, seed=True)
    override, _ = AccountServiceOverride.objects.update_or_create(
        account=account, name=name, defaults={"type": kind, "interval": interval, "cost_table": table.canonical},
    )
    history.record_overrides([account.pk], now=now)
    before, after = audit.changes(old or {}, {"interval": interval, "cost_table": table.canonical})
    if before or after or old is None:
        audit.record("account_service_updated" if old else "account_service_created", actor=actor,
                     subject_type="account_service", subject_id=override.pk, subject_name=f"{account.name}: {name}",
                     account=account, before=before, after=after or {"interval": interval}, now=now)
    return override


@transaction.atomic
def delete_service_override(*, actor, account: Account, name: str, now: datetime | None = None):
    """Remove ``account``'s own row for ``name``: its plan chain applies again."""
    require_not_blocked(actor)
    require_manage(actor, account)
    now = now or clock.now()
    history.record_overrides([account.pk], now=now, seed=True)
    old = AccountServiceOverride.objects.filter(account=account, name=name).values("pk", "interval", "cost_table").first()
    deleted, _ = AccountServiceOverride.objects.filter(account=account, name=name).delete()
    history.record_overrides([account.pk], now=now)
    if not deleted:
        raise InvalidInput.field("name", gettext("Account '%(account)s' has no override for '%(name)s'.") % {
            "account": account.name, "name": name})
    audit.record("account_service_deleted", actor=actor, subject_type="account_service", subject_id=old["pk"],
                 subject_name=f"{account.name}: {name}", account=account,
                 before={k: v for k, v in old.items() if k != "pk" and v}, now=now)
