"""The renewal queue (SPEC §9.5, §9.8 "Renewal rules")."""

from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from apps.accounts.models import Account
from apps.accounts.operations import require_not_blocked
from apps.accounts.queries import is_blocked
from apps.core import clock
from apps.core.errors import DoesNotExist, InvalidInput
from apps.units.models import Unit

from ..models import DAY, ActivationCode, CodeAction, CodeStatus
from ._common import (_assignment_refusal, _event, _expire_locked, _lock_code, _lock_unit, _lock_visible_code,
                      _queued_code_on, _require_codes_billing, _require_window_role, _service, _write_events)
from .admin_bulk import run_each


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
