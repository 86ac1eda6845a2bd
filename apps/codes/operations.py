"""Every write on activation codes, the code log and expiry notices (SPEC §4, §8.5).

Each operation runs in one transaction, locks the code (``NOWAIT``: a code another request holds
answers 409 ``code_busy`` at once instead of queueing) and then the unit, validates, writes and
records its events in the same transaction. The jobs (expire, clear, notices) are set-based: a
bounded number of statements per batch, whatever the number of codes, and idempotent through
``SKIP LOCKED`` plus conditional updates, so two workers at once or a week of catch-up end in the
same state.
"""

import gc
import secrets
from collections.abc import Iterable
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import BigIntegerField, DateTimeField, Exists, F, OuterRef, Q, QuerySet, Subquery, Value, signals
from django.db.models.base import ModelState
from django.db.models.functions import Coalesce, JSONObject
from django.utils.translation import gettext

from apps.accounts import audit, rights
from apps.accounts.models import Account, BillingMethod
from apps.accounts.operations import actor_name, require_not_blocked
from apps.accounts.queries import is_blocked
from apps.core import clock
from apps.core.errors import Conflict, DoesNotExist, DomainError, Forbidden, InvalidInput
from apps.core.scoping import is_platform
from apps.units.models import DeactivationReason, Unit
from apps.plans.inheritance import effective_settings

from . import bulk
from .models import (DAY, MAX_BATCH, MAX_VALIDITY_DAYS, ActivationCode, CodeAction, CodeEvent, CodeStatus,
                     ExpiryNotice, NoticeDelivery, NoticeEmail, branch_of)
from .queries import concerned_codes, normalize_code

SWEEP_BATCH = 10_000  # rows per transaction in the jobs (and ids per IN list: below every driver's limit)
# Codes per transaction of the sweep's one-statement batch on PostgreSQL (no id lists travel). Due codes
# lie anywhere in the table: a batch dirties pages all over it, and smaller batches come back to the
# same pages once each (10,000: 1.4× the time of one statement for 100,000 codes; 50,000: 1.0–1.2×).
EXPIRE_BATCH_PG = 50_000
GENERATE_BATCH = 5_000  # codes per batch: one statement on PostgreSQL, an INSERT per table (and kind) elsewhere
CODE_DEACTIVATION_REASONS = (DeactivationReason.NO_CODE, DeactivationReason.CODE_EXPIRED)
# The code log's columns, for the statements written in SQL (PostgreSQL paths of the sweep and generation).
_EVENT_COLUMNS = ("at, action, service_id, actor_id, actor_name, code, code_id, unit_id, unit_name, account_id, "
                  "account_name, account_path, holder_path_before, holder_path_after, before, after")


# --- helpers ------------------------------------------------------------------------------------------

def _event(action: str, *, at: datetime, actor, service_id: int, code: ActivationCode | None = None,
           unit: Unit | None = None, holder_before: str = "", holder_after: str = "",
           before: dict | None = None, after: dict | None = None) -> dict:
    """One code-log row (column → value) with name snapshots; ``unit`` must come with its account."""
    return {
        "at": at, "action": action, "service_id": service_id,
        "actor_id": getattr(actor, "pk", None), "actor_name": actor_name(actor),
        "code": code.code if code else "", "code_id": code.pk if code else None,
        "unit_id": unit.pk if unit else None, "unit_name": unit.name if unit else "",
        "account_id": unit.account_id if unit else None, "account_name": unit.account.name if unit else "",
        "account_path": unit.account.path if unit else "",
        "holder_path_before": holder_before, "holder_path_after": holder_after,
        "before": before or {}, "after": after or {},
    }


def _write_events(events: list[dict]) -> None:
    bulk.insert_rows(CodeEvent, events)
    audit.record_many(_trail_events(events))


_UNIT_ACTIONS = (CodeAction.UNIT_DEACTIVATED, CodeAction.UNIT_ACTIVATED)


def _readable(values: dict, unit_name: str, names: dict[int, str]) -> dict:
    """A code-log value dict for the audit trail: ``x`` + ``x_name`` become the name; a bare unit id
    becomes the unit's name, a bare account id its name (SPEC §9.8: names, not ids)."""
    out = {}
    for key, value in (values or {}).items():
        if key.endswith("_name"):
            continue
        if f"{key}_name" in values:
            value = values[f"{key}_name"]
        elif key == "unit" and isinstance(value, int):
            value = unit_name or str(value)
        elif key == "shared_with" and isinstance(value, int):
            value = names.get(value, str(value))
        out[key] = value
    return out


def _trail_events(events: list[dict]) -> list[dict]:
    """The audit trail's events for code-log rows: subject the code (the unit for unit events), scoped to
    the unit's account, else the code's holder (its account named as it is now)."""
    holders = {int(e["holder_path_after"].strip("/").split("/")[-1]) for e in events
               if not e["account_id"] and e["holder_path_after"]}
    shared = {v for e in events for d in (e["before"], e["after"]) for k, v in (d or {}).items()
              if k == "shared_with" and isinstance(v, int) and f"{k}_name" not in d}
    names = dict(Account.objects.filter(pk__in=holders | shared).values_list("pk", "name")) if holders | shared else {}
    out = []
    for e in events:
        if e["account_id"]:
            account = (e["account_id"], e["account_name"], e["account_path"], e["service_id"])
        elif e["holder_path_after"] or e["holder_path_before"]:
            path = e["holder_path_after"] or e["holder_path_before"]
            holder = int(path.strip("/").split("/")[-1])
            account = (holder, names.get(holder, ""), path, e["service_id"])
        else:
            account = (None, "", "", e["service_id"])
        unit_event = e["action"] in _UNIT_ACTIONS
        before, after = audit.changes(_readable(e["before"], e["unit_name"], names),
                                      _readable(e["after"], e["unit_name"], names))
        reason = after.pop("reason", "") if unit_event else ""
        out.append(audit.event(
            e["action"] if unit_event else f"code_{e['action']}", account_fields=account,
            subject_type="unit" if unit_event else "code", subject_id=e["unit_id"] if unit_event else e["code_id"],
            subject_name=e["unit_name"] if unit_event else e["code"], before=before, after=after,
            reason=reason or "", at=e["at"], actor=_Actor(e["actor_id"], e["actor_name"])))
    return out


class _Actor:
    """An actor as the code log names it (id and name), for ``audit.event``."""

    def __init__(self, pk, name):
        self.pk, self.name = pk, name

    def get_username(self):
        return self.name


def _event_select(codes: QuerySet, action: str, *, at: datetime, before, after, actor=None, unit_event: bool = False,
                  holder_before: str | None = None, holder_after: str | None = None) -> QuerySet:
    """The events of ``action`` for every code in ``codes``, as a SELECT for ``bulk.insert_select``:
    the unit and account names are read in the database, at the moment of the action. The holder
    paths default to the code's own (none for a unit's event)."""
    holder = Value("") if unit_event else F("holder_path")
    columns = {
        "at": Value(at, output_field=DateTimeField()), "action": Value(action), "service_id": F("service_id"),
        "actor_id": Value(getattr(actor, "pk", None), output_field=BigIntegerField()),
        "actor_name": Value(actor_name(actor)),
        "code": F("code"), "code_id": F("id"), "unit_id": F("unit_id"),
        "unit_name": Coalesce(F("unit__name"), Value("")), "account_id": F("unit__account_id"),
        "account_name": Coalesce(F("unit__account__name"), Value("")),
        "account_path": Coalesce(F("unit__account__path"), Value("")),
        "holder_path_before": holder if holder_before is None else Value(holder_before),
        "holder_path_after": holder if holder_after is None else Value(holder_after),
        "before": before, "after": after,
    }
    aliased = {f"{bulk.ALIAS_PREFIX}{name}": expression for name, expression in columns.items()}
    return codes.order_by().annotate(**aliased).values(*aliased)


def _service_path(service_id: int) -> str:
    return f"/{service_id}/"


def _lock_code(code: ActivationCode | int) -> ActivationCode:
    """Lock the code row without waiting: another request holding it means 409 ``code_busy``."""
    pk = code.pk if isinstance(code, ActivationCode) else code
    try:
        return ActivationCode.objects.select_for_update(nowait=True, of=("self",)).select_related("shared_with").get(pk=pk)
    except ActivationCode.DoesNotExist:
        raise DoesNotExist.field("code") from None
    except OperationalError:
        # PostgreSQL's "could not obtain lock" (NOWAIT): a concurrent assignment holds this code.
        raise Conflict("Another request is working on this code; try again.", code="code_busy") from None


def _lock_unit(unit: Unit | int) -> Unit:
    pk = unit.pk if isinstance(unit, Unit) else unit
    try:
        return Unit.objects.select_for_update(of=("self",)).select_related("account").get(
            pk=pk, archived_at__isnull=True)
    except Unit.DoesNotExist:
        raise DoesNotExist.field("unit") from None


def _service(service_id: int) -> Account:
    return Account.objects.get(pk=service_id)


def _require_codes_billing(service: Account):
    if service.billing_method != BillingMethod.ACTIVATION_CODES:
        raise Forbidden("Billing by activation codes is off for this service.", code="billing_by_codes_off")


def _actor_path(actor, service_id: int) -> str:
    """The root of what the actor may reach: its account's path, the service for the platform."""
    return _service_path(service_id) if is_platform(actor) else actor.account.path


def _actor_sees_code(actor, code: ActivationCode) -> bool:
    if is_platform(actor):
        return True
    if actor.account is None or actor.account.service_id != code.service_id:
        return False
    if not rights.may_use_codes_window(actor):
        return False
    return code.holder_path.startswith(actor.account.path)


