"""The ledger: every row of money and days, and the accounts' cached balance/days that move with it.

Above plans (the kernel) because every ledger write re-evaluates the account's automatic block from
its plan's thresholds (``blocking``). Each write leaves the account's cached balance/days equal to its
ledger's sums.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F
from django.utils.translation import gettext

from apps.accounts import audit
from apps.accounts.models import Account, IdempotencyKey, LedgerEntry, LedgerKind
from apps.accounts.operations import actor_name, lock_account, require_manage, require_not_blocked
from apps.core import clock
from apps.core.bulk import insert_rows, values_cte
from apps.core.errors import Conflict, InvalidInput
from apps.core.money import as_money, clean_money

from .blocking import evaluate_blocking, evaluate_blocking_many


def post_ledger_entry(*, account: Account, kind: str, amount=Decimal("0"), days: int = 0, description: str,
                      actor=None, service: str = "", quantity: int | None = None, window=None,
                      now: datetime | None = None, evaluate: bool = True, audit_actor=None) -> LedgerEntry:
    """Write one ledger row and move the cached balance/days with it. Caller holds a transaction."""
    now = now or clock.now()
    amount = as_money(amount)
    entry = LedgerEntry.objects.create(
        account=account, kind=kind, amount=amount, days=days, description=description, actor=actor,
        actor_name=actor_name(actor), service=service, quantity=quantity,
        window_start=window[0] if window else None, window_end=window[1] if window else None, at=now,
    )
    Account.objects.filter(pk=account.pk).update(balance=F("balance") + amount, days=F("days") + days)
    account.refresh_from_db(fields=["balance", "days"])
    if evaluate:
        evaluate_blocking(account, now=now, actor=audit_actor)
    return entry


@dataclass(frozen=True)
class LedgerRow:
    """One row for ``post_ledger_entries``: what ``post_ledger_entry`` takes, by account id."""

    account_id: int
    kind: str
    description: str
    amount: Decimal = Decimal("0")
    days: int = 0
    service: str = ""
    quantity: int | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    actor_name: str = "system"
    periodic: bool = False  # a periodic window's charge: unique per (account, service, window start)
    cost_table: str = ""


LEDGER_CHUNK = 5000

_LEDGER_COLUMNS = ("account_id", "kind", "amount", "days", "service", "quantity", "window_start", "window_end",
                   "periodic", "cost_table", "description", "actor_name", "at")


@transaction.atomic
def post_ledger_entries(rows: Sequence[LedgerRow], *, now: datetime) -> list[int]:
    """Write many ledger rows, move the accounts' cached balance/days with them and re-evaluate
    the blocks of every account moved: the set-based twin of ``post_ledger_entry``.

    Per chunk of ``LEDGER_CHUNK`` rows a fixed number of statements, whatever the number of
    accounts: the rows (``COPY`` on PostgreSQL), one joined UPDATE of the totals, then
    ``evaluate_blocking_many``. Returns the ledger ids in the order of ``rows`` (callers link their
    own rows to them, e.g. a periodic charge to its ledger row).
    """
    ids: list[int] = []
    for offset in range(0, len(rows), LEDGER_CHUNK):
        chunk = rows[offset:offset + LEDGER_CHUNK]
        ids += insert_rows(LedgerEntry, _LEDGER_COLUMNS, [
            (r.account_id, r.kind, as_money(r.amount), r.days, r.service, r.quantity, r.window_start, r.window_end,
             r.periodic, r.cost_table, r.description, r.actor_name, now) for r in chunk])
        moves: dict[int, list] = defaultdict(lambda: [Decimal("0"), 0])
        for r in chunk:
            moves[r.account_id][0] += as_money(r.amount)
            moves[r.account_id][1] += r.days
        move_cached_totals({pk: (amount, days) for pk, (amount, days) in moves.items()})
        evaluate_blocking_many(list(moves), now=now)
    return ids


def move_cached_totals(moves: dict[int, tuple[Decimal, int]]) -> dict[int, tuple[Decimal, int]]:
    """Add ``(amount, days)`` to each account's cached balance and days in one joined UPDATE;
    return the new ``(balance, days)`` per account.

    Ascending id order, so two transactions lock shared accounts in the same order. The matching
    ledger rows are the caller's, in the same transaction (the balance stays the ledger's sum).
    """
    if not moves:
        return {}
    table = Account._meta.db_table
    cte, params = values_cte("v", (("id", "bigint"), ("amount", "numeric"), ("days", "integer")),
                             [(pk, as_money(moves[pk][0]), moves[pk][1]) for pk in sorted(moves)])
    sql = (f"WITH {cte} UPDATE {table} SET balance = {table}.balance + v.amount, days = {table}.days + v.days "
           f"FROM v WHERE {table}.id = v.id RETURNING {table}.id, {table}.balance, {table}.days")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        # SQLite computes in floating point: normalise to the 4 places the column holds.
        return {pk: (as_money(Decimal(str(balance))), days) for pk, balance, days in cursor.fetchall()}


def _payment_fingerprint(amount, days, description) -> str:
    import hashlib

    return hashlib.sha256(f"payment|{amount}|{days}|{description}".encode()).hexdigest()


@dataclass
class PaymentResult:
    entry: LedgerEntry | None
    replayed_body: dict | None = None


@transaction.atomic
def record_payment(*, actor, account: Account, amount=0, days: int = 0, description: str,
                   idempotency_key: str | None = None, now: datetime | None = None,
                   _skip_rights: bool = False) -> LedgerEntry:
    """A payment of money and/or days (either may be negative), with a mandatory description."""
    now = now or clock.now()
    if not _skip_rights:
        require_not_blocked(actor)
        require_manage(actor, account)
    description = (description or "").strip()
    if not description:
        raise InvalidInput.field("description", gettext("A payment needs a description."))
    amount = clean_money(amount or 0, "amount")
    if not isinstance(days, int) or abs(days) > 100000:
        raise InvalidInput.field("days", gettext("A whole number of days between -100000 and 100000."))
    if amount == 0 and days == 0:
        raise InvalidInput(gettext("A payment needs an amount or days (both are 0)."),
                           fields={"amount": [gettext("Amount and days cannot both be 0.")]})
    account = lock_account(account)
    if idempotency_key:
        fingerprint = _payment_fingerprint(amount, days, description)
        previous = IdempotencyKey.objects.filter(account=account, key=idempotency_key).first()
        if previous is not None:
            if previous.fingerprint != fingerprint:
                raise Conflict(gettext("This idempotency key was used with other parameters."),
                               code="idempotency_key_reused")
            return LedgerEntry.objects.get(pk=previous.body["id"])
    kind = LedgerKind.PAYMENT if amount else LedgerKind.DAYS_ADDED
    before = {"balance": account.balance, "days": account.days}
    entry = post_ledger_entry(account=account, kind=kind, amount=amount, days=days, description=description,
                              actor=actor, now=now, audit_actor=actor)
    old, new = audit.changes(before, {"balance": account.balance, "days": account.days})
    audit.record("payment_recorded", actor=actor, subject_type="account", subject_id=account.pk,
                 subject_name=account.name, account=account, before=old,
                 after={**new, "amount": amount, "payment_days": days}, reason=description, now=now)
    if idempotency_key:
        IdempotencyKey.objects.create(account=account, key=idempotency_key, fingerprint=fingerprint,
                                      status_code=201, body={"id": entry.pk}, created_at=now)
    return entry
