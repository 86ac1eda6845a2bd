"""The jobs: expire due codes and clear expired ones."""

from datetime import datetime

from django.db import connection, transaction
from django.db.models import BigIntegerField, F, OuterRef, Subquery, Value
from django.db.models.functions import JSONObject

from apps.accounts import audit
from apps.accounts.models import Account, BillingMethod
from apps.accounts.operations import actor_name
from apps.core import clock
from apps.units.models import DeactivationReason, Unit

from .. import bulk, pg
from ..models import DAY, ActivationCode, CodeAction, CodeEvent, CodeStatus
from ._common import _event_select


SWEEP_BATCH = 10_000  # rows per transaction in the jobs (and ids per IN list: below every driver's limit)


# Codes per transaction of the sweep's one-statement batch on PostgreSQL (no id lists travel). Due codes
# lie anywhere in the table: a batch dirties pages all over it, and smaller batches come back to the
# same pages once each (10,000: 1.4× the time of one statement for 100,000 codes; 50,000: 1.0–1.2×).
EXPIRE_BATCH_PG = 50_000


def _lock_due_batch(now: datetime, service_id: int | None = None) -> list[tuple[int, int | None, datetime]]:
    """(code id, unit id, expires_at) of the next due codes nobody else holds, locked."""
    qs = ActivationCode.objects.filter(status=CodeStatus.ACTIVE, expires_at__lte=now)
    if service_id is not None:
        qs = qs.filter(service_id=service_id)
    return list(qs.select_for_update(skip_locked=True).order_by("expires_at", "id")
                .values_list("pk", "unit_id", "expires_at")[:SWEEP_BATCH])


def _expire_batch_orm(now: datetime, service_id: int | None, after, counts: dict | None = None) -> tuple[int, None]:
    """One batch of ``SWEEP_BATCH`` codes with the ORM (every backend): lock the due codes, the codes
    queued on their units and the governed units (those without a queued code), write the events with
    ``INSERT … SELECT``, update the units and the codes, start the queued codes at their old code's
    expiry. Nine statements at most; the ids travel through Python. Always from the oldest expiry
    (no cursor)."""
    due = _lock_due_batch(now, service_id)
    if not due:
        return 0, None
    batch = ActivationCode.objects.filter(bulk.ids_condition(ActivationCode, [pk for pk, _, _ in due]))
    unit_ids = [unit_id for _, unit_id, _ in due if unit_id is not None]
    # unit → (queued code, validity): these units run on without a gap instead of going dark.
    queued = {unit_id: (pk, days) for unit_id, pk, days in ActivationCode.objects.select_for_update(of=("self",))
              .filter(bulk.in_condition(ActivationCode, "queued_on", unit_ids), status=CodeStatus.QUEUED)
              .values_list("queued_on_id", "pk", "validity_days")} if unit_ids else {}
    governed = [pk for pk in Unit.objects.select_for_update(of=("self",)).filter(
        bulk.ids_condition(Unit, unit_ids), active=True,
        service__billing_method=BillingMethod.ACTIVATION_CODES).values_list("pk", flat=True) if pk not in queued]
    governed_set = set(governed)
    expired_rows = _expired_trail_rows([pk for pk, _, _ in due])
    bulk.insert_select(CodeEvent, _event_select(
        batch, CodeAction.EXPIRED, at=now, before=JSONObject(status=Value(CodeStatus.ACTIVE)),
        after=JSONObject(status=Value(CodeStatus.EXPIRED), expires_at=F("expires_at"))))
    if governed:
        # The governed units are locked and still active: the join finds exactly them.
        bulk.insert_select(CodeEvent, _event_select(
            batch.filter(unit__active=True, service__billing_method=BillingMethod.ACTIVATION_CODES)
            .exclude(unit_id__in=list(queued)),
            CodeAction.UNIT_DEACTIVATED, at=now, unit_event=True,
            before=JSONObject(active=Value(True)),
            after=JSONObject(active=Value(False), reason=Value(DeactivationReason.CODE_EXPIRED))))
        Unit.objects.filter(bulk.ids_condition(Unit, governed)).update(
            active=False, deactivated_at=now, deactivation_reason=DeactivationReason.CODE_EXPIRED)
    batch.update(status=CodeStatus.EXPIRED)
    renewed_rows = []
    if queued:
        _renew_batch_orm(queued, {unit_id: at for _, unit_id, at in due if unit_id is not None}, now=now)
        old_codes = {row[3]: row[1] for row in expired_rows}
        renewed_rows = _renewed_trail_rows([pk for pk, _ in queued.values()], old_codes)
    off = {row[0] for row in expired_rows if row[3] in governed_set}
    _sweep_trail(expired_rows, renewed_rows, off, now=now, counts=counts)
    return len(due), None