def _require_window_role(actor):
    if not rights.may_use_codes_window(actor):
        raise Forbidden("Your role may not use the codes window.", code="permission_denied")


def _lock_visible_code(actor, code: ActivationCode | int) -> tuple[ActivationCode, Account]:
    """Lock the code, refuse it like an unknown one when the actor cannot see it, and require billing by
    codes on its service: the common start of every window operation on one code."""
    code = _lock_code(code)
    if not _actor_sees_code(actor, code):
        raise DoesNotExist.field("code")
    service = _service(code.service_id)
    _require_codes_billing(service)
    return code, service


def _require_unit_in_reach(actor, unit: Unit, service_id: int):
    """The unit lies in the actor's subtree and in the code's service (400 otherwise: nothing leaks)."""
    if unit.service_id != service_id and not is_platform(actor):
        raise DoesNotExist.field("unit")
    if not unit.account.path.startswith(_actor_path(actor, unit.service_id)):
        raise DoesNotExist.field("unit")


def _deactivate(unit: Unit, *, reason: str, now: datetime):
    Unit.objects.filter(pk=unit.pk).update(active=False, deactivated_at=now, deactivation_reason=reason)
    unit.active, unit.deactivated_at, unit.deactivation_reason = False, now, reason


def _activate(unit: Unit):
    Unit.objects.filter(pk=unit.pk).update(active=True, deactivated_at=None, deactivation_reason="")
    unit.active, unit.deactivated_at, unit.deactivation_reason = True, None, ""


def _expire_locked(code: ActivationCode, *, service: Account, actor, now: datetime) -> list[CodeEvent]:
    """Expire one locked, due code; start the code queued on its unit at the exact expiry instant, or
    else deactivate the unit where codes govern units. Returns the events."""
    ActivationCode.objects.filter(pk=code.pk).update(status=CodeStatus.EXPIRED)
    code.status = CodeStatus.EXPIRED
    unit = _lock_unit(code.unit_id) if code.unit_id else None
    events = [_event(CodeAction.EXPIRED, at=now, actor=actor, service_id=code.service_id, code=code, unit=unit,
                     holder_before=code.holder_path, holder_after=code.holder_path,
                     before={"status": CodeStatus.ACTIVE}, after={"status": CodeStatus.EXPIRED,
                                                                  "expires_at": code.expires_at.isoformat()})]
    queued = _queued_code_on(unit) if unit is not None else None
    if queued is not None:
        events += _start_queued(queued, unit, starts_at=code.expires_at, old=code, actor=actor, now=now)
    elif unit is not None and unit.active and service.billing_method == BillingMethod.ACTIVATION_CODES:
        _deactivate(unit, reason=DeactivationReason.CODE_EXPIRED, now=now)
        events.append(_event(CodeAction.UNIT_DEACTIVATED, at=now, actor=actor, service_id=code.service_id,
                             code=code, unit=unit, before={"active": True},
                             after={"active": False, "reason": DeactivationReason.CODE_EXPIRED}))
    return events


def _expire_if_due(code: ActivationCode, *, service: Account, actor, now: datetime) -> bool:
    """Expire ``code`` (locked) in the caller's transaction when its time is up; True if it did."""
    if code.status == CodeStatus.ACTIVE and code.expires_at <= now:
        _write_events(_expire_locked(code, service=service, actor=actor, now=now))
        return True
    return False


def _refuse_expired():
    raise InvalidInput("This code has expired and can never be used again.", code="code_expired",
                       fields={"code": ["This code has expired."]})


def _unit_holds_live_code(unit: Unit, *, service: Account, actor, now: datetime, exclude_code_id: int) -> bool:
    """True if the unit holds another live code. A due one the sweep has not reached is expired here,
    in the caller's transaction, so the one-live-code-per-unit index lets the new code in (a code
    queued on the unit starts in its place, and is looked at in turn)."""
    while True:
        current = (ActivationCode.objects.select_for_update().filter(unit=unit, status=CodeStatus.ACTIVE)
                   .exclude(pk=exclude_code_id).first())
        if current is None:
            return False
        if current.expires_at > now:
            return True
        _write_events(_expire_locked(current, service=service, actor=actor, now=now))
        unit.refresh_from_db(fields=["active", "deactivated_at", "deactivation_reason"])


def _put_on_unit(code: ActivationCode, unit: Unit, *, service: Account, actor, now: datetime,
                 action: str, from_unit: Unit | None = None) -> ActivationCode:
    """The common end of assign, apply and reassign: link, start the clock, activate, log."""
    before = {"status": code.status, "unit": from_unit.pk if from_unit else None}
    if code.status == CodeStatus.NEW:
        code.status, code.activated_at = CodeStatus.ACTIVE, now
        code.expires_at = now + code.validity_days * DAY
    code.unit = unit
    try:
        with transaction.atomic():
            ActivationCode.objects.filter(pk=code.pk).update(
                status=code.status, activated_at=code.activated_at, expires_at=code.expires_at, unit=unit)
    except IntegrityError:
        # The partial unique index caught a concurrent assignment to the same unit.
        raise InvalidInput("This unit already holds a live code.", code="unit_has_code",
                           fields={"unit": ["This unit already holds a live code."]}) from None
    after = {"status": code.status, "unit": unit.pk, "activated_at": code.activated_at.isoformat(),
             "expires_at": code.expires_at.isoformat()}
    if from_unit is not None:
        after["unit_name"], before["unit_name"] = unit.name, from_unit.name
    events = [_event(action, at=now, actor=actor, service_id=code.service_id, code=code, unit=unit,
                     holder_before=code.holder_path, holder_after=code.holder_path, before=before, after=after)]
    if not unit.active:
        before_unit = {"active": False, "reason": unit.deactivation_reason}
        _activate(unit)
        events.append(_event(CodeAction.UNIT_ACTIVATED, at=now, actor=actor, service_id=code.service_id,
                             code=code, unit=unit, before=before_unit, after={"active": True}))
    _write_events(events)
    return code


def _assignment_refusal(actor, code: ActivationCode, unit: Unit | None, *, service: Account, now: datetime,
                        unit_blocked: bool, unit_busy: bool) -> DomainError | None:
    """Why ``code`` may not go on ``unit`` now (SPEC §4 "Assign", §8.5), or None.

    Pure over rows already locked and facts already read, so the single and the bulk paths share it.
    """
    if service.billing_method != BillingMethod.ACTIVATION_CODES:
        return Forbidden("Billing by activation codes is off for this service.", code="billing_by_codes_off")
    if code.state(at=now) == CodeStatus.EXPIRED:
        return InvalidInput("This code has expired and can never be used again.", code="code_expired",
                            fields={"code": ["This code has expired."]})
    if code.unit_id_at(now) is not None:  # on a unit, or queued and started there
        return InvalidInput("This code is already on a unit.", code="code_in_use",
                            fields={"code": ["This code is already on a unit."]})
    if code.status == CodeStatus.QUEUED:
        return _queued_refusal()
    if unit is None or (unit.service_id != code.service_id) or not unit.account.path.startswith(
            _actor_path(actor, unit.service_id)):
        return DoesNotExist.field("unit")
    if not unit.account.path.startswith(code.holder_path):
        if _actor_sees_code(actor, code):
            return Forbidden("The unit is outside the branch this code is shared with.", code="outside_branch")
        return DoesNotExist.field("code")  # another branch's code: the same answer as an unknown one
    if unit_blocked:
        return Forbidden("The unit's account is blocked.", code="account_blocked")
    if unit_busy:
        return InvalidInput("This unit already holds a live code.", code="unit_has_code",
                            fields={"unit": ["This unit already holds a live code."]})
    return None


def _prepare_assignment(*, actor, code, unit, now) -> tuple[ActivationCode, Unit, Account] | None:
    """Lock and check everything assign and apply share. Returns None when the code was due and has
    just been expired (the caller commits that and then refuses)."""
    require_not_blocked(actor)
    code = _lock_code(code)
    service = _service(code.service_id)
    _require_codes_billing(service)
    if _expire_if_due(code, service=service, actor=actor, now=now):
        return None
    try:
        unit = _lock_unit(unit)
    except DoesNotExist:
        unit = None
    unit_busy = unit is not None and _unit_holds_live_code(unit, service=service, actor=actor, now=now,
                                                           exclude_code_id=code.pk)
    refusal = _assignment_refusal(actor, code, unit, service=service, now=now,
                                  unit_blocked=unit is not None and is_blocked(unit.account), unit_busy=unit_busy)
    if refusal is not None:
        raise refusal
    return code, unit, service


# --- generate ---------------------------------------------------------------------------------------

def _check_share_target(actor, target: Account | None, *, service_id: int, holder_path: str) -> Account:
    """SPEC §8.5: the target has dealer rights, lies strictly below the actor's account and inside the
    holder's subtree."""
    if target is None or target.service_id != service_id:
        raise DoesNotExist.field("account")
    actor_path = _actor_path(actor, service_id)
    if not target.path.startswith(actor_path):
        raise DoesNotExist.field("account")
    if target.path == actor_path or target.is_top:
        raise InvalidInput.field("account", "Share with an account below your own.")
    if not target.dealer_rights:
        raise InvalidInput.field("account", "Codes are shared only with accounts that have dealer rights.")
    if not target.path.startswith(holder_path):
        raise Forbidden("The code is held by another branch; take it back there first.", code="outside_branch")
    return target


