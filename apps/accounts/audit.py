"""The one audit trail (SPEC §9.2, §9.8): ``record`` for one event, ``record_many`` for a batch.

Every operation calls one of them inside its own transaction, as the last thing it does (the chain's
row lock is then held for the shortest time and always taken after the operation's own locks).

The chain: the events of one service (``chain`` = its top account's id; 0 for writes with no service)
are numbered 1, 2, 3… and each stores ``hash = sha256(previous hash + canonical content)``. A writer takes
the chain's head row with one ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` (the row lock serialises the
writers of one service until they commit: concurrent writers never fork the chain), inserts its events
(one statement, ``COPY`` on PostgreSQL), and moves the head (one UPDATE): three statements a chain,
whatever the number of events. ``verify_chains`` recomputes every hash in ``seq`` order.

Values: before/after hold field names and plain values (names as they were, numbers, ISO dates, decimal
strings), never sentences and never ids where a name exists; a field whose value did not change is
left out (``changes``).
"""

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Model

from apps.core import clock
from apps.core.bulk import insert_rows, insert_values

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


# The canonical text of an event, as ``json.dumps(…, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
# with one encoder built once (``json.dumps`` with options builds a new encoder per call).
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def content_hash(previous: str, row: dict) -> str:
    """SHA-256 over the previous hash and the event's content (canonical JSON, keys sorted)."""
    body = {name: row[name] for name in _CONTENT}
    body["seq"] = row["seq"]
    body["at"] = plain(row["at"])
    return hashlib.sha256(f"{previous}|{_canonical(body)}".encode()).hexdigest()


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
_CONTENT_KEYS = frozenset(_CONTENT)
# Numbers and fixed-form text first (nothing to escape), then the free text.
_COPY_COLUMNS = ("seq", "chain", "service_id", "account_id", "subject_id", "actor_id", "at", "hash", "action",
                 "account_name", "account_path", "subject_type", "subject_name", "actor_name", "before", "after",
                 "reason")


def _copy_hashed(rows: list[dict], seq: int, previous: str, now: datetime) -> tuple[int, str]:
    """Hash ``rows`` after (seq, previous) and send them with one text ``COPY`` (PostgreSQL): the canonical
    text of each event is the one ``content_hash`` reads. Returns the chain's new (seq, last hash)."""
    sha256, canonical, escapes = hashlib.sha256, _canonical, _COPY_ESCAPES
    times: dict = {}
    texts: dict = {}  # JSON values shared between events (the same dict object): encoded once

    def number(value) -> str:
        return "\\N" if value is None else str(value)

    lines = []
    for row in rows:
        seq += 1
        at = row["at"] or now
        at_text = times.get(at)
        if at_text is None:
            at_text = times[at] = plain(at)
        body = dict(row) if row.keys() == _CONTENT_KEYS else {name: row[name] for name in _CONTENT}
        body["seq"], body["at"] = seq, at_text
        previous = sha256(f"{previous}|{canonical(body)}".encode()).hexdigest()
        before, after = row["before"], row["after"]
        before_text = texts.get(id(before))
        if before_text is None:
            before_text = texts[id(before)] = canonical(before)
        lines.append(
            f"{seq}\t{row['chain']}\t{number(row['service_id'])}\t{number(row['account_id'])}\t"
            f"{number(row['subject_id'])}\t{number(row['actor_id'])}\t{at_text}\t{previous}\t"
            + "\0".join((row["action"], row["account_name"], row["account_path"], row["subject_type"],
                         row["subject_name"], row["actor_name"], before_text, canonical(after),
                         row["reason"])).translate(escapes))
    lines.append("")
    with connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY {AuditEvent._meta.db_table} ({', '.join(_COPY_COLUMNS)}) FROM STDIN") as copy:
        copy.write("\n".join(lines))
    return seq, previous


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
