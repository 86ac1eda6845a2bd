"""Generating codes, in the request or in the background (SPEC §8.5; issue 15)."""

import gc
import secrets
from contextlib import contextmanager
from datetime import datetime

from django.db import connection, transaction
from django.db.models import BigIntegerField, F, Value, signals
from django.db.models.base import ModelState
from django.db.models.functions import JSONObject
from django.utils.formats import number_format
from django.utils.translation import gettext

from apps.accounts import audit, rights
from apps.accounts.models import Account
from apps.accounts.operations import actor_name, require_not_blocked
from apps.core import clock
from apps.core.errors import DoesNotExist, DomainError, Forbidden, InvalidInput
from apps.core.scoping import is_platform

from .. import bulk, pg
from ..models import (MAX_BATCH, MAX_VALIDITY_DAYS, ActivationCode, CodeAction, CodeEvent, CodeStatus,
                     branch_of)
from ._common import _actor_path, _event_select, _require_codes_billing


GENERATE_BATCH = 5_000  # codes per batch: one statement on PostgreSQL, an INSERT per table (and kind) elsewhere


def _check_share_target(actor, target: Account | None, *, service_id: int, holder_path: str) -> Account:
    """SPEC §8.5: the target has dealer rights, lies strictly below the actor's account and inside the
    holder's subtree."""
    if target is None or target.service_id != service_id:
        raise DoesNotExist.field("account")
    actor_path = _actor_path(actor, service_id)
    if not target.path.startswith(actor_path):
        raise DoesNotExist.field("account")
    if target.path == actor_path or target.is_top:
        raise InvalidInput.field("account", gettext("Share with an account below your own."))
    if not target.dealer_rights:
        raise InvalidInput.field("account", gettext("Codes are shared only with accounts that have dealer rights."))
    if not target.path.startswith(holder_path):
        raise Forbidden(gettext("The code is held by another branch; take it back there first."),
                        code="outside_branch")
    return target


def generate_codes(*, actor, service: Account, quantity, validity_days, shared_with: Account | None = None,
                   now: datetime | None = None) -> list[ActivationCode]:
    """Create ``quantity`` new codes (1–100,000) of ``validity_days`` (1–3,650), optionally shared.

    Codes come from ``secrets`` (a cryptographic source). No ledger row: codes are paid for outside.
    Per batch of 5,000 codes: on PostgreSQL one statement writes the codes and their events
    (``pg.GENERATE_BATCH_SQL``), elsewhere an INSERT for the codes and one per kind of event.
    """
    now = now or clock.now()
    _check_generation_request(actor, service, quantity, validity_days)
    with transaction.atomic():
        service = Account.objects.select_for_update().get(pk=service.pk)
        _require_codes_billing(service)
        top_path = service.path
        if shared_with is not None:
            shared_with = _check_share_target(actor, shared_with, service_id=service.pk, holder_path=top_path)
        holder_path = shared_with.path if shared_with else top_path
        template = {"service_id": service.pk, "validity_days": validity_days, "created_at": now,
                    "shared_with_id": getattr(shared_with, "pk", None), "holder_path": holder_path,
                    "holder_branch": branch_of(holder_path), "status": CodeStatus.NEW, "activated_at": None,
                    "expires_at": None, "unit_id": None, "cleared_at": None, "queued_on_id": None}
        insert_batch = _generate_batch()
        # In key order: consecutive rows go to neighbouring pages of the unique index on the code.
        texts = sorted(_new_code_texts(quantity))
        written = []  # (code, id)
        for start in range(0, quantity, GENERATE_BATCH):
            written += insert_batch(texts[start:start + GENERATE_BATCH], template, actor=actor, top_path=top_path,
                                    shared_with=shared_with, now=now)
        # One audit event for the batch, with its counts (the code log has one row per code).
        holder = shared_with or service
        audit.record("codes_generated", actor=actor, subject_type="code", subject_name=f"{quantity} × {validity_days} d",
                     account=holder, after={"quantity": quantity, "validity_days": validity_days,
                                            "shared_with": shared_with.name if shared_with else None}, now=now)
    return _loaded_codes(written, template, db_alias=ActivationCode.objects.db)