def generate_codes(*, actor, service: Account, quantity, validity_days, shared_with: Account | None = None,
                   now: datetime | None = None) -> list[ActivationCode]:
    """Create ``quantity`` new codes (1–100,000) of ``validity_days`` (1–3,650), optionally shared.

    Codes come from ``secrets`` (a cryptographic source). No ledger row: codes are paid for outside.
    Per batch of 5,000 codes: on PostgreSQL one statement writes the codes and their events
    (``_GENERATE_BATCH_SQL``), elsewhere an INSERT for the codes and one per kind of event.
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


# The same batch as ``_insert_generated_orm`` in one PostgreSQL statement: the codes travel as one
# comma-separated text (no per-value quoting in the driver), the events are written from the
# inserted rows (``RETURNING``) without reading the table again, and only (code, id) comes back. One INSERT for both kinds of event, ordered by kind, so a
# code's ``generated`` event precedes its ``shared`` one in id order, as on the ORM path.
_GENERATE_BATCH_SQL = f"""
WITH written AS (
    INSERT INTO codes_activationcode (service_id, validity_days, created_at, shared_with_id, holder_path,
        holder_branch, status, activated_at, expires_at, unit_id, cleared_at, code)
    SELECT %(service)s, %(days)s, %(now)s, %(shared)s, %(holder_path)s, %(branch)s, %(status)s, NULL, NULL, NULL,
           NULL, k
    FROM unnest(string_to_array(%(codes)s, ',')) AS k
    RETURNING id, code
), events AS (
    INSERT INTO codes_codeevent ({_EVENT_COLUMNS})
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


def _insert_generated_pg(texts: list[str], template: dict, *, actor, top_path: str, shared_with: Account | None,
                         now: datetime) -> list[tuple[str, int]]:
    """One batch of new codes and their events in one statement (PostgreSQL). Returns (code, id) pairs."""
    params = {"service": template["service_id"], "days": template["validity_days"], "now": now,
              "shared": template["shared_with_id"], "holder_path": template["holder_path"],
              "branch": template["holder_branch"], "status": template["status"], "codes": ",".join(texts),
              "actor_id": getattr(actor, "pk", None), "actor_name": actor_name(actor), "top_path": top_path,
              "generated": CodeAction.GENERATED, "shared_action": CodeAction.SHARED,
              "shared_name": shared_with.name if shared_with is not None else None}
    with connection.cursor() as cursor:
        cursor.execute(_GENERATE_BATCH_SQL, params)
        return cursor.fetchall()


# --- assign, apply, unassign, reassign --------------------------------------------------------------------

def assign_code(*, actor, code: ActivationCode | int, unit: Unit | int, now: datetime | None = None) -> ActivationCode:
    """Put a new or active-unassigned code on a unit (codes window). The first assignment starts the clock."""
    now = now or clock.now()
    _require_window_role(actor)
    return _assign(actor=actor, code=code, unit=unit, now=now, action=CodeAction.ASSIGNED)


def apply_code(*, actor, code_text: str, unit: Unit | int, service: Account | None = None, queue: bool = False,
               now: datetime | None = None) -> ActivationCode:
    """An operator types a code and picks one of its units (SPEC §4 "Apply by hand").

    The code is looked up in the unit's service; an unknown code and another branch's code get the
    same answer. ``service`` narrows the platform operator's lookup; others use their own service.
    To a unit with a live code the answer is 400 ``unit_has_code`` unless ``queue``, which queues the
    code there (SPEC §9.8); with ``queue`` and a unit without a live code the code is applied.
    """
    now = now or clock.now()
    text = normalize_code(code_text)
    if text is None:
        raise InvalidInput.field("code", "A code is 32 hexadecimal characters (spaces and dashes are ignored).")
    service_id = service.pk if service is not None else getattr(getattr(actor, "account", None), "service_id", None)
    lookup = ActivationCode.objects.filter(code=text)
    if service_id is not None:
        lookup = lookup.filter(service_id=service_id)
    pk = lookup.values_list("pk", flat=True).first()
    if pk is None:
        raise DoesNotExist.field("code")
    if queue:
        try:
            return _queue(actor=actor, code=pk, unit=unit, now=now)
        except InvalidInput as exc:
            if exc.code != "unit_has_no_code":
                raise
    return _assign(actor=actor, code=pk, unit=unit, now=now, action=CodeAction.APPLIED)


def _assign(*, actor, code, unit, now, action) -> ActivationCode:
    with transaction.atomic():
        prepared = _prepare_assignment(actor=actor, code=code, unit=unit, now=now)
        if prepared is not None:
            code, unit, service = prepared
            return _put_on_unit(code, unit, service=service, actor=actor, now=now, action=action)
    _refuse_expired()  # the due code's expiry (and its unit's deactivation) committed above


def unassign_code(*, actor, code: ActivationCode | int, now: datetime | None = None) -> ActivationCode:
    """Take a live code off its unit: the unit is deactivated at once, the code keeps running."""
    now = now or clock.now()
    _require_window_role(actor)
    require_not_blocked(actor)
    with transaction.atomic():
        code = _lock_code(code)
        if not _actor_sees_code(actor, code):
            raise DoesNotExist.field("code")
        service = _service(code.service_id)
        code = _settle_if_started(code, service=service, actor=actor, now=now)
        if not _expire_if_due(code, service=service, actor=actor, now=now):
            if code.status == CodeStatus.EXPIRED:
                _refuse_expired()
            if code.status == CodeStatus.QUEUED:
                raise _queued_refusal()
            if code.unit_id is None:
                raise InvalidInput.field("code", "This code is not on a unit.")
            unit = _lock_unit(code.unit_id)
            _require_unit_in_reach(actor, unit, code.service_id)
            queued = _queued_code_on(unit)
            _take_off_unit(code, unit, service=service, actor=actor, now=now, deactivate=queued is None)
            if queued is not None:  # the queued code starts at once on this unit (SPEC §9.5)
                _write_events(_start_queued(queued, unit, starts_at=now, old=code, actor=actor, now=now))
            return code
    _refuse_expired()


def _take_off_unit(code: ActivationCode, unit: Unit, *, service: Account, actor, now: datetime,
                   deactivate: bool = True):
    ActivationCode.objects.filter(pk=code.pk).update(unit=None)
    code.unit = None
    events = [_event(CodeAction.UNASSIGNED, at=now, actor=actor, service_id=code.service_id, code=code, unit=unit,
                     holder_before=code.holder_path, holder_after=code.holder_path,
                     before={"unit": unit.pk, "unit_name": unit.name}, after={"unit": None})]
    if deactivate and unit.active and service.billing_method == BillingMethod.ACTIVATION_CODES:
        _deactivate(unit, reason=DeactivationReason.CODE_UNASSIGNED, now=now)
        events.append(_event(CodeAction.UNIT_DEACTIVATED, at=now, actor=actor, service_id=code.service_id,
                             code=code, unit=unit, before={"active": True},
                             after={"active": False, "reason": DeactivationReason.CODE_UNASSIGNED}))
    _write_events(events)


def reassign_code(*, actor, code: ActivationCode | int, unit: Unit | int,
                  now: datetime | None = None) -> ActivationCode:
    """Move a live code from its unit A to unit B in one step; the clock keeps running.

    Logged as one ``reassigned`` (before A, after B) plus ``unit_deactivated`` for A and
    ``unit_activated`` for B (SPEC §8.5).
    """
    now = now or clock.now()
    _require_window_role(actor)
    require_not_blocked(actor)
    with transaction.atomic():
        code, service = _lock_visible_code(actor, code)
        code = _settle_if_started(code, service=service, actor=actor, now=now)
        expired = _expire_if_due(code, service=service, actor=actor, now=now)
        if not expired:
            if code.status != CodeStatus.ACTIVE or code.unit_id is None:
                if code.status == CodeStatus.EXPIRED:
                    _refuse_expired()
                if code.status == CodeStatus.QUEUED:
                    raise _queued_refusal()
                raise InvalidInput.field("code", "Only a code on a unit can be reassigned; assign it instead.")
            unit_a, unit_b = _lock_units_in_order(code.unit_id, unit.pk if isinstance(unit, Unit) else unit)
            if unit_a.pk == unit_b.pk:
                raise InvalidInput.field("unit", "The code is already on this unit.")
            _require_unit_in_reach(actor, unit_a, code.service_id)
            unit_busy = _unit_holds_live_code(unit_b, service=service, actor=actor, now=now, exclude_code_id=code.pk)
            refusal = _assignment_refusal(actor, _as_free(code), unit_b, service=service, now=now,
                                          unit_blocked=is_blocked(unit_b.account), unit_busy=unit_busy)
            if refusal is not None:
                raise refusal
            events = []
            queued = _queued_code_on(unit_a)
            if unit_a.active and queued is None:
                _deactivate(unit_a, reason=DeactivationReason.CODE_UNASSIGNED, now=now)
                events.append(_event(CodeAction.UNIT_DEACTIVATED, at=now, actor=actor, service_id=code.service_id,
                                     code=code, unit=unit_a, before={"active": True},
                                     after={"active": False, "reason": DeactivationReason.CODE_UNASSIGNED}))
            _write_events(events)
            moved = _put_on_unit(code, unit_b, service=service, actor=actor, now=now,
                                 action=CodeAction.REASSIGNED, from_unit=unit_a)
            if queued is not None:  # unit A's queued code starts at once there (SPEC §9.5)
                _write_events(_start_queued(queued, unit_a, starts_at=now, old=code, actor=actor, now=now))
            return moved
    _refuse_expired()


def _as_free(code: ActivationCode) -> ActivationCode:
    """A copy of ``code`` off its unit: what unit B would receive in a reassignment."""
    free = ActivationCode(**{f.attname: getattr(code, f.attname) for f in ActivationCode._meta.concrete_fields})
    free.unit_id = None
    return free


def _lock_units_in_order(a_id: int, b_id: int) -> tuple[Unit, Unit]:
    """Lock two units by ascending id (no deadlock between two opposite moves)."""
    first, second = sorted((a_id, b_id))
    locked = {first: _lock_unit(first)}
    if second != first:
        locked[second] = _lock_unit(second)
    return locked[a_id], locked[b_id]


# --- renewal queue (SPEC §9.5, §9.8 "Renewal rules") ----------------------------------------------------
#
# A queued code keeps status ``queued`` with ``queued_on`` = the unit and its planned clock written
# (``activated_at`` = the live code's ``expires_at``, which never changes while the code runs), so a
# read derives "active from that instant" from the row alone. It starts for real (status ``active``,
# on the unit) when its live code expires (the sweep, or a request that expires a due code), or at
# once when the live code is unassigned or reassigned. Locks: the code (NOWAIT), the unit, then the
# unit's live code (NOWAIT: whoever holds it is expiring or moving it; the request answers 409
# ``code_busy`` rather than wait in the opposite order).

def _queued_refusal() -> InvalidInput:
    reason = gettext("This code is queued on a unit; unqueue it first.")
    return InvalidInput(reason, code="code_queued", fields={"code": [reason]})


def _queued_code_on(unit: Unit) -> ActivationCode | None:
    """The code queued on ``unit`` (locked), or None."""
    return (ActivationCode.objects.select_for_update(of=("self",))
            .filter(queued_on_id=unit.pk, status=CodeStatus.QUEUED).first())


def _start_queued(queued: ActivationCode, unit: Unit, *, starts_at: datetime, old: ActivationCode, actor,
                  now: datetime) -> list[dict]:
    """Start a locked queued code on ``unit`` at ``starts_at`` (the old code's expiry, or now when the old
    code leaves the unit). The caller has taken ``old`` off the unit's live index. Returns the event."""
    queued.status, queued.unit, queued.queued_on = CodeStatus.ACTIVE, unit, None
    queued.activated_at, queued.expires_at = starts_at, starts_at + queued.validity_days * DAY
    ActivationCode.objects.filter(pk=queued.pk).update(
        status=CodeStatus.ACTIVE, unit=unit, queued_on=None, activated_at=queued.activated_at,
        expires_at=queued.expires_at)
    return [_event(CodeAction.RENEWED, at=now, actor=actor, service_id=queued.service_id, code=queued, unit=unit,
                   holder_before=queued.holder_path, holder_after=queued.holder_path, before={"code": old.code},
                   after={"status": CodeStatus.ACTIVE, "unit": unit.pk,
                          "activated_at": queued.activated_at.isoformat(),
                          "expires_at": queued.expires_at.isoformat()})]


def _settle_if_started(code: ActivationCode, *, service: Account, actor, now: datetime) -> ActivationCode:
    """A locked queued code whose planned start has passed reads as active (§9.8): before acting on it
    as such, expire its unit's due live code in this transaction, which starts it. Returns the code
    as it now is."""
    if code.status != CodeStatus.QUEUED or now < code.activated_at:
        return code
    live = (ActivationCode.objects.filter(unit_id=code.queued_on_id, status=CodeStatus.ACTIVE)
            .values_list("pk", flat=True).first())
    if live is not None:
        old = _lock_code(live)
        if old.status == CodeStatus.ACTIVE and old.unit_id == code.queued_on_id and old.expires_at <= now:
            _write_events(_expire_locked(old, service=service, actor=actor, now=now))
    return _lock_code(code.pk)


def _settled_live_code(unit: Unit, *, service: Account, actor, now: datetime) -> ActivationCode | None:
    """The unit's live code (locked), after expiring a due one the sweep has not reached (its queued
    code then starts and is looked at in turn); None when the unit holds no live code."""
    while True:
        pk = (ActivationCode.objects.filter(unit_id=unit.pk, status=CodeStatus.ACTIVE)
              .values_list("pk", flat=True).first())
        if pk is None:
            return None
        live = _lock_code(pk)
        if live.status != CodeStatus.ACTIVE or live.unit_id != unit.pk:
            continue  # it changed before we locked it: read again
        if live.expires_at > now:
            return live
        _write_events(_expire_locked(live, service=service, actor=actor, now=now))


def queue_code(*, actor, code: ActivationCode | int, unit: Unit | int, now: datetime | None = None) -> ActivationCode:
    """Queue a new code on a unit that holds a live code (codes window): it starts the instant the live
    code ends. Every rule of assignment applies (scope, sharing branch, blocked account)."""
    now = now or clock.now()
    _require_window_role(actor)
    return _queue(actor=actor, code=code, unit=unit, now=now)


def _queue(*, actor, code, unit, now: datetime) -> ActivationCode:
    require_not_blocked(actor)
    with transaction.atomic():
        code = _lock_code(code)
        service = _service(code.service_id)
        _require_codes_billing(service)
        if code.status != CodeStatus.NEW:
            reason = gettext("Only a new code can be queued.")
            raise InvalidInput(reason, code="code_not_new", fields={"code": [reason]})
        try:
            unit = _lock_unit(unit)
        except DoesNotExist:
            unit = None
        refusal = _assignment_refusal(actor, code, unit, service=service, now=now,
                                      unit_blocked=unit is not None and is_blocked(unit.account), unit_busy=False)
        if refusal is not None:
            raise refusal
        live = _settled_live_code(unit, service=service, actor=actor, now=now)
        if live is None:
            reason = gettext("This unit holds no live code: assign the code instead.")
            raise InvalidInput(reason, code="unit_has_no_code", fields={"unit": [reason]})
        if _queued_code_on(unit) is not None:
            raise _unit_has_queued_code()
        code.status, code.queued_on = CodeStatus.QUEUED, unit
        code.activated_at, code.expires_at = live.expires_at, live.expires_at + code.validity_days * DAY
        try:
            with transaction.atomic():
                ActivationCode.objects.filter(pk=code.pk).update(
                    status=CodeStatus.QUEUED, queued_on=unit, activated_at=code.activated_at,
                    expires_at=code.expires_at)
        except IntegrityError:
            # The partial unique index caught a concurrent queue on the same unit.
            raise _unit_has_queued_code() from None
        _write_events([_event(
            CodeAction.QUEUED, at=now, actor=actor, service_id=code.service_id, code=code, unit=unit,
            holder_before=code.holder_path, holder_after=code.holder_path, before={"status": CodeStatus.NEW},
            after={"status": CodeStatus.QUEUED, "queued_on": unit.pk, "unit_name": unit.name,
                   "after_code": live.code, "starts_at": code.activated_at.isoformat(),
                   "expires_at": code.expires_at.isoformat()})])
        return code


def _unit_has_queued_code() -> InvalidInput:
    reason = gettext("This unit already holds a queued code.")
    return InvalidInput(reason, code="unit_has_queued_code", fields={"unit": [reason]})


def unqueue_code(*, actor, code: ActivationCode | int, now: datetime | None = None) -> ActivationCode:
    """Take a queued code off its unit's queue: it is ``new`` again where it was (same holder)."""
    now = now or clock.now()
    _require_window_role(actor)
    require_not_blocked(actor)
    with transaction.atomic():
        code, service = _lock_visible_code(actor, code)
        if code.state(at=now) != CodeStatus.QUEUED:
            reason = gettext("This code is not queued.")
            raise InvalidInput(reason, code="code_not_queued", fields={"code": [reason]})
        unit = Unit.objects.select_related("account").get(pk=code.queued_on_id)
        _unqueue_locked(code, unit, actor=actor, now=now)
        return code


def _unqueue_locked(code: ActivationCode, unit: Unit, *, actor, now: datetime, reason: str = ""):
    before = {"status": CodeStatus.QUEUED, "queued_on": unit.pk, "unit_name": unit.name,
              "starts_at": code.activated_at.isoformat()}
    code.status, code.queued_on, code.activated_at, code.expires_at = CodeStatus.NEW, None, None, None
    ActivationCode.objects.filter(pk=code.pk).update(status=CodeStatus.NEW, queued_on=None, activated_at=None,
                                                     expires_at=None)
    after = {"status": CodeStatus.NEW, "queued_on": None}
    if reason:
        after["reason"] = reason
    _write_events([_event(CodeAction.UNQUEUED, at=now, actor=actor, service_id=code.service_id, code=code, unit=unit,
                          holder_before=code.holder_path, holder_after=code.holder_path, before=before, after=after)])


def pair_codes_with_queues(codes: Iterable[ActivationCode], units: Iterable[Unit]):
    """"Queue on selected units" pairing, like assignment's: the oldest new codes first, units in name
    order."""
    usable = sorted((c for c in codes if c.status == CodeStatus.NEW), key=lambda c: (c.created_at, c.pk))
    ordered_units = sorted(units, key=lambda u: (u.name.lower(), u.pk))
    return list(zip(usable, ordered_units, strict=False))


def queue_codes_bulk(*, actor, pairs, now: datetime | None = None) -> tuple[int, list[tuple[object, str]]]:
    """"Queue on selected units": each (code, unit) pair through ``queue_code``, each in its own
    transaction. Returns (done, [((code, unit), reason) skipped])."""
    now = now or clock.now()
    _require_window_role(actor)
    return run_each(pairs, lambda pair: queue_code(actor=actor, code=pair[0], unit=pair[1], now=now))


# --- share, unshare -------------------------------------------------------------------------------------

def share_code(*, actor, code: ActivationCode | int, account: Account, now: datetime | None = None) -> ActivationCode:
    """Share an unassigned, unexpired code with a dealer account below the actor (SPEC §8.5)."""
    now = now or clock.now()
    _require_window_role(actor)
    require_not_blocked(actor)
    with transaction.atomic():
        code, service = _lock_visible_code(actor, code)
        if not _expire_if_due(code, service=service, actor=actor, now=now):
            if code.status == CodeStatus.EXPIRED:
                _refuse_expired()
            if code.unit_id_at(now) is not None:
                raise InvalidInput("Only a code that is not on a unit can be shared.", code="code_in_use",
                                   fields={"code": ["This code is on a unit."]})
            if code.status == CodeStatus.QUEUED:
                raise _queued_refusal()
            if code.shared_with_id == getattr(account, "pk", None):
                raise InvalidInput.field("account", "The code is already shared with this account.")
            target = _check_share_target(actor, account, service_id=code.service_id, holder_path=code.holder_path)
            before = {"shared_with": code.shared_with_id,
                      "shared_with_name": code.shared_with.name if code.shared_with else ""}
            holder_before = code.holder_path
            code.shared_with, code.holder_path, code.holder_branch = target, target.path, branch_of(target.path)
            ActivationCode.objects.filter(pk=code.pk).update(shared_with=target, holder_path=code.holder_path,
                                                             holder_branch=code.holder_branch)
            _write_events([_event(
                CodeAction.SHARED, at=now, actor=actor, service_id=code.service_id, code=code,
                holder_before=holder_before, holder_after=target.path, before=before,
                after={"shared_with": target.pk, "shared_with_name": target.name})])
            return code
    _refuse_expired()


def unshare_code(*, actor, code: ActivationCode | int, account: Account | None = None,
                 now: datetime | None = None) -> ActivationCode:
    """Take an unassigned code back from the account it is shared with (the actor is strictly above
    it); the actor's account becomes the holder (the top, i.e. none, for a top user)."""
    now = now or clock.now()
    _require_window_role(actor)
    require_not_blocked(actor)
    with transaction.atomic():
        code = _lock_code(code)
        if not _actor_sees_code(actor, code):
            raise DoesNotExist.field("code")
        current = code.shared_with
        if current is None:
            raise InvalidInput.field("code", "This code is not shared.")
        if account is not None and account.pk != current.pk:
            raise InvalidInput.field("account", "The code is not shared with this account.")
        actor_path = _actor_path(actor, code.service_id)
        if current.path == actor_path:
            raise Forbidden("Only an operator above this account may take the code back.", code="outside_branch")
        if code.unit_id_at(now) is not None:
            raise InvalidInput("Only a code that is not on a unit can be unshared.", code="code_in_use",
                               fields={"code": ["This code is on a unit."]})
        new_holder = None if is_platform(actor) or rights.sees_whole_service(actor) else actor.account
        new_path = new_holder.path if new_holder else _service_path(code.service_id)
        holder_before = code.holder_path
        code.shared_with, code.holder_path, code.holder_branch = new_holder, new_path, branch_of(new_path)
        ActivationCode.objects.filter(pk=code.pk).update(shared_with=new_holder, holder_path=new_path,
                                                         holder_branch=code.holder_branch)
        _write_events([_event(
            CodeAction.UNSHARED, at=now, actor=actor, service_id=code.service_id, code=code,
            holder_before=holder_before, holder_after=new_path,
            before={"shared_with": current.pk, "shared_with_name": current.name},
            after={"shared_with": new_holder.pk if new_holder else None,
                   "shared_with_name": new_holder.name if new_holder else ""})])
        return code


# --- bulk (admin) ------------------------------------------------------------------------------------

def run_each(items: Iterable, operation, **kwargs) -> tuple[int, list[tuple[object, str]]]:
    """Run ``operation(item)`` for each item, each in its own transaction (SPEC §8.5 bulk rule).

    Returns (done, [(item, reason) skipped]).
    """
    done, skipped = 0, []
    for item in items:
        try:
            operation(item, **kwargs)
            done += 1
        except DomainError as exc:
            skipped.append((item, exc.detail))
    return done, skipped


def pair_codes_with_units(codes: Iterable[ActivationCode], units: Iterable[Unit], *, now: datetime):
    """"Assign to selected units" pairing: active-unassigned codes first, then the oldest; units in
    name order. Codes that cannot be assigned (on a unit, expired) are left out."""
    usable = [c for c in codes if c.unit_id is None and c.state(at=now) != CodeStatus.EXPIRED]
    usable.sort(key=lambda c: (c.status != CodeStatus.ACTIVE, c.created_at, c.pk))
    ordered_units = sorted(units, key=lambda u: (u.name.lower(), u.pk))
    return list(zip(usable, ordered_units, strict=False))


def assign_codes_bulk(*, actor, pairs, now: datetime | None = None) -> tuple[int, list[tuple[object, str]]]:
    """"Assign to selected units": each (code, unit) pair is judged on its own (a refused pair does
    not stop the others) by the same rules as ``assign_code``, but written set-based per batch.

    1. Due codes of the services concerned are expired first (the single path does it per code).
    2. Per batch of 1,000 pairs, in one transaction: lock the codes (SKIP LOCKED: a code another
       request holds is skipped as busy) and the units, read which units hold live codes and which
       accounts are blocked, judge each pair with ``_assignment_refusal``.
    3. One bulk UPDATE of the codes, one UPDATE of the units to activate, one INSERT of the events.
    Returns (done, [((code, unit), reason) skipped]).
    """
    now = now or clock.now()
    _require_window_role(actor)
    require_not_blocked(actor)
    pairs = list(pairs)
    for service_id in {code.service_id for code, _ in pairs}:
        expire_codes(now=now, service_id=service_id)
    done, skipped = 0, []
    for start in range(0, len(pairs), 1000):
        chunk = pairs[start:start + 1000]
        with transaction.atomic():
            done += _assign_batch(actor, chunk, now, skipped)
    return done, skipped


def _assign_batch(actor, chunk, now: datetime, skipped: list) -> int:
    codes = {c.pk: c for c in ActivationCode.objects.select_for_update(skip_locked=True, of=("self",))
             .filter(pk__in=[c.pk for c, _ in chunk])}
    units = {u.pk: u for u in Unit.objects.select_for_update(of=("self",)).select_related("account")
             .filter(pk__in=[u.pk for _, u in chunk], archived_at__isnull=True)}
    busy = set(ActivationCode.objects.filter(unit_id__in=list(units), status=CodeStatus.ACTIVE)
               .values_list("unit_id", flat=True))
    service_ids = {c.service_id for c in codes.values()}
    services = Account.objects.in_bulk(service_ids)
    blocked_paths = tuple(Account.objects.filter(service_id__in=service_ids, blocked=True)
                          .values_list("path", flat=True))
    assigned, activate, events = [], [], []
    for code_in, unit_in in chunk:
        code = codes.get(code_in.pk)
        if code is None:
            skipped.append(((code_in, unit_in), "Another request is working on this code."))
            continue
        unit = units.get(unit_in.pk)
        unit_blocked = bool(unit is not None and blocked_paths and unit.account.path.startswith(blocked_paths))
        refusal = _assignment_refusal(actor, code, unit, service=services[code.service_id], now=now,
                                      unit_blocked=unit_blocked, unit_busy=unit is not None and unit.pk in busy)
        if refusal is not None:
            skipped.append(((code_in, unit_in), refusal.detail))
            continue
        before = {"status": code.status, "unit": None}
        if code.status == CodeStatus.NEW:
            code.status, code.activated_at, code.expires_at = CodeStatus.ACTIVE, now, now + code.validity_days * DAY
        code.unit = unit
        busy.add(unit.pk)
        assigned.append(code)
        events.append(_event(CodeAction.ASSIGNED, at=now, actor=actor, service_id=code.service_id, code=code,
                             unit=unit, holder_before=code.holder_path, holder_after=code.holder_path, before=before,
                             after={"status": code.status, "unit": unit.pk,
                                    "activated_at": code.activated_at.isoformat(),
                                    "expires_at": code.expires_at.isoformat()}))
        if not unit.active:
            activate.append(unit.pk)
            events.append(_event(CodeAction.UNIT_ACTIVATED, at=now, actor=actor, service_id=code.service_id,
                                 code=code, unit=unit, before={"active": False, "reason": unit.deactivation_reason},
                                 after={"active": True}))
    bulk.update_rows(ActivationCode, ["status", "activated_at", "expires_at", "unit"],
                     [(c.status, c.activated_at, c.expires_at, c.unit_id, c.pk) for c in assigned])
    if activate:
        Unit.objects.filter(pk__in=activate).update(active=True, deactivated_at=None, deactivation_reason="")
    _write_events(events)
    return len(assigned)


# --- jobs: expire and clear ------------------------------------------------------------------------

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
    expired_rows = [(*row[:7], row[7] or row[8], row[9]) for row in batch.order_by("pk").values_list(
        "pk", "code", "service_id", "unit_id", "unit__name", "unit__account_id", "unit__account__name",
        "unit__account__path", "holder_path", "expires_at")]
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
        old_codes = {unit_id: code for unit_id, code in batch.values_list("unit_id", "code")}
        renewed_rows = [(*row[:8], old_codes.get(row[3]), row[8], row[9]) for row in ActivationCode.objects.filter(
            bulk.ids_condition(ActivationCode, sorted(pk for pk, _ in queued.values()))).order_by("pk").values_list(
            "pk", "code", "service_id", "unit_id", "unit__name", "unit__account_id", "unit__account__name",
            "unit__account__path", "activated_at", "expires_at")]
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


# The same batch as ``_expire_batch_orm`` in one PostgreSQL statement (data-modifying CTEs, one
# snapshot): nothing comes back to Python but the count and where the batch ended. Every CTE runs
# to completion whether or not the final SELECT reads it. The batch is chosen oldest expiry first
# and written in id order (the table's order: fewer pages to and fro). A code queued on an expired
# code's unit starts at that code's ``expires_at`` (``renewed``: it reads the expired rows, so each
# old code leaves the one-live-code index before its successor enters it); a unit is deactivated
# only when nothing was renewed on it — read from ``renewed``'s own rows, which reflect a queued code
# unqueued meanwhile (re-checked under its row lock), not the statement's snapshot. The events are
# one INSERT ordered by kind, so a code's ``expired`` event gets a smaller id than its unit's
# ``renewed`` or ``unit_deactivated``, as on the ORM path (a code's history is read in id order).
_EXPIRE_BATCH_SQL = f"""
WITH due AS MATERIALIZED (
    SELECT id FROM codes_activationcode
    WHERE status = 'active' AND expires_at <= %(now)s{{service}}{{after}}
    ORDER BY expires_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), expired AS (
    UPDATE codes_activationcode c SET status = 'expired'
    FROM (SELECT id FROM due ORDER BY id) AS d WHERE c.id = d.id
    RETURNING c.id, c.code, c.service_id, c.unit_id, c.holder_path, c.expires_at
), renewed AS (
    UPDATE codes_activationcode q SET status = 'active', unit_id = q.queued_on_id, queued_on_id = NULL,
           activated_at = e.expires_at, expires_at = e.expires_at + q.validity_days * interval '24 hours'
    FROM expired e
    WHERE q.queued_on_id = e.unit_id AND q.status = 'queued'
    RETURNING q.id, q.code, q.service_id, q.unit_id, q.holder_path, q.activated_at, q.expires_at,
              e.code AS old_code
), deactivated AS (
    UPDATE units_unit u SET active = false, deactivated_at = %(now)s, deactivation_reason = %(reason)s
    FROM expired e, accounts_account s
    WHERE u.id = e.unit_id AND u.active AND s.id = u.service_id AND s.billing_method = %(codes_billing)s
      AND NOT EXISTS (SELECT 1 FROM renewed r WHERE r.unit_id = u.id)
    RETURNING u.id, u.name, u.account_id, e.id AS code_id, e.code, e.service_id
), events AS (
    INSERT INTO codes_codeevent ({_EVENT_COLUMNS})
    SELECT %(now)s, ev.action, ev.service_id, NULL, %(actor_name)s, ev.code, ev.code_id, ev.unit_id, ev.unit_name,
           ev.account_id, COALESCE(a.name, ''), COALESCE(a.path, ''), ev.holder_path, ev.holder_path, ev.before,
           ev.after
    FROM (
        SELECT 0 AS kind, 'expired' AS action, e.service_id, e.code, e.id AS code_id, e.unit_id,
               COALESCE(u.name, '') AS unit_name, u.account_id, e.holder_path,
               jsonb_build_object('status', 'active') AS before,
               jsonb_build_object('status', 'expired', 'expires_at', e.expires_at) AS after
        FROM expired e LEFT JOIN units_unit u ON u.id = e.unit_id
        UNION ALL
        SELECT 1, 'renewed', r.service_id, r.code, r.id, r.unit_id, COALESCE(u.name, ''), u.account_id, r.holder_path,
               jsonb_build_object('code', r.old_code),
               jsonb_build_object('status', 'active', 'unit', r.unit_id, 'activated_at', r.activated_at,
                                  'expires_at', r.expires_at)
        FROM renewed r LEFT JOIN units_unit u ON u.id = r.unit_id
        UNION ALL
        SELECT 2, 'unit_deactivated', d.service_id, d.code, d.code_id, d.id, d.name, d.account_id, '',
               jsonb_build_object('active', true),
               jsonb_build_object('active', false, 'reason', %(reason)s::text)
        FROM deactivated d
    ) ev LEFT JOIN accounts_account a ON a.id = ev.account_id
    ORDER BY ev.kind, ev.code_id
)
SELECT (SELECT count(*) FROM expired), expires_at, id, (SELECT array_agg(id) FROM expired),
       (SELECT array_agg(code_id) FROM deactivated), (SELECT array_agg(id) FROM renewed)
FROM expired ORDER BY expires_at DESC, id DESC LIMIT 1
"""
SWEEP_JOB = "expire_codes"
SWEEP_WORK_MEM = "64MB"


def _expired_trail_rows(ids) -> list[tuple]:
    """(id, code, service, unit, unit name, account id, name, path or holder path, expires_at) by code id."""
    if not ids:
        return []
    return [(*row[:7], row[7] or row[8], row[9]) for row in ActivationCode.objects.filter(
        bulk.ids_condition(ActivationCode, sorted(ids))).order_by("pk").values_list(
        "pk", "code", "service_id", "unit_id", "unit__name", "unit__account_id", "unit__account__name",
        "unit__account__path", "holder_path", "expires_at")]


# ``_expired_trail_rows`` in one plain query (PostgreSQL, the batch statement's ids as one array): the holder
# of a code without a unit read from its path's last id, ``expires_at`` as ``audit.plain`` writes it (UTC ISO
# 8601, microseconds only when there are some), so no row is built as a model value in Python.
_EXPIRED_TRAIL_SQL = """
SELECT c.id, c.code, c.service_id, c.unit_id, u.name, COALESCE(ua.id, h.id), COALESCE(ua.name, h.name),
       COALESCE(NULLIF(ua.path, ''), c.holder_path),
       to_char(c.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
       || CASE WHEN date_part('microseconds', c.expires_at)::bigint %% 1000000 = 0 THEN ''
               ELSE to_char(c.expires_at AT TIME ZONE 'UTC', '.US') END || '+00:00'
FROM codes_activationcode c
LEFT JOIN units_unit u ON u.id = c.unit_id
LEFT JOIN accounts_account ua ON ua.id = u.account_id
LEFT JOIN LATERAL (
    SELECT split_part(rtrim(c.holder_path, '/'), '/', -1)::bigint AS id WHERE ua.id IS NULL AND c.holder_path <> ''
) hid ON true
LEFT JOIN accounts_account h ON h.id = hid.id
WHERE c.id = ANY(%s::bigint[])
ORDER BY c.id
"""


def _expired_trail_rows_pg(ids) -> list[tuple]:
    if not ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_EXPIRED_TRAIL_SQL, [list(ids)])
        return cursor.fetchall()


