"""The one audit trail (SPEC §9.2, §9.8): ``record`` for one event, ``record_many`` for a batch.

Every operation calls one of them inside its own transaction, as the last thing it does (the chain's
row lock is then held for the shortest time and always taken after the operation's own locks).

The chain: the events of one service (``chain`` = its top account's id; 0 for writes with no service)
are numbered 1, 2, 3… and each stores ``hash = sha256(previous hash | seq | digest)``, where ``digest`` is
the SHA-256 of the event's content as one JSON array in PostgreSQL's own ``jsonb`` text form (``content_text``).
That form is what both sides can write: Python here, and PostgreSQL itself for the events a set-based job
derives inside the database (``chain_ctes`` in the job's own statement, or ``record_select``: digests and
links computed by the server, in the statement that writes the events), so both kinds of writer share one
chain and ``verify_chains`` checks both. A Python writer takes the chain's head row with one ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` (the row lock serialises the
writers of one service until they commit: concurrent writers never fork the chain), inserts its events
(one statement, ``COPY`` on PostgreSQL), and moves the head (one UPDATE): three statements a chain,
whatever the number of events. ``verify_chains`` recomputes every hash in ``seq`` order.

Values: before/after hold field names and plain values (names as they were, numbers, ISO dates, decimal
strings), never sentences and never ids where a name exists; a field whose value did not change is
left out (``changes``).
"""

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Model

from apps.core import clock
from apps.core.bulk import array_literal, insert_rows, insert_values

from .models import AuditChain, AuditEvent

PLATFORM_CHAIN = 0
# The columns written, in the order the hash reads them (``seq`` and ``hash`` are added per chain).
_CONTENT = ("chain", "at", "action", "service_id", "account_id", "account_name", "account_path", "subject_type",
            "subject_id", "subject_name", "actor_id", "actor_name", "before", "after", "reason")
_COLUMNS = ("seq", *_CONTENT, "hash")
_FEW = 50  # up to this many events: one multi-row INSERT; more: one text COPY on PostgreSQL (``_copy_hashed``)


def plain(value):
    """A value as the trail stores it: JSON-native, names for objects, ISO text for times, decimal strings."""
    if isinstance(value, Model):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return str(Decimal(repr(value)))
    return str(value)


def changes(before: dict, after: dict) -> tuple[dict, dict]:
    """(before, after) with only the fields whose readable value changed."""
    old, new = plain(before or {}), plain(after or {})
    keys = [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]
    # An unset value is left out rather than shown as None (an override set reads "min_days: 3").
    return ({k: old[k] for k in keys if old.get(k) is not None},
            {k: new[k] for k in keys if new.get(k) is not None})


def actor_fields(actor, job: str = "") -> tuple[int | None, str]:
    """(operator id, name), or (None, the job's name) for a job."""
    if actor is not None and (getattr(actor, "pk", None) is not None or actor.get_username()):
        return getattr(actor, "pk", None), actor.get_username()
    return None, job or "system"


def record_job_run(job: str, *, counts: dict, account=None, failed: str = "", now: datetime | None = None) -> bool:
    """One ``job_run`` event for a run that changed something (or failed), in the chain of the service
    (``account``: its top account) or the platform's; idle runs leave nothing (SPEC §9.8)."""
    if not failed and not any(counts.values()):
        return False
    from django.db import transaction

    with transaction.atomic():
        record("job_run", job=job, subject_type="job", subject_name=job, account=account, after=counts,
               reason=failed, now=now)
    return True