def _renew_batch_orm(queued: dict[int, tuple[int, int]], ends: dict[int, datetime], *, now: datetime):
    """Start the locked queued codes ({unit: (code, validity)}) at their units' old expiry (``ends``), once
    the old codes are expired, and log a ``renewed`` event each (before: the old code)."""
    bulk.update_rows(ActivationCode, ["status", "unit", "queued_on", "activated_at", "expires_at"], [
        (CodeStatus.ACTIVE, unit_id, None, ends[unit_id], ends[unit_id] + days * DAY, pk)
        for unit_id, (pk, days) in queued.items()])
    renewed = ActivationCode.objects.filter(bulk.ids_condition(ActivationCode, [pk for pk, _ in queued.values()]))
    # The old code: expired on the same unit at the very instant the renewed one started.
    old_code = ActivationCode.objects.filter(unit_id=OuterRef("unit_id"), status=CodeStatus.EXPIRED,
                                             expires_at=OuterRef("activated_at")).values("code")[:1]
    bulk.insert_select(CodeEvent, _event_select(
        renewed, CodeAction.RENEWED, at=now, before=JSONObject(code=Subquery(old_code)),
        after=JSONObject(status=Value(CodeStatus.ACTIVE), unit=F("unit_id"), activated_at=F("activated_at"),
                         expires_at=F("expires_at"))))


SWEEP_JOB = "expire_codes"


SWEEP_WORK_MEM = "64MB"


def _expired_trail_rows(ids) -> list[tuple]:
    """(id, code, service, unit, unit name, account id, name, path or holder path, expires_at) by code id,
    read before the batch expires them (the ORM path's trail; PostgreSQL derives it in ``pg._BATCH_TRAIL``)."""
    if not ids:
        return []
    return [(*row[:7], row[7] or row[8], row[9]) for row in ActivationCode.objects.filter(
        bulk.ids_condition(ActivationCode, sorted(ids))).order_by("pk").values_list(
        "pk", "code", "service_id", "unit_id", "unit__name", "unit__account_id", "unit__account__name",
        "unit__account__path", "holder_path", "expires_at")]


def _renewed_trail_rows(ids, old_codes: dict) -> list[tuple]:
    """The started queued codes' rows for ``_sweep_trail``, each with the code it replaces ({unit: code})."""
    if not ids:
        return []
    return [(*row[:8], old_codes.get(row[3]), row[8], row[9]) for row in ActivationCode.objects.filter(
        bulk.ids_condition(ActivationCode, sorted(ids))).order_by("pk").values_list(
        "pk", "code", "service_id", "unit_id", "unit__name", "unit__account_id", "unit__account__name",
        "unit__account__path", "activated_at", "expires_at")]


def _sweep_trail(expired: list, renewed: list, off: set, *, now: datetime, counts: dict | None) -> None:
    """The audit trail of one sweep batch: one ``code_expired`` event per code (with the unit it switched
    off) and one ``code_renewed`` per queued code started; rows as the batch statement returns them.
    Hashed in order under each service chain's lock by ``record_many`` (three statements a service)."""
    holders = {int(row[7].strip("/").split("/")[-1]) for row in expired if row[5] is None and row[7]}
    names = dict(Account.objects.filter(pk__in=holders).values_list("pk", "name")) if holders else {}
    events = []
    before = {"status": "active"}  # one object for the batch: encoded once by ``record_many``
    for pk, code, service_id, _unit_id, unit_name, account_id, account_name, path, expires_at in expired:
        if account_id is None and path:
            account_id = int(path.strip("/").split("/")[-1])
            account_name = names.get(account_id, "")
        after = {"status": "expired", "expires_at": audit.plain(expires_at)}
        if pk in off:
            after["unit_deactivated"] = unit_name
        events.append({
            "chain": service_id, "at": now, "action": "code_expired", "service_id": service_id,
            "account_id": account_id, "account_name": account_name or "", "account_path": path or "",
            "subject_type": "code", "subject_id": pk, "subject_name": code, "actor_id": None,
            "actor_name": SWEEP_JOB, "before": before, "after": after, "reason": ""})
    for pk, code, service_id, _unit_id, unit_name, account_id, account_name, path, old, start, end in renewed:
        events.append({
            "chain": service_id, "at": now, "action": "code_renewed", "service_id": service_id,
            "account_id": account_id, "account_name": account_name or "", "account_path": path or "",
            "subject_type": "code", "subject_id": pk, "subject_name": code, "actor_id": None,
            "actor_name": SWEEP_JOB, "before": {"status": "queued"},
            "after": {"status": "active", "unit": unit_name, "replaces": old, "activated_at": audit.plain(start),
                      "expires_at": audit.plain(end)}, "reason": ""})
    if counts is not None:
        for row in expired:
            counts[row[2]] = counts.get(row[2], 0) + 1
    audit.record_many(events, now=now)