def _generate_batch():
    """The function writing one batch of new codes and their events, for the database in use."""
    return _insert_generated_pg if connection.vendor == "postgresql" else _insert_generated_orm


def _new_code_texts(quantity: int) -> list[str]:
    """``quantity`` codes of 32 lowercase hex characters (128 bits each), from one call to ``secrets``."""
    raw = secrets.token_hex(16 * quantity)
    return [raw[i:i + 32] for i in range(0, 32 * quantity, 32)]


def _loaded_codes(written: list[tuple[str, int]], template: dict, *, db_alias: str) -> list[ActivationCode]:
    """The new codes as model instances, in the state ``Model.from_db`` leaves a loaded row in: every
    field but the id and the code is the same, so each instance is one dict copy rather than a
    call to ``__init__`` (a third of the time for 100,000 codes; nothing listens to ``post_init``
    on codes — if something ever does, the instances go through ``from_db``)."""
    if signals.post_init.has_listeners(ActivationCode):
        attnames = [f.attname for f in ActivationCode._meta.concrete_fields]
        return [ActivationCode.from_db(db_alias, attnames, [
            {**template, "id": pk, "code": text}[name] for name in attnames]) for text, pk in written]
    new, codes = ActivationCode.__new__, []
    with _gc_paused():
        for text, pk in written:
            state = ModelState()
            state.adding, state.db = False, db_alias
            code = new(ActivationCode)
            code.__dict__.update(template, id=pk, code=text, _state=state)
            codes.append(code)
    return codes


