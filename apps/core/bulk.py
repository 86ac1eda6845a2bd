"""Set-based SQL helpers for jobs that write thousands of rows (periodic charges, days, ledgers).

Portable between PostgreSQL (COPY, array parameters) and SQLite (multi-row INSERT, VALUES lists).
"""

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

from django.db import connection
from django.db.models.expressions import RawSQL
from psycopg.types.json import Jsonb


def insert_rows(model, columns: Sequence[str], rows: Sequence[tuple]) -> list[int]:
    """Insert ``rows`` (values in the order of ``columns``) into ``model``'s table; return their ids
    in the order of ``rows``.

    ``bulk_create`` spends most of a job's time building model instances, and a multi-row INSERT
    with 100,000 rows of client-side bound parameters is slow on PostgreSQL; there the ids are
    taken from the table's sequence in one statement and the rows sent with ``copy_rows``. SQLite
    gets multi-row ``INSERT … RETURNING id``.
    """
    if not rows:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                           [table, len(rows)])
            ids = [pk for (pk,) in cursor.fetchall()]
            copy_rows(model, ("id", *columns), ((pk, *row) for pk, row in zip(ids, rows, strict=True)))
            return ids
        ids = []
        for offset in range(0, len(rows), _SQLITE_BATCH):
            cursor.execute(*_multi_row_insert(table, columns, rows[offset:offset + _SQLITE_BATCH], " RETURNING id"))
            ids += [pk for (pk,) in cursor.fetchall()]
        return ids


_SQLITE_BATCH = 2000


def copy_rows(model, columns: Sequence[str], rows: Iterable[tuple]) -> int:
    """PostgreSQL only: send ``rows`` (values in the order of ``columns``, the table's column names) into
    ``model``'s table with one binary ``COPY``, psycopg's ``write_row`` with the columns' types set once
    (``set_types``), so no value is adapted by guessing its type. Returns how many rows went.

    The one bulk writer of the project (``insert_rows`` here, the codes jobs' ``codes.bulk``). Values
    are Python values as Django keeps them: numbers for numeric columns, aware datetimes, JSON-able
    values for JSON columns (sent as ``jsonb``, non-JSON values such as dates as their text)."""
    fields = {field.column: field for field in model._meta.concrete_fields}
    types = [_copy_type(fields[column]) for column in columns]
    wrap = [_copy_wrapper(kind) for kind in types]
    qn = connection.ops.quote_name
    count = 0
    with connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY {qn(model._meta.db_table)} ({', '.join(qn(c) for c in columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        if any(wrap):
            rows = (tuple(value if w is None or value is None else w(value) for w, value in zip(wrap, row, strict=True))
                    for row in rows)
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _copy_type(field) -> str:
    """The PostgreSQL type name psycopg knows a column by: ``varchar(100)`` → ``varchar``."""
    return field.db_type(connection).split("(")[0].strip()


def _copy_wrapper(kind: str):
    if kind in ("json", "jsonb"):
        return lambda value: Jsonb(value, dumps=_json_text)
    if kind == "numeric":
        return lambda value: value if isinstance(value, Decimal) else Decimal(value)
    return None


def _json_text(value) -> str:
    return json.dumps(value, default=str)


def insert_values(model, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """Insert a few rows (values in the order of ``columns``) in one statement, without model
    instances: for a request's handful of rows, where ``bulk_create`` cost more in Python than the
    statement in the database. Defaults of the model are not applied: give every column."""
    if rows:
        with connection.cursor() as cursor:
            cursor.execute(*_multi_row_insert(model._meta.db_table, columns, rows))


def _multi_row_insert(table: str, columns: Sequence[str], rows: Sequence[tuple], suffix: str = "") -> tuple:
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    adapt = _adapt_for_sqlite if connection.vendor == "sqlite" else (lambda value: value)
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([placeholders] * len(rows))}{suffix}",
            [adapt(value) for row in rows for value in row])


def _adapt_for_sqlite(value):
    """Dates and datetimes as Django stores them in SQLite (the sqlite3 module's own adapters are
    deprecated); everything else binds as it is."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, date):
        return connection.ops.adapt_datefield_value(value)
    return value


def many_ids(ids: Sequence[int]):
    """The right-hand side of ``filter(pk__in=…)`` for thousands of ids.

    On PostgreSQL one array parameter: psycopg's client-side binding splits a query with thousands
    of placeholders in Python, which cost more than the query itself. SQLite binds natively.
    """
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", [array_literal(ids)])
    return list(ids)


def array_literal(values) -> str:
    """A PostgreSQL array literal (``'{1,2,3}'``) for a parameter cast to an array type.

    psycopg adapts a list element by element in Python; for the 100,000-element arrays of the
    jobs that cost more than the statements. Numbers, dates and times are written as they are;
    text is quoted and escaped; ``None`` is ``NULL``.
    """
    if all(type(value) is int for value in values):  # ids, the common case: no quoting to decide
        return "{" + ",".join(map(str, values)) + "}"
    return "{" + ",".join(map(_array_element, values)) + "}"


def _array_element(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, date):  # datetimes too: ISO 8601 with the offset
        return '"' + value.isoformat() + '"'
    text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def values_cte(name: str, columns: Sequence[tuple[str, str]], rows: Sequence[tuple]) -> tuple[str, list]:
    """``name(col, …) AS (…)`` for a ``WITH`` clause holding ``rows``; returns SQL and parameters.

    ``columns``: ``(name, PostgreSQL type)``. On PostgreSQL one array parameter per column
    (``unnest``), for the reason given in ``many_ids``; on SQLite a ``VALUES`` list.
    """
    names = ", ".join(column for column, _ in columns)
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{kind}[]" for _, kind in columns)
        return f"{name}({names}) AS (SELECT * FROM unnest({arrays}))", [array_literal(c) for c in zip(*rows)]
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    params = [_adapt_for_sqlite(value) for values in rows for value in values]
    return f"{name}({names}) AS (VALUES {', '.join([row] * len(rows))})", params
