"""Append-only guards: database triggers that refuse to change or empty a log table, and the one switch
that lifts them.

``append_only(name)`` gives a model the two triggers of an append-only table on PostgreSQL: a row-level
``UPDATE``/``DELETE`` refusal (``pgtrigger.Protect``) and a statement-level ``TRUNCATE`` refusal
(``RefuseTruncate``; PostgreSQL has no row-level TRUNCATE trigger). Elsewhere the model's own
``save``/``delete``/queryset refusals are the guard.

``lifted()`` is the one switch that turns every such guard off, for the current thread's statements only
(``pgtrigger.ignore``: a transaction-local setting the triggers read). Nothing in the application calls
it: it exists for the test suite, whose transactional and browser tests empty every table between tests
(``tests/conftest.py`` wraps Django's flush in it). See docs/decisions.md, "Issue 11: code jobs".
"""

from contextlib import contextmanager

import pgtrigger


class RefuseTruncate(pgtrigger.Trigger):
    """A statement-level ``BEFORE TRUNCATE`` trigger that raises: the table cannot be emptied."""

    level = pgtrigger.Statement
    when = pgtrigger.Before
    operation = pgtrigger.Truncate
    func = "RAISE EXCEPTION 'pgtrigger: Cannot truncate % table', TG_TABLE_NAME;"


def append_only(name: str) -> list[pgtrigger.Trigger]:
    """The guards of an append-only table: ``name`` refuses UPDATE and DELETE, ``name_truncate`` TRUNCATE."""
    return [
        pgtrigger.Protect(name=name, operation=pgtrigger.Update | pgtrigger.Delete),
        RefuseTruncate(name=f"{name}_truncate"),
    ]


def guard_uris() -> list[str]:
    """The URIs (``app.Model:trigger``) of every registered guard: a new append-only model is included
    as soon as it declares ``append_only(...)`` in its ``Meta.triggers``."""
    return sorted(trigger.get_uri(model) for model, trigger in pgtrigger.registered()
                  if isinstance(trigger, (pgtrigger.Protect, RefuseTruncate)))


@contextmanager
def lifted():
    """Lift every append-only guard for this thread's statements inside the block (tests only)."""
    with pgtrigger.ignore(*guard_uris()):
        yield