@contextmanager
def _gc_paused():
    """No cyclic garbage collection while a block makes many objects that all stay alive: each
    collection would walk them again (half the time of building 100,000 codes). Reference
    counting goes on; the collector resumes after the block."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _insert_generated_orm(texts: list[str], template: dict, *, actor, top_path: str, shared_with: Account | None,
                          now: datetime) -> list[tuple[str, int]]:
    """One batch of new codes and their events (every backend): the codes, then the events with
    ``INSERT … SELECT`` from the rows just written. Returns (code, id) pairs."""
    ids = bulk.insert_keyed(ActivationCode, "code", texts, template)
    written = ActivationCode.objects.filter(bulk.ids_condition(ActivationCode, list(ids.values())))
    bulk.insert_select(CodeEvent, _event_select(
        written, CodeAction.GENERATED, at=now, actor=actor, holder_before="", holder_after=top_path,
        before=JSONObject(), after=JSONObject(validity_days=F("validity_days"))))
    if shared_with is not None:
        bulk.insert_select(CodeEvent, _event_select(
            written, CodeAction.SHARED, at=now, actor=actor, holder_before=top_path,
            holder_after=template["holder_path"],
            before=JSONObject(shared_with=Value(None, output_field=BigIntegerField())),
            after=JSONObject(shared_with=F("shared_with_id"), shared_with_name=Value(shared_with.name))))
    return list(ids.items())


def _insert_generated_pg(texts: list[str], template: dict, *, actor, top_path: str, shared_with: Account | None,
                         now: datetime) -> list[tuple[str, int]]:
    """One batch of new codes and their events in one statement (PostgreSQL). Returns (code, id) pairs."""
    sql, params = pg.generate_batch(texts, template, actor_id=getattr(actor, "pk", None), actor_name=actor_name(actor),
                                    top_path=top_path, now=now,
                                    shared_name=shared_with.name if shared_with is not None else None)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


GENERATION_JOB_CHUNK = GENERATE_BATCH  # codes per transaction of a job (the progress page moves by these)


def _check_generation_request(actor, service: Account | None, quantity, validity_days) -> None:
    """Who may generate, for which service, how many and for how long: asked by ``generate_codes`` and by
    ``queue_generation`` before a job is made."""
    if not rights.may_generate_codes(actor):
        raise Forbidden(gettext("Only top users and the platform operator generate codes."), code="permission_denied")
    require_not_blocked(actor)
    if service is None or not service.is_top or (not is_platform(actor) and actor.account_id != service.pk):
        raise DoesNotExist.field("service")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_BATCH:
        raise InvalidInput.field("quantity", gettext("A whole number from %(minimum)s to %(maximum)s.") % {
            "minimum": 1, "maximum": number_format(MAX_BATCH, force_grouping=True)})
    if (not isinstance(validity_days, int) or isinstance(validity_days, bool)
            or not 1 <= validity_days <= MAX_VALIDITY_DAYS):
        raise InvalidInput.field("validity_days", gettext("A whole number of days from 1 to %(maximum)s.") % {
            "maximum": number_format(MAX_VALIDITY_DAYS, force_grouping=True)})


def _check_generation(actor, service: Account | None, quantity, validity_days, shared_with: Account | None):
    """The refusals of ``generate_codes`` before any code is written (the same messages and fields)."""
    _check_generation_request(actor, service, quantity, validity_days)
    _require_codes_billing(service)
    if shared_with is not None:
        _check_share_target(actor, shared_with, service_id=service.pk, holder_path=service.path)


def queue_generation(*, actor, service: Account, quantity, validity_days, shared_with: Account | None = None,
                     now: datetime | None = None):
    """Check a batch as ``generate_codes`` would and record it as a ``CodeGenerationJob``; its task is
    sent once the job is committed. Returns the job."""
    from ..models import CodeGenerationJob
    from ..tasks import run_generation_job

    now = now or clock.now()
    _check_generation(actor, service, quantity, validity_days, shared_with)
    with transaction.atomic():
        job = CodeGenerationJob.objects.create(actor=actor, service=service, quantity=quantity,
                                               validity_days=validity_days, shared_with=shared_with, created_at=now)
        transaction.on_commit(lambda: run_generation_job.delay(job.pk))
    return job


def run_generation_job(job_id: int) -> str:
    """Generate a job's codes chunk by chunk. Each chunk locks the job row, reads how many are done,
    writes at most the rest (``generate_codes`` with the job's instant) and adds them to ``done`` in the
    same transaction: two runs at once, or a run after a worker died mid-way, never generate a code too
    many and end with exactly ``quantity``. Answers the job's final state."""
    from ..models import CodeGenerationJob

    State = CodeGenerationJob.State
    while True:
        with transaction.atomic():
            job = (CodeGenerationJob.objects.select_for_update(of=("self",))
                   .select_related("actor", "service", "shared_with")
                   .filter(pk=job_id).first())
            if job is None:
                return "missing"
            if job.state in (State.DONE, State.FAILED):
                return job.state
            remaining = job.quantity - job.done
            if remaining <= 0:
                CodeGenerationJob.objects.filter(pk=job.pk).update(state=State.DONE, finished_at=clock.now())
                return State.DONE
            size = min(remaining, GENERATION_JOB_CHUNK)
            try:
                generate_codes(actor=job.actor, service=job.service, quantity=size, validity_days=job.validity_days,
                               shared_with=job.shared_with, now=job.created_at)
            except DomainError as exc:
                CodeGenerationJob.objects.filter(pk=job.pk).update(
                    state=State.FAILED, finished_at=clock.now(),
                    message=(gettext("Stopped after %(done)s of %(total)s codes: %(reason)s") % {
                        "done": f"{job.done:,}", "total": f"{job.quantity:,}", "reason": exc.detail})[:500])
                return State.FAILED
            done = job.done + size
            CodeGenerationJob.objects.filter(pk=job.pk).update(
                done=done, state=State.DONE if done >= job.quantity else State.RUNNING,
                finished_at=clock.now() if done >= job.quantity else None)
            if done >= job.quantity:
                return State.DONE
