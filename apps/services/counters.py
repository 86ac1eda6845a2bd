"""Set-based counter and balance moves, one statement each, returning the new values.

The kernel's statement budget is fixed whatever the tree depth (SPEC §8.3), and a limit must be
checked on the value *after* an atomic increment, not on a value read earlier. Django's ORM can
neither increment on conflict (``bulk_create(update_conflicts=True)`` overwrites) nor return the
rows an UPDATE changed, and its ``bulk_update`` builds a ``CASE`` per row (quadratic for the charge
job's thousands of rows), so these statements are written by hand. They use only
``INSERT … ON CONFLICT … DO UPDATE … RETURNING`` and ``WITH v AS (VALUES …) UPDATE … FROM v …
RETURNING``,
which PostgreSQL and SQLite (3.35+) both run. Rows are always given in ascending account id order, so two
transactions lock shared rows in the same order and cannot deadlock on them.

Each caller runs these inside its transaction and rolls back (by raising) when the returned
values break a limit.
"""

from datetime import datetime
from decimal import Decimal

from django.db import connection

from apps.accounts.models import Account, LedgerEntry, LedgerKind
from apps.core.money import as_money

from .models import ChargeWatermark, ObjectCounter, PeriodicCharge, UsageCounter


def _execute(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def add_usage(*, service: str, rows: list[tuple[int, tuple, int, int]]) -> dict[int, tuple[int, int]]:
    """Add usage to on-demand window counters, creating missing rows.

    ``rows``: ``(account_id, (window_start, window_end), own, total)`` increments.
    Returns ``{account_id: (own, total)}`` after the increment.
    """
    if not rows:
        return {}
    ops = connection.ops
    table = UsageCounter._meta.db_table
    values, params = [], []
    for account_id, (start, end), own, total in sorted(rows, key=lambda r: r[0]):
        values.append("(%s, %s, %s, %s, %s, %s)")
        params += [account_id, service, ops.adapt_datetimefield_value(start), ops.adapt_datetimefield_value(end),
                   own, total]
    sql = (f"INSERT INTO {table} (account_id, service, window_start, window_end, own, total) "
           f"VALUES {', '.join(values)} "
           f"ON CONFLICT (account_id, service, window_start) DO UPDATE "
           f"SET own = {table}.own + excluded.own, total = {table}.total + excluded.total "
           f"RETURNING account_id, own, total")
    return {account_id: (own, total) for account_id, own, total in _execute(sql, params)}


def add_objects(*, service: str, account_id: int, ancestor_ids: list[int], delta: int) -> dict[int, tuple[int, int]]:
    """Move an account's own and subtree object count and every ancestor's subtree count by ``delta``.

    Returns ``{account_id: (own, subtree)}`` after the move. Creating upserts the rows; deleting
    updates existing rows only (a CHECK constraint is tested on the row an INSERT proposes, so a
    negative delta cannot go through the upsert). A count that would go below 0 breaks the
    table's check constraint (``IntegrityError``); a deletion from a count never started returns
    no row for ``account_id``.
    """
    table = ObjectCounter._meta.db_table
    if delta < 0:
        ids = sorted([account_id, *ancestor_ids])
        sql = (f"UPDATE {table} SET own = own + (CASE WHEN account_id = %s THEN %s ELSE 0 END), "
               f"subtree = subtree + %s WHERE service = %s AND account_id IN ({', '.join('%s' for _ in ids)}) "
               f"RETURNING account_id, own, subtree")
        rows = _execute(sql, [account_id, delta, delta, service, *ids])
        return {pk: (own, subtree) for pk, own, subtree in rows}
    rows = sorted([(account_id, delta, delta)] + [(pk, 0, delta) for pk in ancestor_ids])
    values, params = [], []
    for pk, own, subtree in rows:
        values.append("(%s, %s, %s, %s)")
        params += [pk, service, own, subtree]
    sql = (f"INSERT INTO {table} (account_id, service, own, subtree) VALUES {', '.join(values)} "
           f"ON CONFLICT (account_id, service) DO UPDATE "
           f"SET own = {table}.own + excluded.own, subtree = {table}.subtree + excluded.subtree "
           f"RETURNING account_id, own, subtree")
    return {pk: (own, subtree) for pk, own, subtree in _execute(sql, params)}


def _values(rows: list[tuple], width: int) -> str:
    row = "(" + ", ".join(["%s"] * width) + ")"
    return ", ".join([row] * len(rows))


def debit_balances(amounts: dict[int, Decimal]) -> dict[int, Decimal]:
    """Take ``amounts`` off the accounts' cached balances; return the new balances.

    One ``WITH v AS (VALUES …) UPDATE … FROM v`` (a join, so thousands of accounts cost what one does; a
    ``CASE`` with a branch per account would be quadratic). The matching ledger rows are written by
    the caller in the same transaction, so the balance stays the ledger's sum.
    """
    if not amounts:
        return {}
    ops = connection.ops
    table = Account._meta.db_table
    ids = sorted(amounts)
    params = []
    for pk in ids:
        params += [pk, ops.adapt_decimalfield_value(amounts[pk], 16, 4)]
    sql = (f"WITH v(id, amount) AS (VALUES {_values(ids, 2)}) "
           f"UPDATE {table} SET balance = {table}.balance - v.amount FROM v WHERE {table}.id = v.id "
           f"RETURNING {table}.id, {table}.balance")
    # SQLite computes in floating point: normalise to the 4 places the column holds.
    return {pk: as_money(Decimal(str(balance))) for pk, balance in _execute(sql, params)}


def move_watermarks(moves: dict[int, datetime]):
    """Set ``ChargeWatermark.charged_until`` per watermark id, in one joined UPDATE."""
    if not moves:
        return
    ops = connection.ops
    table = ChargeWatermark._meta.db_table
    ids = sorted(moves)
    params = []
    for pk in ids:
        params += [pk, ops.adapt_datetimefield_value(moves[pk])]
    _execute(f"WITH v(id, until) AS (VALUES {_values(ids, 2)}) "
             f"UPDATE {table} SET charged_until = v.until FROM v WHERE {table}.id = v.id RETURNING {table}.id", params)


def insert_charges(rows: list[dict], *, now: datetime) -> int:
    """Write periodic charges: a ledger row each and its ``PeriodicCharge``, in two statements.

    ``rows``: dicts with ``account_id, service, window_start, window_end, count, cost_table, amount,
    description``. Hand-written multi-row INSERTs because the charge job writes hundreds of
    thousands of rows and ``bulk_create`` spends most of its time preparing model instances;
    ``RETURNING id`` gives the ledger ids in the order of the rows, as ``bulk_create`` relies on.
    """
    if not rows:
        return 0
    ops = connection.ops
    at = ops.adapt_datetimefield_value(now)
    ledger_table, charge_table = LedgerEntry._meta.db_table, PeriodicCharge._meta.db_table
    inserted = 0
    for offset in range(0, len(rows), _INSERT_BATCH):
        batch = rows[offset:offset + _INSERT_BATCH]
        params = []
        for r in batch:
            params += [r["account_id"], LedgerKind.CHARGE, ops.adapt_decimalfield_value(-r["amount"], 16, 4), 0,
                       r["service"], r["count"], ops.adapt_datetimefield_value(r["window_start"]),
                       ops.adapt_datetimefield_value(r["window_end"]), r["description"], "system", at]
        ids = [pk for (pk,) in _execute(
            f"INSERT INTO {ledger_table} (account_id, kind, amount, days, service, quantity, window_start, "
            f"window_end, description, actor_name, at) VALUES {_values(batch, 11)} RETURNING id", params)]
        params = []
        for r, ledger_id in zip(batch, ids, strict=True):
            params += [r["account_id"], r["service"], ops.adapt_datetimefield_value(r["window_start"]),
                       ops.adapt_datetimefield_value(r["window_end"]), r["count"], r["cost_table"],
                       ops.adapt_decimalfield_value(r["amount"], 16, 4), ledger_id, at]
        _execute(f"INSERT INTO {charge_table} (account_id, service, window_start, window_end, count, cost_table, "
                 f"amount, ledger_entry_id, charged_at) VALUES {_values(batch, 9)} RETURNING id", params)
        inserted += len(batch)
    return inserted


_INSERT_BATCH = 2000