def _renewed_trail_rows(ids, old_codes: dict) -> list[tuple]:
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
    params = {"now": now, "limit": EXPIRE_BATCH_PG, "reason": DeactivationReason.CODE_EXPIRED,
              "codes_billing": BillingMethod.ACTIVATION_CODES, "actor_name": actor_name(None)}
    service = after_sql = ""
    if service_id is not None:
        service, params["service"] = " AND service_id = %(service)s", service_id
    if after is not None:
        after_sql = " AND expires_at >= %(after_at)s AND (expires_at, id) > (%(after_at)s, %(after_id)s)"
        params["after_at"], params["after_id"] = after
    with connection.cursor() as cursor:
        # The batch's sorts (the due rows, the code log's events) fit in memory: at the default 4MB they
        # spilled to temp files (issue 16). Local to the batch's transaction.
        cursor.execute(f"SET LOCAL work_mem = '{SWEEP_WORK_MEM}'")
        cursor.execute(_EXPIRE_BATCH_SQL.format(service=service, after=after_sql), params)
        row = cursor.fetchone()
    if row is None:
        return 0, None
    # Only ids come back (plain aggregates over the CTEs: joins inside the statement's result spilled tens of
    # GB to temp files on a 10,000,000-event bench); the trail's rows are read by id after the statement.
    expired_rows = _expired_trail_rows_pg(row[3] or [])
    old_codes = {r[3]: r[1] for r in expired_rows}
    _sweep_trail(expired_rows, _renewed_trail_rows(row[5] or [], old_codes), set(row[4] or ()), now=now,
                 counts=counts)
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
       PostgreSQL one statement per batch of 50,000 (``_EXPIRE_BATCH_SQL``), elsewhere six per
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


