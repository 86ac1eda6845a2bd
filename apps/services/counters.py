"""Set-based counter, balance and watermark moves, one statement each, returning the new values.

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

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.db import connection

from apps.accounts.models import Account, IdempotencyKey, LedgerEntry
from apps.core.bulk import array_literal, insert_values, many_ids, values_cte
from apps.core.money import as_money, money_text
from apps.core.statements import prepared as prepared_text

from .ledger import move_cached_totals
from .models import ChargeWatermark, ObjectCounter, UsageCounter


def _execute(sql: str, params: list, *, prepared: bool = False) -> list[tuple]:
    """Run one statement and return its rows; ``prepared``: a consume's statement, the same text on
    every call, prepared once per connection (``apps.core.statements``)."""
    with connection.cursor() as cursor:
        cursor.execute(prepared_text(sql) if prepared else sql, params)
        return cursor.fetchall()


def add_usage(*, service: str, rows: list[tuple[int, tuple, int, int]]) -> dict[int, tuple[int, int]]:
    """Add usage to on-demand window counters, creating missing rows.

    ``rows``: ``(account_id, (window_start, window_end), own, total)`` increments.
    Returns ``{account_id: (own, total)}`` after the increment.
    """
    if not rows:
        return {}
    table = UsageCounter._meta.db_table
    # The rows as one array parameter per column (``values_cte``): the text is the same whatever the
    # chain's length, so one prepared statement serves every consume.
    rows = [(account_id, start, end, own, total)
            for account_id, (start, end), own, total in sorted(rows, key=lambda r: r[0])]
    cte, params = values_cte("v", [("account_id", "bigint"), ("window_start", "timestamptz"),
                                   ("window_end", "timestamptz"), ("own", "bigint"), ("total", "bigint")], rows)
    # ``WHERE true``: SQLite's reading of ``INSERT … SELECT … ON CONFLICT`` needs it.
    sql = (f"WITH {cte} INSERT INTO {table} (account_id, service, window_start, window_end, own, total) "
           f"SELECT account_id, %s, window_start, window_end, own, total FROM v WHERE true "
           f"ON CONFLICT (account_id, service, window_start) DO UPDATE "
           f"SET own = {table}.own + excluded.own, total = {table}.total + excluded.total "
           f"RETURNING account_id, own, total")
    params.append(service)
    return {account_id: (own, total) for account_id, own, total in _execute(sql, params, prepared=True)}


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


def debit_balances(amounts: dict[int, Decimal]) -> dict[int, Decimal]:
    """Take ``amounts`` off the accounts' cached balances; return the new balances.

    The ledger's ``move_cached_totals`` (one joined UPDATE, ascending ids); the matching
    ledger rows are written by the caller in the same transaction.
    """
    moved = move_cached_totals({pk: (-amount, 0) for pk, amount in amounts.items()})
    return {pk: balance for pk, (balance, _days) in moved.items()}


def post_consumption(*, debits: dict[int, Decimal], charges: Sequence[tuple], key: tuple,
                     answer: dict, answer_account: int) -> dict[int, Decimal]:
    """Write what a consume leaves behind, after its counters: take ``debits`` off the accounts'
    cached balances, insert the charge ledger rows (``charges``, values in ``CHARGE_COLUMNS``'s
    order) and the idempotency key (``key``: account id, key, fingerprint, created at) storing
    ``answer`` as the first answer, its ``balance`` set to ``answer_account``'s balance after the
    debit (as ``answer`` gives it when that account pays nothing). Returns the new balances.

    On PostgreSQL this is one statement: data-modifying CTEs, the key's answer reading the debit's
    ``RETURNING`` (under load, a consume's cost is mostly its round trips to the server). SQLite,
    which has no DML inside ``WITH``, runs the same writes as three statements. A key already stored
    raises ``IntegrityError`` either way.
    """
    post = _post_consumption_in_one if connection.vendor == "postgresql" else _post_consumption_in_three
    return post(debits, charges, key, answer, answer_account)


def _post_consumption_in_three(debits, charges, key, answer, answer_account) -> dict[int, Decimal]:
    balances = debit_balances(debits)
    if answer_account in balances:
        answer = {**answer, "balance": money_text(balances[answer_account])}
    insert_values(LedgerEntry, CHARGE_COLUMNS, charges)
    insert_values(IdempotencyKey, _KEY_COLUMNS, [(*key, 200, json.dumps(answer))])
    return balances


def _post_consumption_in_one(debits, charges, key, answer, answer_account) -> dict[int, Decimal]:
    accounts, ledger, keys = (m._meta.db_table for m in (Account, LedgerEntry, IdempotencyKey))
    ids = sorted(debits)
    # Every row set is an array parameter per column: the text never changes, so it is prepared once
    # per connection, and psycopg has a few parameters to send rather than one per value.
    columns = ", ".join(CHARGE_COLUMNS)
    charge_arrays = ", ".join(f"%s::{kind}[]" for kind in _CHARGE_TYPES)
    sql = (f"WITH v(id, amount) AS (SELECT * FROM unnest(%s::bigint[], %s::numeric[])), "
           f"debited AS (UPDATE {accounts} SET balance = {accounts}.balance + v.amount FROM v "
           f"WHERE {accounts}.id = v.id RETURNING {accounts}.id, {accounts}.balance), "
           f"charged AS (INSERT INTO {ledger} ({columns}) SELECT * FROM unnest({charge_arrays})), "
           f"answered AS (INSERT INTO {keys} ({', '.join(_KEY_COLUMNS)}) VALUES (%s, %s, %s, %s, 200, "
           f"jsonb_set(%s::jsonb, '{{balance}}', to_jsonb("
           f"COALESCE((SELECT balance FROM debited WHERE id = %s), %s::numeric)::text)))) "
           f"SELECT id, balance FROM debited")
    params = [array_literal(ids), array_literal([-as_money(debits[pk]) for pk in ids]),
              *(array_literal([row[i] for row in charges]) for i in range(len(CHARGE_COLUMNS))),
              *key, json.dumps(answer), answer_account, answer["balance"]]
    return {pk: balance for pk, balance in _execute(sql, params, prepared=True)}


# The columns of a charge row written by a consume (``post_consumption``), with their types.
CHARGE_COLUMNS = ("account_id", "kind", "amount", "days", "service", "quantity", "window_start", "window_end",
                  "periodic", "cost_table", "first_position", "description", "actor_id", "actor_name", "at")
_CHARGE_TYPES = ("bigint", "text", "numeric", "integer", "text", "bigint", "timestamptz", "timestamptz",
                 "boolean", "text", "bigint", "text", "bigint", "text", "timestamptz")
_KEY_COLUMNS = ("account_id", "key", "fingerprint", "created_at", "status_code", "body")


def create_watermarks(rows: list[tuple[int, str, datetime]]) -> dict[tuple[int, str], tuple[int, datetime]]:
    """Create the watermarks ``(account_id, service, charged_until)`` of pairs seen for the first
    time; return ``{(account_id, service): (id, charged_until)}`` for every pair given.

    ``INSERT … ON CONFLICT DO NOTHING RETURNING`` per chunk; a pair another worker created first
    is read back (rare). No model instances: 300,000 of them cost more than the inserts.
    """
    table = ChargeWatermark._meta.db_table
    out = {}
    for offset in range(0, len(rows), _WATERMARK_CHUNK):
        chunk = rows[offset:offset + _WATERMARK_CHUNK]
        cte, params = values_cte("v", (("account_id", "bigint"), ("service", "text"), ("until", "timestamptz")),
                                 chunk)
        # "WHERE TRUE" lets SQLite tell the ON CONFLICT clause from a join's ON.
        given = {(account_id, service): until for account_id, service, until in chunk}
        for pk, account_id, service in _execute(
                f"WITH {cte} INSERT INTO {table} (account_id, service, charged_until) "
                f"SELECT account_id, service, until FROM v WHERE TRUE ON CONFLICT (account_id, service) DO NOTHING "
                f"RETURNING id, account_id, service", params):
            out[(account_id, service)] = (pk, given[(account_id, service)])
        missing = [(account_id, service) for account_id, service, _ in chunk if (account_id, service) not in out]
        if missing:
            for pk, account_id, service, until in ChargeWatermark.objects.filter(
                    account_id__in=many_ids(sorted({a for a, _ in missing})),
                    service__in={s for _, s in missing}).values_list("id", "account_id", "service", "charged_until"):
                out[(account_id, service)] = (pk, until)
    return out


_WATERMARK_CHUNK = 5000


def claim_watermarks(moves: list[tuple[int, datetime, datetime]]) -> set[int]:
    """Move each watermark ``(id, read, new)`` from ``read`` to ``new``; return the ids moved.

    A conditional UPDATE per distinct (read, new), usually one for a whole chunk: a watermark
    another worker has moved since it was read is left alone (its windows are that worker's; a
    worker still charging holds the row until its chunk commits, and the condition is checked again
    on the committed row). The rows stay locked until this chunk commits; the charges written after
    this are the chunk's, exactly once.
    """
    groups: dict[tuple[datetime, datetime], list[int]] = defaultdict(list)
    for pk, read, until in moves:
        groups[(read, until)].append(pk)
    table = ChargeWatermark._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    claimed = set()
    for (read, until), ids in groups.items():
        ids.sort()
        if connection.vendor == "postgresql":
            condition, id_params = "id = ANY(%s::bigint[])", [array_literal(ids)]
        else:
            condition, id_params = f"id IN ({', '.join(['%s'] * len(ids))})", ids
        claimed.update(pk for (pk,) in _execute(
            f"UPDATE {table} SET charged_until = %s WHERE {condition} AND charged_until = %s RETURNING id",
            [adapt(until), *id_params, adapt(read)]))
    return claimed
