"""Statements of fixed text that the busiest request runs on every call, prepared once per connection.

Django's PostgreSQL cursors bind parameters on the client: every execution sends a new SQL text,
which the server parses and plans again. The kernel's consume runs three statements of the same
text on every call, and planning the chain's alone took 0.4 ms. ``prepared(sql)`` prepares such a
statement with SQL's own ``PREPARE`` the first time a connection runs it and answers the
``EXECUTE name(%s, …)`` that runs it from then on, so the caller keeps Django's cursor (its errors,
its query log) and reads the rows as any cursor's (the chain makes them accounts with ``Model.from_db``;
``Model.objects.raw`` would too, but recomputes its column mapping on every call: 7 % slower per consume).

Why not psycopg's own preparing through ``OPTIONS["server_side_binding"]``: it binds every
statement of the site on the server, which prepared the trivial endpoint's token lookup too (so
consume's ratio to it fell) and gave a page of the codes window a generic plan three times slower
(measured; ``docs/decisions.md``, "Issue 12 item 6").

A prepared statement belongs to the session, not the transaction (a rollback keeps it), so the
names a connection has prepared are kept with that connection and go with it. Preparing is part of
the connection's setup, once per statement and connection: it is not in Django's query log, so a
consume's statement budget (SPEC §8.3) counts the same on the first call as on the thousandth.
``DATABASE_PREPARED_STATEMENTS=off`` (settings) turns preparing off, for a pooler in transaction
mode that hands a session's statements to another client; the text is then run as it is.
"""

import hashlib
import re

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

_PLACEHOLDER = re.compile(r"%[s%]")


def prepared(sql: str, using: str = DEFAULT_DB_ALIAS) -> str:
    """The text to execute, with the same parameters, in place of ``sql`` (Django's ``%s``
    placeholders): on PostgreSQL ``EXECUTE`` of ``sql`` prepared on this connection (prepared now,
    on its first run here); ``sql`` itself on another database or with preparing off."""
    db = connections[using]
    if db.vendor != "postgresql" or not getattr(settings, "DATABASE_PREPARED_STATEMENTS", True):
        return sql
    db.close_if_health_check_failed()
    db.ensure_connection()
    # Kept on the thread's connection wrapper, with the server connection they were prepared on: a
    # new server connection (closed, reconnected) starts with none.
    state = getattr(db, "_prepared_statements", None)
    if state is None or state[0] is not db.connection:
        state = db._prepared_statements = (db.connection, {})
    known = state[1]
    text = known.get(sql)
    if text is None:
        count = 0

        def number(match) -> str:
            nonlocal count
            if match.group() == "%%":
                return "%"
            count += 1
            return f"${count}"

        body = _PLACEHOLDER.sub(number, sql)
        name = "site_" + hashlib.sha256(sql.encode()).hexdigest()[:24]
        # Part of the connection's setup, as Django's own ``SET TIME ZONE`` is: run on the
        # connection itself, outside the query log that statement budgets count.
        with db.wrap_database_errors:
            db.connection.execute(f"PREPARE {name} AS {body}")
        text = f"EXECUTE {name}({', '.join(['%s'] * count)})" if count else f"EXECUTE {name}"
        known[sql] = text
    return text
