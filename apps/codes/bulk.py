"""Set-based writes for the codes jobs and batches, without a model instance per row.

Django's ``bulk_create`` / ``bulk_update`` prepare every value of every row in Python (and
``bulk_update`` builds one ``CASE WHEN`` per row): for 100,000 codes and their events that is most
of the time spent. These helpers write plain rows instead:

- ``insert_rows``: ``core.bulk.copy_rows`` (one binary ``COPY``) on PostgreSQL, ``executemany``
  elsewhere (SQLite in tests).
- ``insert_keyed``: rows that differ only in a unique key, with their new ids back.
  (Their PostgreSQL-only statements, and ``in_condition``'s array form, are built in ``codes/pg.py``.)
- ``update_rows``: one prepared ``UPDATE … WHERE id = %s`` run for many rows.
- ``insert_select``: ``INSERT INTO … SELECT`` from an ORM queryset annotated with one expression per
  column, so rows derived from other rows (the sweep's events) never leave the database;
  ``insert_select_new`` the same, skipping rows a unique key already holds, with the new ids back.
The callers hold the transaction and the row locks.
"""

import json
from collections.abc import Iterable

from django.db import connection
from django.db.models import JSONField, Model, Q, QuerySet

from apps.core.bulk import array_literal, copy_rows

from . import pg

ALIAS_PREFIX = "col_"


def _fields(model: type[Model]) -> list:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _as_json(value):
    return json.dumps(value, default=str)


def _preparers(fields: list, native: bool) -> list:
    """One function per field turning a Python value into what the driver takes, chosen once per
    batch rather than per value. PostgreSQL's adapters take Python values as they are (JSON as text,
    which the column casts); other backends get Django's own preparation (SQLite stores date-times as
    naive UTC text, for example)."""
    if not native:
        return [lambda value, field=field: field.get_db_prep_save(value, connection) for field in fields]
    return [_as_json if isinstance(field, JSONField) else None for field in fields]


def _prepared(row, preparers) -> tuple:
    return tuple(value if prepare is None else prepare(value) for prepare, value in zip(preparers, row, strict=True))


def insert_rows(model: type[Model], rows: Iterable[dict]) -> int:
    """Insert rows given as {column: value} (every non-key column present)."""
    fields = _fields(model)
    columns = [f.column for f in fields]
    if connection.vendor == "postgresql":
        data = [tuple(row[c] for c in columns) for row in rows]
        return copy_rows(model, columns, data) if data else 0
    preparers = _preparers(fields, native=False)
    data = [_prepared([row[f.column] for f in fields], preparers) for row in rows]
    if not data:
        return 0
    qn = connection.ops.quote_name
    table, names = qn(model._meta.db_table), ", ".join(qn(c) for c in columns)
    placeholders = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", data)
    return len(data)


def insert_keyed(model: type[Model], key: str, keys: list, constants: dict) -> dict:
    """Insert one row per value of ``key`` (a unique text column, named as the field is), every other
    column from ``constants`` ({column: value}); return {key value: new id}.

    PostgreSQL: one ``INSERT … SELECT … FROM unnest(%s) RETURNING`` — the values travel as one array
    and the ids come back with them, with no per-row work in Python and no second look-up. Elsewhere:
    ``insert_rows``, then the ids read back by key.
    """
    if not keys:
        return {}
    if connection.vendor != "postgresql":
        insert_rows(model, ({**constants, key: value} for value in keys))
        return dict(model.objects.filter(in_condition(model, key, keys)).values_list(key, "pk"))
    fields = {f.column: f for f in _fields(model)}
    columns = [c for c in constants if c != key]
    preparers = dict(zip(columns, _preparers([fields[c] for c in columns], native=True), strict=True))
    sql = pg.insert_keyed(model, key, columns, [fields[c].db_type(connection) for c in columns])
    params = [constants[c] if preparers[c] is None else preparers[c](constants[c]) for c in columns]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, array_literal(keys)])
        return dict(cursor.fetchall())


def update_rows(model: type[Model], fields: list[str], rows: Iterable[tuple]) -> None:
    """``UPDATE … SET f1 = %s, … WHERE id = %s`` for each (value1, …, id) tuple, as one prepared batch."""
    meta = model._meta
    native = connection.vendor == "postgresql"
    preparers = _preparers([meta.get_field(f) for f in fields] + [meta.pk], native)
    data = [_prepared(row, preparers) for row in rows]
    if not data:
        return
    qn = connection.ops.quote_name
    sets = ", ".join(f"{qn(meta.get_field(f).column)} = %s" for f in fields)
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {qn(meta.db_table)} SET {sets} WHERE {qn(meta.pk.column)} = %s", data)


def insert_select(model: type[Model], source: QuerySet) -> int:
    """``INSERT INTO model SELECT …`` from ``source``, a queryset annotated with ``col_<column>``
    for every column to fill and reduced to those with ``values()``."""
    compiler = source.query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    columns = [alias.removeprefix(ALIAS_PREFIX) for _, _, alias in compiler.select]
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(c) for c in columns)}) {sql}",
                       params)
        return cursor.rowcount


def insert_select_new(model: type[Model], source: QuerySet) -> list[int]:
    """``insert_select`` that skips rows conflicting with a unique constraint (``ON CONFLICT DO NOTHING``,
    PostgreSQL and SQLite alike) and returns the ids of the rows it inserted."""
    compiler = source.query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    columns = [alias.removeprefix(ALIAS_PREFIX) for _, _, alias in compiler.select]
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        # SQLite reads ``ON CONFLICT`` after a SELECT without WHERE as a join clause: callers filter.
        cursor.execute(f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(c) for c in columns)}) {sql} "
                       f"ON CONFLICT DO NOTHING RETURNING {qn(model._meta.pk.column)}", params)
        return [row[0] for row in cursor.fetchall()]


def in_condition(model: type[Model], field_name: str, values: list):
    """A filter for "field in this batch": one array parameter on PostgreSQL (``col = ANY(%s)``), so a
    10,000-value batch is not 10,000 placeholders for the driver to splice; ``__in`` elsewhere."""
    if connection.vendor != "postgresql":
        return Q(**{f"{field_name}__in": values})
    kind = model._meta.get_field(field_name).db_type(connection).split("(")[0]
    return pg.any_condition(model, field_name, values, kind)


def ids_condition(model: type[Model], ids: list[int]):
    """A filter for "id in this batch" (see ``in_condition``)."""
    return in_condition(model, model._meta.pk.name, ids)
