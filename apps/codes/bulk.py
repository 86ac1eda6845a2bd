"""Set-based writes for the codes jobs and batches, without a model instance per row.

Django's ``bulk_create`` / ``bulk_update`` prepare every value of every row in Python (and
``bulk_update`` builds one ``CASE WHEN`` per row): for 100,000 codes and their events that is most
of the time spent. These helpers write plain rows instead:

- ``insert_rows``: PostgreSQL's ``COPY`` (one stream), ``executemany`` elsewhere (SQLite in tests).
- ``update_rows``: one prepared ``UPDATE … WHERE id = %s`` run for many rows.
- ``insert_select``: ``INSERT INTO … SELECT`` from an ORM queryset annotated with one expression per
  column, so rows derived from other rows (the sweep's events) never leave the database.
The callers hold the transaction and the row locks.
"""

import json
from collections.abc import Iterable

from django.db import connection
from django.db.models import BooleanField, Model, Q, QuerySet
from django.db.models.expressions import RawSQL

ALIAS_PREFIX = "col_"


def _fields(model: type[Model]) -> list:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _db_value(field, value, native: bool):
    """The value as the driver takes it. PostgreSQL's adapters take Python values as they are (JSON as
    text, which the column casts); other backends get Django's own preparation (SQLite stores
    date-times as naive UTC text, for example)."""
    if native:
        return json.dumps(value, default=str) if isinstance(value, dict | list) else value
    return field.get_db_prep_save(value, connection)


def insert_rows(model: type[Model], rows: Iterable[dict]) -> int:
    """Insert rows given as {column: value} (every non-key column present)."""
    fields = _fields(model)
    native = connection.vendor == "postgresql"
    data = [tuple(_db_value(f, row[f.column], native) for f in fields) for row in rows]
    if not data:
        return 0
    columns = [f.column for f in fields]
    qn = connection.ops.quote_name
    table, names = qn(model._meta.db_table), ", ".join(qn(c) for c in columns)
    with connection.cursor() as cursor:
        if native:
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in data:
                    copy.write_row(row)
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", data)
    return len(data)


def update_rows(model: type[Model], fields: list[str], rows: Iterable[tuple]) -> None:
    """``UPDATE … SET f1 = %s, … WHERE id = %s`` for each (value1, …, id) tuple, as one prepared batch."""
    meta = model._meta
    native = connection.vendor == "postgresql"
    targets = [meta.get_field(f) for f in fields] + [meta.pk]
    data = [tuple(_db_value(f, v, native) for f, v in zip(targets, row, strict=True)) for row in rows]
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


def ids_condition(model: type[Model], ids: list[int]):
    """A filter for "id in this batch": one array parameter on PostgreSQL (``id = ANY(%s)``), so a
    10,000-id batch is not 10,000 placeholders for the driver to splice; ``pk__in`` elsewhere."""
    if connection.vendor != "postgresql":
        return Q(pk__in=ids)
    qn = connection.ops.quote_name
    return RawSQL(f"{qn(model._meta.db_table)}.{qn(model._meta.pk.column)} = ANY(%s)", (list(ids),),
                  output_field=BooleanField())