def event(action: str, *, actor=None, job: str = "", subject_type: str, subject_id=None, subject_name: str = "",
          account=None, service_id: int | None = None, before: dict | None = None, after: dict | None = None,
          reason: str = "", at: datetime | None = None, account_fields: tuple | None = None) -> dict:
    """One event as a dict for ``record_many``. ``account`` (an ``Account``) gives the service and the
    path the event is scoped by; ``account_fields`` = (id, name, path, service id) does the same without
    an instance; neither: ``service_id`` alone, or the platform chain."""
    if account is not None:
        account_fields = (account.pk, account.name, account.path, account.service_id)
    account_id, account_name, account_path, account_service = account_fields or (None, "", "", None)
    service = service_id if service_id is not None else account_service
    actor_id, name = actor_fields(actor, job)
    return {
        "chain": service or PLATFORM_CHAIN, "at": at, "action": action, "service_id": service,
        "account_id": account_id, "account_name": account_name or "", "account_path": account_path or "",
        "subject_type": subject_type, "subject_id": subject_id, "subject_name": str(subject_name or "")[:200],
        "actor_id": actor_id, "actor_name": name, "before": plain(before or {}), "after": plain(after or {}),
        "reason": (reason or "")[:500],
    }


def record(action: str, *, now: datetime | None = None, **fields) -> None:
    """Record one event (the arguments of ``event``) in the current transaction."""
    record_many([event(action, **fields)], now=now)


# The canonical text of an event: ``jsonb``'s text output (``", "`` and ``": "`` between items, an object's
# keys ordered by their length in bytes, then bytewise; strings escaped as ``json.dumps`` with
# ``ensure_ascii=False`` escapes them), written by the C encoder once dicts are put in that key order.
_pg_json = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode


def _jsonb_order(value):
    """``value`` with every dict's keys in ``jsonb``'s order (length in bytes, then bytes)."""
    if isinstance(value, dict):
        return {key: _jsonb_order(value[key]) for key in sorted(value, key=_jsonb_key)}
    if isinstance(value, list):
        return [_jsonb_order(item) for item in value]
    return value


def _jsonb_key(key: str) -> tuple[int, bytes]:
    raw = key.encode()
    return len(raw), raw


def content_text(row: dict, at_text: str | None = None) -> str:
    """The text an event's digest is taken over: its content (``_CONTENT``, ``at`` as ``plain`` writes it)
    as one JSON array, exactly as PostgreSQL prints ``jsonb_build_array(…)::text`` of the same columns."""
    return _pg_json([at_text if name == "at" and at_text is not None else
                     plain(row["at"]) if name == "at" else
                     _jsonb_order(row[name]) if name in ("before", "after") else row[name]
                     for name in _CONTENT])


def link(previous: str, seq: int, digest: str) -> str:
    """One link of a chain: SHA-256 over the previous event's hash, this event's number and its digest."""
    return hashlib.sha256(f"{previous}|{seq}|{digest}".encode()).hexdigest()


def content_hash(previous: str, row: dict) -> str:
    """The hash an event stores: ``link`` over the previous hash, its ``seq`` and its content's digest."""
    return link(previous, row["seq"], hashlib.sha256(content_text(row).encode()).hexdigest())


def record_many(events: Sequence[dict], *, now: datetime | None = None) -> int:
    """Record ``events`` (dicts from ``event``) in the current transaction, in their order within each
    chain: per chain one statement to lock and read its head, one to insert, one to move the head.
    Chains are locked in ascending order. Returns the number of events written.

    The hashes are ``content_hash``'s, computed in one pass over the events (one encoder, the time's text
    once per distinct time); on PostgreSQL more than ``_FEW`` events go in one text ``COPY`` whose lines
    are built in the same pass (ids from the column's identity, no round trip for them)."""
    if not events:
        return 0
    now = now or clock.now()
    by_chain: dict[int, list[dict]] = defaultdict(list)
    for row in events:
        by_chain[row["chain"]].append(row)
    written = 0
    copy = connection.vendor == "postgresql"
    for chain in sorted(by_chain):
        rows = by_chain[chain]
        seq, previous = _lock_head(chain)
        if copy and len(rows) > _FEW:
            seq, previous = _copy_hashed(rows, seq, previous, now)
        else:
            out = []
            for row in rows:
                seq += 1
                row = {**row, "seq": seq, "at": row["at"] or now}
                previous = content_hash(previous, row)
                row["hash"] = previous
                out.append(tuple(_db_value(name, row[name]) for name in _COLUMNS))
            insert_values(AuditEvent, _COLUMNS, out) if len(out) <= _FEW else insert_rows(AuditEvent, _COLUMNS, out)
        AuditChain.objects.filter(chain=chain).update(seq=seq, last_hash=previous)
        written += len(rows)
    return written


