"""Statements of fixed text that the busiest request runs on every call, prepared on PostgreSQL.

Django's PostgreSQL cursors bind parameters on the client (psycopg's ``ClientCursor``): every
execution sends a new SQL text, which the server parses and plans again. The kernel's consume runs
three statements of the same text on every call; planning the chain's alone took 0.4 ms. ``prepared_cursor`` binds on the server instead, so psycopg prepares each
statement once per connection and then sends only its parameters. Only the statements run through
it are prepared: client-binding cursors never prepare, whatever the connection's threshold.

``DATABASE_PREPARED_STATEMENTS=off`` (settings) turns preparing off, for a pooler in transaction
mode that cannot keep prepared statements (PgBouncer before 1.21, or without
``max_prepared_statements``); the statements then run unprepared, still bound on the server.
"""

from contextlib import contextmanager
from functools import lru_cache

from django.db import connection, connections


@contextmanager
def prepared_cursor():
    """A cursor like ``connection.cursor()`` (Django's wrapper: its errors, its query log under
    DEBUG and in tests) whose statements are prepared on PostgreSQL; Django's usual cursor elsewhere."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = ServerBindingCursor(connection.connection)
    cursor = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
    with cursor:
        yield cursor


def instances(model, cursor) -> list:
    """The rows of an executed ``cursor`` as ``model`` instances, as ``Model.objects.raw`` builds
    them: the columns of the model's fields converted as the ORM converts them, every other column
    set as an attribute of the same name."""
    db = cursor.db
    fields, extra, converters = _reading(model, db.alias, tuple(column[0] for column in cursor.description))
    attnames = [attname for _, attname in fields]
    out = []
    for row in cursor.fetchall():
        if converters:
            row = list(row)
            for index, converter, expression in converters:
                row[index] = converter(row[index], expression, db)
        instance = model.from_db(db.alias, attnames, [row[index] for index, _ in fields])
        for index, name in extra:
            setattr(instance, name, row[index])
        out.append(instance)
    return out


@lru_cache(maxsize=64)
def _reading(model, alias: str, names: tuple[str, ...]) -> tuple[list, list, list]:
    """How ``instances`` reads rows of these columns: ``(index, attname)`` of the model's fields in
    the model's order (``from_db`` wants it), ``(index, name)`` of the other columns, and the
    converters ``(index, converter, expression)`` of the fields."""
    db = connections[alias]
    table = model._meta.db_table
    position = {field.column: (order, field) for order, field in enumerate(model._meta.concrete_fields)}
    found = sorted((position[name][0], index, position[name][1]) for index, name in enumerate(names)
                   if name in position)
    converters = [(index, converter, field.get_col(table)) for _, index, field in found
                  for converter in db.ops.get_db_converters(field.get_col(table)) + field.get_db_converters(db)]
    return ([(index, field.attname) for _, index, field in found],
            [(index, name) for index, name in enumerate(names) if name not in position], converters)