# --- billing method --------------------------------------------------------------------------------

def _units_without_live_code(service: Account, now: datetime):
    from django.db.models import Exists, OuterRef

    live = ActivationCode.objects.filter(unit=OuterRef("pk"), status=CodeStatus.ACTIVE, expires_at__gt=now)
    # A code queued on the unit takes over when its live code is due: the unit keeps running on it.
    queued = ActivationCode.objects.filter(queued_on=OuterRef("pk"), status=CodeStatus.QUEUED, expires_at__gt=now)
    return (Unit.objects.filter(service=service, archived_at__isnull=True, active=True)
            .exclude(Exists(live)).exclude(Exists(queued)))


def _units_to_reactivate(service: Account):
    return Unit.objects.filter(service=service, archived_at__isnull=True, active=False,
                               deactivation_reason__in=CODE_DEACTIVATION_REASONS)


def switch_billing_method(*, actor, service: Account, method: str, confirm: bool,
                          now: datetime | None = None) -> dict:
    """Switch a service between ``monthly`` and ``activation_codes`` (platform operator only).

    On: every active unit without a live code is deactivated (``no_code``; due codes are expired
    first, their units get ``code_expired``). Back to monthly: units deactivated for ``no_code`` or
    ``code_expired`` are reactivated; codes keep their clocks but no longer govern units. Without
    ``confirm`` nothing changes and 409 ``confirmation_required`` carries both counts.
    """
    now = now or clock.now()
    if not is_platform(actor):
        raise Forbidden("Only the platform operator switches the billing method.", code="permission_denied")
    if method not in BillingMethod.values:
        raise InvalidInput.field("billing_method", "Must be 'monthly' or 'activation_codes'.")
    if service is None or not service.is_top:
        raise DoesNotExist.field("service")
    with transaction.atomic():
        service = Account.objects.select_for_update().get(pk=service.pk)
        if service.billing_method == method:
            return {"billing_method": method, "units_deactivated": 0, "units_reactivated": 0}
        turning_on = method == BillingMethod.ACTIVATION_CODES
        to_deactivate = _units_without_live_code(service, now) if turning_on else Unit.objects.none()
        to_reactivate = Unit.objects.none() if turning_on else _units_to_reactivate(service)
        counts = {"units_to_deactivate": to_deactivate.count(), "units_to_reactivate": to_reactivate.count()}
        if not confirm:
            raise Conflict(
                f"Switching to '{method}' deactivates {counts['units_to_deactivate']} and reactivates "
                f"{counts['units_to_reactivate']} units. Send confirm: true to go ahead.",
                code="confirmation_required", extra=counts)
        previous = service.billing_method
        Account.objects.filter(pk=service.pk).update(billing_method=method)
        service.billing_method = method
        deactivated = reactivated = 0
        if turning_on:
            expire_codes(now=now, service_id=service.pk)
            deactivated = _set_units(list(to_deactivate.select_for_update(of=("self",)).select_related("account")),
                                     active=False, reason=DeactivationReason.NO_CODE, actor=actor, now=now)
        else:
            reactivated = _set_units(list(to_reactivate.select_for_update(of=("self",)).select_related("account")),
                                     active=True, reason="", actor=actor, now=now)
        audit.record("billing_method_changed", actor=actor, subject_type="account", subject_id=service.pk,
                     subject_name=service.name, account=service, before={"billing_method": previous},
                     after={"billing_method": method, "units_deactivated": deactivated,
                            "units_reactivated": reactivated}, now=now)
    return {"billing_method": method, "units_deactivated": deactivated, "units_reactivated": reactivated}