# COPY's text format: a backslash, tab, newline or carriage return inside a value is escaped. The text
# columns of a line are joined with NUL (which no PostgreSQL text can hold) and escaped in one
# ``translate`` that also turns each NUL into the tab between columns.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\t"})
# Numbers and fixed-form text first (nothing to escape), then the free text.
_COPY_COLUMNS = ("seq", "chain", "service_id", "account_id", "subject_id", "actor_id", "at", "hash", "action",
                 "account_name", "account_path", "subject_type", "subject_name", "actor_name", "before", "after",
                 "reason")


def _copy_hashed(rows: list[dict], seq: int, previous: str, now: datetime) -> tuple[int, str]:
    """Hash ``rows`` after (seq, previous) and send them with one text ``COPY`` (PostgreSQL): each event's
    content text is ``content_text``'s, built from its parts (the before/after JSON is written once and
    serves both the digest and the column). Returns the chain's new (seq, last hash)."""
    sha256, encode, escapes = hashlib.sha256, _pg_json, _COPY_ESCAPES
    times: dict = {}
    texts: dict = {}  # ``before`` objects shared between events (alive for the whole call): encoded once

    def number(value) -> str:
        return "\\N" if value is None else str(value)

    lines = []
    for row in rows:
        seq += 1
        at = row["at"] or now
        at_text = times.get(at)
        if at_text is None:
            at_text = times[at] = plain(at)
        before = row["before"]
        before_text = texts.get(id(before))
        if before_text is None:
            before_text = texts[id(before)] = encode(_jsonb_order(before))
        after_text = encode(_jsonb_order(row["after"]))
        head = encode([row["chain"], at_text, row["action"], row["service_id"], row["account_id"],
                       row["account_name"], row["account_path"], row["subject_type"], row["subject_id"],
                       row["subject_name"], row["actor_id"], row["actor_name"]])
        text = f"{head[:-1]}, {before_text}, {after_text}, {encode(row['reason'])}]"
        previous = sha256(f"{previous}|{seq}|{sha256(text.encode()).hexdigest()}".encode()).hexdigest()
        lines.append(
            f"{seq}\t{row['chain']}\t{number(row['service_id'])}\t{number(row['account_id'])}\t"
            f"{number(row['subject_id'])}\t{number(row['actor_id'])}\t{at_text}\t{previous}\t"
            + "\0".join((row["action"], row["account_name"], row["account_path"], row["subject_type"],
                         row["subject_name"], row["actor_name"], before_text, after_text,
                         row["reason"])).translate(escapes))
    lines.append("")
    with connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY {AuditEvent._meta.db_table} ({', '.join(_COPY_COLUMNS)}) FROM STDIN") as copy:
        copy.write("\n".join(lines))
    return seq, previous


def iso_sql(expression: str) -> str:
    """SQL for a ``timestamptz`` as ``plain`` writes a time: UTC ISO 8601, microseconds only when there are
    some (``2026-12-03T09:00:00+00:00``, ``2026-12-03T09:00:00.250000+00:00``)."""
    return (f"(to_char({expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') "
            f"|| CASE WHEN date_part('microseconds', {expression})::bigint %% 1000000 = 0 THEN '' "
            f"ELSE to_char({expression} AT TIME ZONE 'UTC', '.US') END || '+00:00')")


def digest_sql(content: str) -> str:
    """SQL for an event's digest over ``content`` (its ``_CONTENT`` expressions, ``at`` through ``iso_sql``,
    ``before``/``after`` as ``jsonb``): the SHA-256 of the text ``content_text`` writes.

    That text is ``jsonb_build_array(…)::text``'s. ``json_build_array`` prints the same bytes for these
    arguments — ``", "`` between items, strings escaped by the same routine, a ``jsonb`` argument by ``jsonb``'s
    own output — without building a ``jsonb`` value first and printing it again (0.41 s instead of 0.72 s for
    100,000 events; ``tests/accounts/test_audit_hash.py`` holds the two and Python's text equal)."""
    return f"encode(sha256(convert_to(json_build_array({content})::text, 'UTF8')), 'hex')"