def _expire_batch_pg(now: datetime, service_id: int | None, after, counts: dict | None = None) -> tuple[int, tuple | None]:
    """One batch of the sweep in one statement (PostgreSQL). ``after`` — the (expires_at, id) where
    the previous batch of this call ended — lets the batch start past the rows this call has already
    expired instead of walking their stale index entries again. Returns (count, where it ended)."""
    sql, params = pg.expire_batch(now=now, limit=EXPIRE_BATCH_PG, service_id=service_id, after=after,
                                  actor_name=actor_name(None), job=SWEEP_JOB)
    with connection.cursor() as cursor:
        # The batch's sorts (the due rows, the code log's events, the trail's) fit in memory: at the default
        # 4MB they spilled to temp files (issue 16). Local to the batch's transaction.
        cursor.execute(*pg.local_work_mem(SWEEP_WORK_MEM))
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return 0, None
    # The statement wrote its audit trail too (``pg._BATCH_TRAIL``); only the chains' new heads come back.
    trail = audit.move_heads(row[3])
    if counts is not None:
        for (chain, action), number in trail.items():
            if action == "code_expired":
                counts[chain] = counts.get(chain, 0) + number
    return row[0], (row[1], row[2])


def _sweep_batches():
    """The sweep's batch function for the database in use, and the size of a full batch."""
    if connection.vendor == "postgresql":
        return _expire_batch_pg, EXPIRE_BATCH_PG
    return _expire_batch_orm, SWEEP_BATCH


def expire_codes(*, now: datetime | None = None, service_id: int | None = None, counts: dict | None = None) -> int:
    """The sweep: expire every due code, deactivate its unit (where codes govern units), log both.

    1. Lock a batch of due codes with SKIP LOCKED (a second worker takes the next batch, never the
       same rows), oldest expiry first.
    2. Expire them, deactivate their active units in services billed by codes, and log an ``expired``
       event per code and a ``unit_deactivated`` event per unit, names read in the database: on
       PostgreSQL one statement per batch of 50,000 (``pg.EXPIRE_BATCH_SQL``), elsewhere six per
       batch of 10,000 (``_expire_batch_orm``); the same rows either way.
    3. Commit and repeat until no due code is left: a worker down for a week just runs more batches.
       PostgreSQL batches continue after the previous one's last expiry; a last pass from the oldest
       expiry picks up codes skipped while another transaction held them.
    Returns the number of codes expired by this call.
    """
    now = now or clock.now()
    expire_batch, full = _sweep_batches()
    total, after = 0, None
    while True:
        with transaction.atomic():
            count, last = expire_batch(now, service_id, after, counts)
        total += count
        if not count and after is None:
            return total
        # A full batch: carry on past it. Otherwise this stretch is done: a pass from the oldest expiry.
        after = last if count == full else None


def clear_expired_codes(*, now: datetime | None = None, counts: dict | None = None) -> int:
    """Daily: take expired codes off their units and out of the window's default view. Rows and events
    stay for the log. Due codes the sweep has not reached are expired first."""
    now = now or clock.now()
    expire_codes(now=now)
    total = 0
    while True:
        with transaction.atomic():
            rows = list(ActivationCode.objects.filter(status=CodeStatus.EXPIRED, cleared_at__isnull=True)
                        .select_for_update(skip_locked=True).order_by("id").values_list("pk", "service_id")[:SWEEP_BATCH])
            if not rows:
                return total
            ids = [pk for pk, _ in rows]
            if counts is not None:
                for _, service_id in rows:
                    counts[service_id] = counts.get(service_id, 0) + 1
            batch = ActivationCode.objects.filter(bulk.ids_condition(ActivationCode, ids))
            bulk.insert_select(CodeEvent, _event_select(
                batch, CodeAction.CLEARED, at=now, before=JSONObject(unit=F("unit_id")),
                after=JSONObject(unit=Value(None, output_field=BigIntegerField()))))
            batch.update(cleared_at=now, unit=None)
            total += len(ids)