def _set_units(units: list[Unit], *, active: bool, reason: str, actor, now: datetime) -> int:
    """Activate or deactivate locked units set-based, one event each."""
    events = []
    for start in range(0, len(units), SWEEP_BATCH):
        chunk = units[start:start + SWEEP_BATCH]
        Unit.objects.filter(pk__in=[u.pk for u in chunk]).update(
            active=active, deactivated_at=None if active else now, deactivation_reason=reason)
        for unit in chunk:
            events.append(_event(
                CodeAction.UNIT_ACTIVATED if active else CodeAction.UNIT_DEACTIVATED, at=now, actor=actor,
                service_id=unit.service_id, unit=unit,
                before={"active": not active, "reason": unit.deactivation_reason},
                after={"active": active, "reason": reason}))
    _write_events(events)
    return len(units)


# --- hooks for other apps ----------------------------------------------------------------------------

def return_codes_of_revoked_dealer(*, account: Account, actor, now: datetime | None = None) -> int:
    """Revoking dealer rights: the account's unassigned codes go back to the top (SPEC §8.1).

    Codes already on units keep running and stay shared; so do codes queued on units (they are
    promised to a unit of the branch). Runs inside ``set_dealer_rights``'s transaction.
    """
    now = now or clock.now()
    codes = list(ActivationCode.objects.select_for_update().filter(shared_with=account, unit__isnull=True)
                 .exclude(status=CodeStatus.QUEUED).only("id", "code", "service_id", "holder_path"))
    if not codes:
        return 0
    top_path = _service_path(account.service_id)
    ActivationCode.objects.filter(pk__in=[c.pk for c in codes]).update(shared_with=None, holder_path=top_path,
                                                                                  holder_branch=None)
    _write_events([
        _event(CodeAction.UNSHARED, at=now, actor=actor, service_id=c.service_id, code=c,
               holder_before=c.holder_path, holder_after=top_path,
               before={"shared_with": account.pk, "shared_with_name": account.name},
               after={"shared_with": None, "reason": "dealer rights revoked"})
        for c in codes])
    return len(codes)