def chain_ctes(source: str) -> str:
    """The CTEs that record the rows of the statement's CTE ``source`` as events, for a set-based job whose
    statement writes its own trail (the sweep's batch) and for ``record_select``. ``source`` yields one row
    per event with the columns ``ord`` (the event's place in its chain's batch: 1, 2, 3… within each chain,
    ``row_number() OVER (PARTITION BY chain ORDER BY …)``) and every name of ``_CONTENT`` (``at`` a
    ``timestamptz``, ``before``/``after`` ``jsonb``).

    ``audit_heads`` takes the chains' heads (created at 0 the first time, locked in ascending order, held until
    commit as ``_lock_head`` holds one); each row's number is its head's plus its ``ord`` (``move_heads`` refuses
    a batch whose numbers are not consecutive), and the rows are hashed in order by the
    ``audit_chain_hash`` aggregate (migration ``accounts 0011``: ``link`` over ``digest_sql``, the digest of
    the text ``content_text`` writes); ``audit_written`` inserts them. The
    statement's final SELECT reads ``CHAIN_SUMMARY`` and hands it to ``move_heads``."""
    content = ", ".join(iso_sql("s.at") if name == "at" else f"s.{name}" for name in _CONTENT)
    columns = ", ".join(_CONTENT)
    chains, events = AuditChain._meta.db_table, AuditEvent._meta.db_table
    return f"""audit_src AS MATERIALIZED (
    SELECT s.*, {digest_sql(content)} AS digest
    FROM {source} s
), audit_heads AS (
    INSERT INTO {chains} (chain, seq, last_hash)
    SELECT DISTINCT chain, 0, '' FROM audit_src ORDER BY chain
    ON CONFLICT (chain) DO UPDATE SET seq = {chains}.seq
    RETURNING chain, seq, last_hash
), audit_hashed AS MATERIALIZED (
    SELECT s.*, h.seq AS head_seq, h.seq + s.ord AS seq_no,
           audit_chain_hash(h.last_hash, h.seq + s.ord, s.digest)
           OVER (PARTITION BY s.chain ORDER BY s.ord ROWS UNBOUNDED PRECEDING) AS link
    FROM audit_src s JOIN audit_heads h ON h.chain = s.chain
), audit_written AS (
    INSERT INTO {events} (seq, {columns}, hash)
    SELECT seq_no, {columns}, link FROM audit_hashed ORDER BY chain, seq_no
)"""


# The written events per (chain, action) with their first and last numbers and the last hash, as one ``jsonb``
# array of ``[chain, action, count, last seq, last hash, first seq, the head's seq before]`` (NULL when nothing
# was written): ``move_heads`` reads it.
CHAIN_SUMMARY = """(SELECT jsonb_agg(jsonb_build_array(chain, action, n, last_seq, last_hash, first_seq, head_seq))
    FROM (SELECT chain, action, count(*) AS n, max(seq_no) AS last_seq,
                 (array_agg(link ORDER BY seq_no DESC))[1] AS last_hash, min(seq_no) AS first_seq,
                 min(head_seq) AS head_seq
          FROM audit_hashed GROUP BY chain, action) audit_summary)"""


