"""The codes app's PostgreSQL-only statements, in one place.

The sweep's batch and its audit trail, generation's batch, and the array-parameter forms of ``codes/bulk.py``
and the codes window's unit filter. Each has an ORM path for every backend (``sweep._expire_batch_orm``,
``generation._insert_generated_orm``, ``bulk``'s ``__in`` filters), compared with it in
``tests/codes/test_pg_paths.py``.

Table and column names are read from the models' ``_meta`` (``_Names``); states, actions and every other
value travel as query parameters. Two exceptions, both literals made from ``CodeStatus``: the predicates
that pick a partial index (``code_live_expiry`` and ``code_one_queued_code_per_unit``, whose conditions are
``status = 'active'`` / ``status = 'queued'``). The planner matches a partial index only when it can prove
the query's predicate implies the index's, which a parameter does not allow in a generic plan (a server-side
prepared statement, or a client binding changed later): the literal keeps the sweep's plan whatever the
binding.
"""

import re
from datetime import datetime

from django.db.models import BooleanField, Model
from django.db.models.expressions import RawSQL

from apps.accounts import audit
from apps.accounts.models import Account, BillingMethod
from apps.core.bulk import array_literal
from apps.units.models import DeactivationReason, Unit

from .models import ActivationCode, CodeAction, CodeEvent, CodeStatus

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def _identifier(name: str) -> str:
    """A table or column name Django made, written bare: checked to need no quoting (the statements stay
    as readable as the plans EXPLAIN prints)."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} needs quoting: codes/pg.py writes names bare.")
    return name


def _literal(value: str) -> str:
    """A state as an SQL literal, for the partial-index predicates only (module docstring)."""
    return f"'{_identifier(value)}'"


class _Names:
    """A model's table (``.table``) and each concrete field's column (``.status``, ``.unit`` → ``unit_id``)."""

    def __init__(self, model: type[Model]):
        self.table = _identifier(model._meta.db_table)
        for field in model._meta.concrete_fields:
            setattr(self, field.name, _identifier(field.column))


C = _Names(ActivationCode)
E = _Names(CodeEvent)
U = _Names(Unit)
A = _Names(Account)

# The code log's columns in the model's order (what the statements below select, in that order).
EVENT_COLUMNS = ", ".join(_identifier(f.column) for f in CodeEvent._meta.concrete_fields if not f.primary_key)

# The partial indexes' predicates (module docstring): ``code_live_expiry`` and ``code_one_queued_code_per_unit``.
_LIVE = _literal(CodeStatus.ACTIVE)
_QUEUED = _literal(CodeStatus.QUEUED)


# --- the sweep ----------------------------------------------------------------------------------------

# The same batch as ``sweep._expire_batch_orm`` in one statement (data-modifying CTEs, one snapshot):
# nothing comes back to Python but the count and where the batch ended. Every CTE runs to completion
# whether or not the final SELECT reads it. The batch is chosen oldest expiry first and written in id
# order (the table's order: fewer pages to and fro). A code queued on an expired code's unit starts at
# that code's ``expires_at`` (``renewed``: it reads the expired rows, so each old code leaves the
# one-live-code index before its successor enters it); a unit is deactivated only when nothing was
# renewed on it — read from ``renewed``'s own rows, which reflect a queued code unqueued meanwhile
# (re-checked under its row lock), not the statement's snapshot. The events are one INSERT ordered by
# kind, so a code's ``expired`` event gets a smaller id than its unit's ``renewed`` or
# ``unit_deactivated``, as on the ORM path (a code's history is read in id order). ``expired_units`` (each
# expired code with its unit's name and account, as the statement's snapshot has them) is read by the code
# log's events and by the trail, so the units are joined once where each part joined them itself; read once
# (without the trail) it is planned inline, as before.
# ``{service}`` and ``{after}`` take ``_SERVICE_FILTER`` and ``_AFTER_FILTER`` (or nothing).
_BATCH = f"""
WITH due AS MATERIALIZED (
    SELECT {C.id} AS id FROM {C.table}
    WHERE {C.status} = {_LIVE} AND {C.expires_at} <= %(now)s{{service}}{{after}}
    ORDER BY {C.expires_at}, {C.id}
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), expired AS (
    UPDATE {C.table} c SET {C.status} = %(expired)s
    FROM (SELECT id FROM due ORDER BY id) AS d WHERE c.{C.id} = d.id
    RETURNING c.{C.id} AS id, c.{C.code} AS code, c.{C.service} AS service_id, c.{C.unit} AS unit_id,
              c.{C.holder_path} AS holder_path, c.{C.expires_at} AS expires_at
), renewed AS (
    UPDATE {C.table} q SET {C.status} = %(active)s, {C.unit} = q.{C.queued_on}, {C.queued_on} = NULL,
           {C.activated_at} = e.expires_at, {C.expires_at} = e.expires_at + q.{C.validity_days} * interval '24 hours'
    FROM expired e
    WHERE q.{C.queued_on} = e.unit_id AND q.{C.status} = {_QUEUED}
    RETURNING q.{C.id} AS id, q.{C.code} AS code, q.{C.service} AS service_id, q.{C.unit} AS unit_id,
              q.{C.holder_path} AS holder_path, q.{C.activated_at} AS activated_at, q.{C.expires_at} AS expires_at,
              e.code AS old_code
), deactivated AS (
    UPDATE {U.table} u SET {U.active} = false, {U.deactivated_at} = %(now)s, {U.deactivation_reason} = %(reason)s
    FROM expired e, {A.table} s
    WHERE u.{U.id} = e.unit_id AND u.{U.active} AND s.{A.id} = u.{U.service}
      AND s.{A.billing_method} = %(codes_billing)s
      AND NOT EXISTS (SELECT 1 FROM renewed r WHERE r.unit_id = u.{U.id})
    RETURNING u.{U.id} AS id, u.{U.name} AS name, u.{U.account} AS account_id, e.id AS code_id, e.code,
              e.service_id
), expired_units AS (
    SELECT e.*, u.{U.name} AS unit_name, u.{U.account} AS unit_account_id
    FROM expired e LEFT JOIN {U.table} u ON u.{U.id} = e.unit_id
), events AS (
    INSERT INTO {E.table} ({EVENT_COLUMNS})
    SELECT %(now)s, ev.action, ev.service_id, NULL, %(actor_name)s, ev.code, ev.code_id, ev.unit_id, ev.unit_name,
           ev.account_id, COALESCE(a.{A.name}, ''), COALESCE(a.{A.path}, ''), ev.holder_path, ev.holder_path,
           ev.before, ev.after
    FROM (
        SELECT 0 AS kind, %(expired_action)s::text AS action, e.service_id, e.code, e.id AS code_id, e.unit_id,
               COALESCE(e.unit_name, '') AS unit_name, e.unit_account_id AS account_id, e.holder_path,
               jsonb_build_object('status', %(active)s::text) AS before,
               jsonb_build_object('status', %(expired)s::text, 'expires_at', e.expires_at) AS after
        FROM expired_units e
        UNION ALL
        SELECT 1, %(renewed_action)s::text, r.service_id, r.code, r.id, r.unit_id, COALESCE(u.{U.name}, ''),
               u.{U.account}, r.holder_path,
               jsonb_build_object('code', r.old_code),
               jsonb_build_object('status', %(active)s::text, 'unit', r.unit_id, 'activated_at', r.activated_at,
                                  'expires_at', r.expires_at)
        FROM renewed r LEFT JOIN {U.table} u ON u.{U.id} = r.unit_id
        UNION ALL
        SELECT 2, %(deactivated_action)s::text, d.service_id, d.code, d.code_id, d.id, d.name, d.account_id, '',
               jsonb_build_object('active', true),
               jsonb_build_object('active', false, 'reason', %(reason)s::text)
        FROM deactivated d
    ) ev LEFT JOIN {A.table} a ON a.{A.id} = ev.account_id
    ORDER BY ev.kind, ev.code_id
)"""

# The batch's audit trail, in the same statement: the events ``sweep._sweep_trail`` builds on the ORM path,
# derived from the rows the batch's CTEs return (nothing per code travels to Python, no table is read again
# by id), hashed and written by ``audit.chain_ctes``. ``code_expired`` events first, then ``code_renewed``
# (each in id order, numbered 1, 2, 3… per chain as ``chain_ctes`` wants them), as ``_sweep_trail`` orders
# them; the holder of a code without a unit is read from its path's last id.
_BATCH_TRAIL = f""", trail AS (
    SELECT row_number() OVER (PARTITION BY t.chain ORDER BY t.kind, t.subject_id) AS ord, t.*
    FROM (
        SELECT 0 AS kind, e.service_id AS chain, %(now)s::timestamptz AS at, %(expired_event)s::text AS action,
               e.service_id, COALESCE(ua.{A.id}, hid.id) AS account_id,
               COALESCE(ua.{A.name}, h.{A.name}, '') AS account_name,
               COALESCE(NULLIF(ua.{A.path}, ''), e.holder_path, '') AS account_path,
               %(subject_type)s::text AS subject_type, e.id AS subject_id, e.code AS subject_name,
               NULL::bigint AS actor_id, %(job)s::text AS actor_name,
               jsonb_build_object('status', %(active)s::text) AS before,
               jsonb_build_object('status', %(expired)s::text, 'expires_at', {audit.iso_sql('e.expires_at')})
               || CASE WHEN d.code_id IS NOT NULL THEN jsonb_build_object('unit_deactivated', e.unit_name)
                       ELSE jsonb_build_object() END AS after,
               ''::text AS reason
        FROM expired_units e
        LEFT JOIN {A.table} ua ON ua.{A.id} = e.unit_account_id
        LEFT JOIN LATERAL (
            SELECT split_part(rtrim(e.holder_path, '/'), '/', -1)::bigint AS id
            WHERE ua.{A.id} IS NULL AND e.holder_path <> ''
        ) hid ON true
        LEFT JOIN {A.table} h ON h.{A.id} = hid.id
        LEFT JOIN deactivated d ON d.code_id = e.id
        UNION ALL
        SELECT 1, r.service_id, %(now)s::timestamptz, %(renewed_event)s::text, r.service_id, ua.{A.id},
               COALESCE(ua.{A.name}, ''), COALESCE(ua.{A.path}, ''), %(subject_type)s::text, r.id, r.code, NULL,
               %(job)s::text, jsonb_build_object('status', %(queued)s::text),
               jsonb_build_object('status', %(active)s::text, 'unit', u.{U.name}, 'replaces', r.old_code,
                                  'activated_at', {audit.iso_sql('r.activated_at')},
                                  'expires_at', {audit.iso_sql('r.expires_at')}),
               ''
        FROM renewed r
        LEFT JOIN {U.table} u ON u.{U.id} = r.unit_id
        LEFT JOIN {A.table} ua ON ua.{A.id} = u.{U.account}
    ) t
), {audit.chain_ctes("trail")}"""

# Nothing comes back but the count, where the batch ended and the trail's chains (``audit.move_heads``).
_BATCH_RESULT = """
SELECT (SELECT count(*) FROM expired), expires_at, id, {summary}
FROM expired ORDER BY expires_at DESC, id DESC LIMIT 1
"""

EXPIRE_BATCH_SQL = _BATCH + _BATCH_TRAIL + _BATCH_RESULT.replace("{summary}", audit.CHAIN_SUMMARY)
# The same batch without its trail: the sweep as it was before the audit trail, ``bench/audit_bench.py``'s
# baseline ("today's sweep").
UNAUDITED_BATCH_SQL = _BATCH + _BATCH_RESULT.replace("{summary}", "NULL")

_SERVICE_FILTER = f" AND {C.service} = %(service)s"
# Past the rows this call has already expired (the index's stale entries are not walked again).
_AFTER_FILTER = (f" AND {C.expires_at} >= %(after_at)s AND ({C.expires_at}, {C.id}) > (%(after_at)s, "
                 f"%(after_id)s)")


def expire_batch(*, now: datetime, limit: int, service_id: int | None, after: tuple | None,
                 actor_name: str, job: str) -> tuple[str, dict]:
    """The sweep's batch statement and its parameters: ``service_id`` limits it to one service, ``after``
    (expires_at, id) starts it past the previous batch of the same call; ``actor_name`` signs the code log,
    ``job`` the audit trail."""
    params = {"now": now, "limit": limit, "reason": DeactivationReason.CODE_EXPIRED,
              "codes_billing": BillingMethod.ACTIVATION_CODES, "actor_name": actor_name, "job": job,
              "active": CodeStatus.ACTIVE, "expired": CodeStatus.EXPIRED, "queued": CodeStatus.QUEUED,
              "expired_action": CodeAction.EXPIRED, "renewed_action": CodeAction.RENEWED,
              "deactivated_action": CodeAction.UNIT_DEACTIVATED, "expired_event": "code_expired",
              "renewed_event": "code_renewed", "subject_type": "code"}
    service = after_sql = ""
    if service_id is not None:
        service, params["service"] = _SERVICE_FILTER, service_id
    if after is not None:
        after_sql = _AFTER_FILTER
        params["after_at"], params["after_id"] = after
    return EXPIRE_BATCH_SQL.format(service=service, after=after_sql), params


def local_work_mem(size: str) -> tuple[str, list]:
    """``work_mem`` for the rest of the transaction (``SET LOCAL``, with the size as a parameter)."""
    return "SELECT set_config('work_mem', %s, true)", [size]


# --- generation ---------------------------------------------------------------------------------------

# The same batch as ``generation._insert_generated_orm`` in one statement: the codes travel as one
# comma-separated text (no per-value quoting in the driver), the events are written from the inserted
# rows (``RETURNING``) without reading the table again, and only (code, id) comes back. One INSERT for
# both kinds of event, ordered by kind, so a code's ``generated`` event precedes its ``shared`` one in id
# order, as on the ORM path.
GENERATE_BATCH_SQL = f"""
WITH written AS (
    INSERT INTO {C.table} ({C.service}, {C.validity_days}, {C.created_at}, {C.shared_with}, {C.holder_path},
        {C.holder_branch}, {C.status}, {C.activated_at}, {C.expires_at}, {C.unit}, {C.cleared_at}, {C.code})
    SELECT %(service)s, %(days)s, %(now)s, %(shared)s, %(holder_path)s, %(branch)s, %(status)s, NULL, NULL, NULL,
           NULL, k
    FROM unnest(string_to_array(%(codes)s, ',')) AS k
    RETURNING {C.id} AS id, {C.code} AS code
), events AS (
    INSERT INTO {E.table} ({EVENT_COLUMNS})
    SELECT %(now)s, ev.action, %(service)s, %(actor_id)s::bigint, %(actor_name)s, ev.code, ev.id, NULL, '', NULL, '', '',
           ev.holder_before, ev.holder_after, ev.before, ev.after
    FROM (
        SELECT 0 AS kind, %(generated)s::text AS action, w.id, w.code, ''::text AS holder_before,
               %(top_path)s::text AS holder_after, jsonb_build_object() AS before,
               jsonb_build_object('validity_days', %(days)s::integer) AS after
        FROM written w
        UNION ALL
        SELECT 1, %(shared_action)s::text, w.id, w.code, %(top_path)s::text, %(holder_path)s::text,
               jsonb_build_object('shared_with', NULL),
               jsonb_build_object('shared_with', %(shared)s::bigint, 'shared_with_name', %(shared_name)s::text)
        FROM written w WHERE %(shared)s::bigint IS NOT NULL
    ) ev
    ORDER BY ev.kind, ev.id
)
SELECT code, id FROM written
"""


def generate_batch(texts: list[str], template: dict, *, actor_id: int | None, actor_name: str, top_path: str,
                   shared_name: str | None, now: datetime) -> tuple[str, dict]:
    """Generation's batch statement and its parameters (``template``: the new codes' columns)."""
    return GENERATE_BATCH_SQL, {
        "service": template["service_id"], "days": template["validity_days"], "now": now,
        "shared": template["shared_with_id"], "holder_path": template["holder_path"],
        "branch": template["holder_branch"], "status": template["status"], "codes": ",".join(texts),
        "actor_id": actor_id, "actor_name": actor_name, "top_path": top_path,
        "generated": CodeAction.GENERATED, "shared_action": CodeAction.SHARED, "shared_name": shared_name}


# --- array parameters (codes/bulk.py, the window's unit filter) ------------------------------------------

def insert_keyed(model: type[Model], key: str, columns: list[str], casts: list[str]) -> str:
    """``INSERT … SELECT <constants>, k FROM unnest(%s::text[]) RETURNING key, id``: one row per key value, the
    other ``columns`` from one parameter each (cast to ``casts``); the values travel as one array."""
    meta = model._meta
    names = ", ".join(_identifier(c) for c in [*columns, key])
    constants = ", ".join(f"%s::{cast}" for cast in casts)
    return (f"INSERT INTO {_identifier(meta.db_table)} ({names}) SELECT {constants}, k "
            f"FROM unnest(%s::text[]) AS k RETURNING {_identifier(key)}, {_identifier(meta.pk.column)}")


def any_condition(model: type[Model], field_name: str, values: list, kind: str) -> RawSQL:
    """"field in this batch" as ``col = ANY(%s::kind[])``: one array parameter, not one placeholder a value."""
    field = model._meta.get_field(field_name)
    return RawSQL(f"{_identifier(model._meta.db_table)}.{_identifier(field.column)} = ANY(%s::{kind}[])",
                  (array_literal(values),), output_field=BooleanField())


def bigint_rows(values: list[int]) -> RawSQL:
    """A list of ids as a subquery of one array parameter (whose length the planner knows)."""
    return RawSQL("SELECT unnest(%s::bigint[])", [values])