def unassign_code_of_archived_unit(*, unit: Unit, actor, now: datetime | None = None):
    """Archiving a unit takes its live code off (the code keeps running), with an event; a code queued
    on it goes back to ``new`` (an ``unqueued`` event). A due live code is expired first, so a queued
    code whose start has passed (it reads as active) has started and is taken off as a live code."""
    now = now or clock.now()
    unit = Unit.objects.select_related("account").get(pk=unit.pk)
    while True:
        code = ActivationCode.objects.select_for_update().filter(unit_id=unit.pk, status=CodeStatus.ACTIVE).first()
        if code is None or code.expires_at > now:
            break
        _write_events(_expire_locked(code, service=_service(code.service_id), actor=actor, now=now))
    queued = _queued_code_on(unit)
    if queued is not None:
        _unqueue_locked(queued, unit, actor=actor, now=now, reason="unit archived")
    if code is None:
        return
    _take_off_unit(code, unit, service=_service(code.service_id), actor=actor, now=now, deactivate=False)


def check_unit_move(*, unit: Unit, new_account: Account):
    """A unit moves only inside its live code's holder subtree (SPEC §8.5)."""
    holder_paths = (ActivationCode.objects.filter(Q(unit_id=unit.pk, status=CodeStatus.ACTIVE)
                                                  | Q(queued_on_id=unit.pk, status=CodeStatus.QUEUED))
                    .values_list("holder_path", flat=True))
    if any(not new_account.path.startswith(holder_path) for holder_path in holder_paths):
        raise Forbidden("The unit's activation code is held by another branch; the unit cannot move there.",
                        code="outside_branch", fields={"account": ["Outside the branch of the unit's code."]})


# --- expiry notices --------------------------------------------------------------------------------------

def _clean_notice_fields(actor, *, name, text, days_before, recipients) -> list:
    name, text = (name or "").strip(), (text or "").strip()
    if not 1 <= len(name) <= 50:
        raise InvalidInput.field("name", "1 to 50 characters.")
    if not 1 <= len(text) <= 500:
        raise InvalidInput.field("text", "1 to 500 characters.")
    if not isinstance(days_before, int) or isinstance(days_before, bool) or not 1 <= days_before <= 99:
        raise InvalidInput.field("days_before", "A whole number of days from 1 to 99.")
    recipients = list(recipients or [])
    if not recipients:
        raise InvalidInput.field("recipients", "Choose at least one recipient.")
    root = actor.account.path if not is_platform(actor) else None
    for op in recipients:
        if op.account is None or (root is not None and not op.account.path.startswith(root)):
            raise DoesNotExist.field("recipients")
    return recipients


@transaction.atomic
def create_notice(*, actor, name: str, text: str, days_before: int, repeat: bool = False, send_email: bool = True,
                  recipients=(), service: Account | None = None, now: datetime | None = None) -> ExpiryNotice:
    """A notice by a top user, a distributor or the platform operator; recipients in its subtree."""
    now = now or clock.now()
    _require_window_role(actor)
    require_not_blocked(actor)
    recipients = _clean_notice_fields(actor, name=name, text=text, days_before=days_before, recipients=recipients)
    if is_platform(actor):
        if service is None or not service.is_top:
            raise InvalidInput.field("service", "Choose the service.")
        author = service
    else:
        author = actor.account
    if any(op.account.service_id != author.service_id for op in recipients):
        raise DoesNotExist.field("recipients")
    notice = ExpiryNotice.objects.create(
        service_id=author.service_id, author_account=author, created_by=actor if actor.pk else None,
        name=name.strip(), text=text.strip(), days_before=days_before, repeat=bool(repeat),
        send_email=bool(send_email), created_at=now)
    notice.recipients.set(recipients)
    audit.record("expiry_notice_created", actor=actor, subject_type="expiry_notice", subject_id=notice.pk,
                 subject_name=notice.name, account=_service(notice.service_id), after=_notice_values(notice), now=now)
    return notice


def _notice_values(notice: ExpiryNotice) -> dict:
    return {"name": notice.name, "text": notice.text, "days_before": notice.days_before, "repeat": notice.repeat,
            "send_email": notice.send_email,
            "recipients": sorted(notice.recipients.values_list("username", flat=True))}


@transaction.atomic
def update_notice(*, actor, notice: ExpiryNotice, name: str, text: str, days_before: int, repeat: bool,
                  send_email: bool, recipients) -> ExpiryNotice:
    _require_window_role(actor)
    require_not_blocked(actor)
    recipients = _clean_notice_fields(actor, name=name, text=text, days_before=days_before, recipients=recipients)
    notice = ExpiryNotice.objects.select_for_update().get(pk=notice.pk)
    before = _notice_values(notice)
    if any(op.account.service_id != notice.service_id for op in recipients):
        raise DoesNotExist.field("recipients")
    notice.name, notice.text, notice.days_before = name.strip(), text.strip(), days_before
    notice.repeat, notice.send_email = bool(repeat), bool(send_email)
    notice.save(update_fields=["name", "text", "days_before", "repeat", "send_email"])
    notice.recipients.set(recipients)
    old, new = audit.changes(before, _notice_values(notice))
    if old or new:
        audit.record("expiry_notice_updated", actor=actor, subject_type="expiry_notice", subject_id=notice.pk,
                     subject_name=notice.name, account=_service(notice.service_id), before=old, after=new)
    return notice


def dismiss_delivery(*, actor, delivery_id: int, now: datetime | None = None) -> int:
    """A recipient dismisses a "once" notice about a code; conditional, so a repeat is harmless."""
    now = now or clock.now()
    return NoticeDelivery.objects.filter(pk=delivery_id, recipient=actor, dismissed_at__isnull=True).update(
        dismissed_at=now)


def _sender_for(service_id: int) -> str:
    service = Account.objects.select_related("plan").get(pk=service_id)
    email = effective_settings(service.plan)["email"].value if service.plan_id else None
    return email or settings.DEFAULT_FROM_EMAIL