def move_heads(summary: list | None) -> Counter:
    """Move the heads of the chains a ``chain_ctes`` statement wrote to (its ``CHAIN_SUMMARY``, decoded or as
    text): one UPDATE
    (a head the statement locked by its upsert cannot be updated again in the same statement). Returns the
    number of events per (chain, action)."""
    if isinstance(summary, str):  # Django reads ``jsonb`` as its text (JSONField decodes it itself)
        summary = json.loads(summary)
    counts: Counter = Counter()
    heads: dict[int, tuple[int, str]] = {}
    spans: dict[int, list[int]] = {}  # chain → [events, first seq, last seq, the head's seq before]
    for chain, action, number, last_seq, last_hash, first_seq, head_seq in summary or ():
        counts[(chain, action)] += number
        if chain not in heads or last_seq > heads[chain][0]:
            heads[chain] = (last_seq, last_hash)
        span = spans.setdefault(chain, [0, first_seq, last_seq, head_seq])
        span[0], span[1], span[2] = span[0] + number, min(span[1], first_seq), max(span[2], last_seq)
    for chain, (number, first, last, head) in spans.items():
        if first != head + 1 or last != head + number:  # a source whose ``ord`` is not 1, 2, 3… in each chain
            raise RuntimeError(f"audit chain {chain}: {number} events numbered {first}–{last} after {head}; "
                               "chain_ctes needs ord = 1, 2, 3… within each chain.")
    if heads:
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {AuditChain._meta.db_table} c SET seq = h.seq, last_hash = h.hash "
                f"FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS h(chain, seq, hash) WHERE c.chain = h.chain",
                [array_literal(list(heads)), array_literal([seq for seq, _ in heads.values()]),
                 array_literal([last for _, last in heads.values()])])
    return counts


def record_select(select_sql: str, params) -> Counter:
    """Record the events a SELECT yields (the columns ``chain_ctes`` reads), without them leaving the
    database (PostgreSQL). Two statements, whatever the number of events and chains: ``chain_ctes``'s,
    then ``move_heads``. Returns the number of events per (chain, action)."""
    if not connection.in_atomic_block:  # the heads' locks must be held until the events commit
        raise RuntimeError("audit.record_select runs inside the operation's transaction (transaction.atomic).")
    with connection.cursor() as cursor:
        cursor.execute(f"WITH selected AS ({select_sql}), {chain_ctes('selected')} SELECT {CHAIN_SUMMARY}", params)
        summary = cursor.fetchone()[0]
    return move_heads(summary)


def _db_value(name: str, value):
    if name in ("before", "after"):
        return json.dumps(value, ensure_ascii=False)
    return value


def _lock_head(chain: int) -> tuple[int, str]:
    """Take the chain's head row (created at 0 the first time) and hold its lock until commit."""
    table = AuditChain._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (chain, seq, last_hash) VALUES (%s, 0, '') "
            f"ON CONFLICT (chain) DO UPDATE SET seq = {table}.seq RETURNING seq, last_hash", [chain])
        seq, last_hash = cursor.fetchone()
    return seq, last_hash


def verify_chains(chains: Iterable[int] | None = None, *, batch: int = 20_000) -> list[tuple[int, int, int | None]]:
    """Recompute every chain. Returns (chain, events checked, id of the first event that does not match
    or None) per chain; a chain's head must name its last event's number and hash."""
    heads = {c.chain: c for c in AuditChain.objects.all()}
    if chains is None:
        chains = sorted(set(heads) | set(AuditEvent.objects.order_by().values_list("chain", flat=True).distinct()))
    results = []
    for chain in chains:
        previous, expected_seq, checked, bad = "", 0, 0, None
        last_seq = 0
        while bad is None:
            rows = list(AuditEvent.objects.filter(chain=chain, seq__gt=last_seq).order_by("seq")
                        .values("id", "seq", "hash", *_CONTENT)[:batch])
            if not rows:
                break
            for row in rows:
                expected_seq += 1
                if row["seq"] != expected_seq or content_hash(previous, row) != row["hash"]:
                    bad = row["id"]
                    break
                previous = row["hash"]
                checked += 1
            last_seq = rows[-1]["seq"]
        head = heads.get(chain)
        if bad is None and head is not None and (head.seq != expected_seq or head.last_hash != previous):
            bad = AuditEvent.objects.filter(chain=chain).order_by("-seq").values_list("id", flat=True).first()
            bad = bad or 0
        results.append((chain, checked, bad))
    return results