def _notice_rows(codes: QuerySet) -> QuerySet:
    """The concerned codes with what a delivery records of them: the unit — the code's own, or for an
    expired code the daily clear took off its unit, the unit its ``expired`` event names — as a name
    and an account path (NULL for a code on no unit), and the holder's name."""
    at_expiry = CodeEvent.objects.filter(code_id=OuterRef("pk"), action=CodeAction.EXPIRED,
                                         unit_id__isnull=False).order_by()
    # A code whose unit holds its renewal (a code queued on that unit, or already started there, at the
    # very instant this one ends: SPEC §9.5) leaves no unit dark, so nobody is told of its expiry.
    renewal = ActivationCode.objects.filter(Q(queued_on_id=OuterRef("n_unit_id")) | Q(unit_id=OuterRef("n_unit_id")),
                                            activated_at=OuterRef("expires_at")).exclude(pk=OuterRef("pk"))
    return codes.annotate(
        n_unit_id=Coalesce(F("unit_id"), Subquery(at_expiry.values("unit_id")[:1])),
        n_unit_name=Coalesce(F("unit__name"), Subquery(at_expiry.values("unit_name")[:1])),
        n_account_path=Coalesce(F("unit__account__path"), Subquery(at_expiry.values("account_path")[:1])),
        n_holder_name=Coalesce(F("shared_with__name"), F("service__name"))).exclude(Exists(renewal))


def _seen_by(recipient) -> Q:
    """A recipient is told of a code on a unit in its subtree, and of a code on no unit that it sees
    (held in its subtree: SPEC §9.8; restricted distributors see no codes)."""
    path = recipient.account.path
    seen = Q(n_account_path__startswith=path)
    if rights.may_use_codes_window(recipient):
        seen |= Q(n_account_path__isnull=True, holder_path__startswith=path)
    return seen


def _record_notice(notice: ExpiryNotice, now: datetime) -> tuple[int, list[int]]:
    """Record the (notice, recipient, code) deliveries now concerned and one e-mail per recipient with
    new ones, in the caller's transaction (the notice row locked). Returns (deliveries, e-mail ids)."""
    since = notice.last_run_at or notice.created_at
    rows = _notice_rows(concerned_codes(now, notice.days_before, since=since).filter(service_id=notice.service_id))
    created, emails = 0, []
    for recipient in notice.recipients.all():
        if not recipient.is_active or recipient.account is None:
            continue
        columns = {
            "notice_id": Value(notice.pk, output_field=BigIntegerField()),
            "recipient_id": Value(recipient.pk, output_field=BigIntegerField()),
            "code_id": F("id"), "created_at": Value(now, output_field=DateTimeField()),
            "unit_name": Coalesce(F("n_unit_name"), Value("")), "holder_name": F("n_holder_name"),
        }
        source = rows.filter(_seen_by(recipient)).order_by().annotate(
            **{f"{bulk.ALIAS_PREFIX}{name}": value for name, value in columns.items()})
        new = bulk.insert_select_new(NoticeDelivery, source.values(*(f"{bulk.ALIAS_PREFIX}{c}" for c in columns)))
        created += len(new)
        if new and notice.send_email and recipient.email:
            email = NoticeEmail.objects.create(notice=notice, recipient=recipient, created_at=now)
            NoticeDelivery.objects.filter(bulk.ids_condition(NoticeDelivery, new)).update(email=email)
            emails.append(email.pk)
    return created, emails


def _queue_notice_emails(email_ids: list[int]) -> None:
    """One Celery task per e-mail, once the transaction that recorded them commits (at once outside
    one). ``robust``: a broker that refuses one leaves it for the next job run, not the others."""
    from .tasks import send_notice_email

    def queue(email_id: int):
        def send_notice_email_later():
            send_notice_email.delay(email_id)
        return send_notice_email_later

    for email_id in email_ids:
        transaction.on_commit(queue(email_id), robust=True)


def send_expiry_notices(*, now: datetime | None = None) -> dict:
    """The hourly job: record every (notice, recipient, code) concerned and queue the e-mails.

    1. Per notice, under its row lock (``SKIP LOCKED``: a second run at once leaves it to the first),
       codes whose expiry lies in (last run, now + N days] — so a code that expired while the job was
       down, and was swept or cleared since, is still noticed — become deliveries for the recipients
       who see them (``INSERT … SELECT … ON CONFLICT DO NOTHING``: the unique key makes them
       exactly-once). A recipient with new deliveries gets one ``NoticeEmail`` listing them.
    2. After that transaction commits, each new e-mail goes to its own task (``send_notice_email``).
    3. E-mails of earlier runs still unsent (a send that failed past its retries, a broker that was
       down, a worker that died mid-send) are queued again; their claim keeps them from going twice.
    Returns the numbers of deliveries recorded and of e-mails queued.
    """
    now = now or clock.now()
    created, queued = 0, []
    for notice_id in ExpiryNotice.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            notice = (ExpiryNotice.objects.select_for_update(skip_locked=True).filter(pk=notice_id)
                      .prefetch_related("recipients__account").first())
            if notice is None:
                continue
            count, emails = _record_notice(notice, now)
            ExpiryNotice.objects.filter(pk=notice.pk).update(
                last_run_at=max(now, notice.last_run_at) if notice.last_run_at else now)
            created += count
            queued += emails
            _queue_notice_emails(emails)
    stale = now - NoticeEmail.CLAIM_TIMEOUT
    earlier = list(NoticeEmail.objects.filter(sent_at__isnull=True, created_at__lt=now, recipient__is_active=True,
                                              notice__send_email=True)
                   .exclude(recipient__email="")
                   .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=stale))
                   .order_by("pk").values_list("pk", flat=True))
    _queue_notice_emails(earlier)
    return {"deliveries": created, "emails": len(queued) + len(earlier)}


def _notice_message(email: NoticeEmail, deliveries: list[NoticeDelivery]) -> EmailMessage:
    """The e-mail's text: the notice's own, then one line per code, times in the service's zone."""
    zone = ZoneInfo(email.notice.service.timezone or "UTC")
    lines = []
    for delivery in deliveries:
        code, expires = delivery.code, delivery.code.expires_at.astimezone(zone)
        values = {"code": code.display, "unit": delivery.unit_name, "holder": delivery.holder_name,
                  "expires": f"{expires:%Y-%m-%d %H:%M} {zone.key}"}
        if delivery.unit_name:
            lines.append(gettext("- %(unit)s: code %(code)s expires %(expires)s") % values)
        else:
            lines.append(gettext("- code %(code)s, on no unit, held by %(holder)s, expires %(expires)s") % values)
    return EmailMessage(subject=email.notice.name, body=f"{email.notice.text}\n\n" + "\n".join(lines),
                        from_email=_sender_for(email.notice.service_id), to=[email.recipient.email])


def send_notice_email(email_id: int, *, now: datetime | None = None) -> bool:
    """Send one notice e-mail to its recipient, once unless a worker dies mid-send.

    The claim (``claimed_at``, under the row lock, ``SKIP LOCKED``) commits before the message leaves,
    so two live workers never both send it. A worker that dies after the message left but before
    ``sent_at`` is stamped leaves a claim that expires, and the e-mail may then go a second time: at
    least once, not exactly once (a mail server gives no transaction to share). On success ``sent_at`` is stamped; on failure the claim is
    released, the error kept and the exception raised, so the task retries this e-mail alone. A claim
    older than ``NoticeEmail.CLAIM_TIMEOUT`` (its worker died) may be taken again, as said above. Returns whether it
    sent; False when sent already, held by another worker, or the recipient has no address any more.
    """
    now = now or clock.now()
    with transaction.atomic():
        email = (NoticeEmail.objects.select_for_update(skip_locked=True, of=("self",))
                 .select_related("notice__service", "recipient")
                 .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - NoticeEmail.CLAIM_TIMEOUT),
                         pk=email_id, sent_at__isnull=True).first())
        if email is None:
            return False
        if not (email.recipient.is_active and email.recipient.email):
            NoticeEmail.objects.filter(pk=email.pk).update(claimed_at=None, last_error="no e-mail address")
            return False
        if not email.notice.send_email:  # e-mail turned off on the notice since: the banner still shows it
            NoticeEmail.objects.filter(pk=email.pk).update(claimed_at=None, last_error="notice not e-mailed")
            return False
        NoticeEmail.objects.filter(pk=email.pk).update(claimed_at=now, attempts=F("attempts") + 1)
    claimed = NoticeEmail.objects.filter(pk=email.pk, claimed_at=now, sent_at__isnull=True)
    deliveries = list(email.deliveries.select_related("code").order_by("code__expires_at", "id"))
    try:
        _notice_message(email, deliveries).send()
    except Exception as exc:
        claimed.update(claimed_at=None, last_error=f"{type(exc).__name__}: {exc}"[:500])
        raise
    claimed.update(sent_at=clock.now(), last_error="")
    return True


# --- generation in the background (issue 15: a big batch is a job, not a request that blocks) ------------

GENERATION_JOB_CHUNK = GENERATE_BATCH  # codes per transaction of a job (the progress page moves by these)


def _check_generation_request(actor, service: Account | None, quantity, validity_days) -> None:
    """Who may generate, for which service, how many and for how long: asked by ``generate_codes`` and by
    ``queue_generation`` before a job is made."""
    if not rights.may_generate_codes(actor):
        raise Forbidden("Only top users and the platform operator generate codes.", code="permission_denied")
    require_not_blocked(actor)
    if service is None or not service.is_top or (not is_platform(actor) and actor.account_id != service.pk):
        raise DoesNotExist.field("service")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_BATCH:
        raise InvalidInput.field("quantity", f"A whole number from 1 to {MAX_BATCH:,}.")
    if (not isinstance(validity_days, int) or isinstance(validity_days, bool)
            or not 1 <= validity_days <= MAX_VALIDITY_DAYS):
        raise InvalidInput.field("validity_days", f"A whole number of days from 1 to {MAX_VALIDITY_DAYS:,}.")


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
    from .models import CodeGenerationJob
    from .tasks import run_generation_job

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
    from .models import CodeGenerationJob

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
