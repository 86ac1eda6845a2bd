"""Assign, apply, unassign and reassign a code (SPEC §8.5)."""

from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext

from apps.accounts.models import Account, BillingMethod
from apps.accounts.operations import require_not_blocked
from apps.accounts.queries import is_blocked
from apps.core import clock
from apps.core.errors import DoesNotExist, InvalidInput
from apps.units.models import DeactivationReason, Unit

from ..models import ActivationCode, CodeAction, CodeStatus
from ..queries import normalize_code
from ._common import (_assignment_refusal, _deactivate, _event, _expire_if_due, _lock_seen_code, _lock_unit,
                      _lock_visible_code, _prepare_assignment, _put_on_unit, _queued_code_on, _queued_refusal,
                      _refuse_expired, _require_unit_in_reach, _require_window_role, _service, _start_queued,
                      _unit_holds_live_code, _write_events)
from .queue import _queue, _settle_if_started


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
        raise InvalidInput.field("code", gettext("A code is 32 hexadecimal characters (spaces and dashes are ignored)."))
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
        code = _lock_seen_code(actor, code)
        service = _service(code.service_id)
        code = _settle_if_started(code, service=service, actor=actor, now=now)
        if not _expire_if_due(code, service=service, actor=actor, now=now):
            if code.status == CodeStatus.EXPIRED:
                _refuse_expired()
            if code.status == CodeStatus.QUEUED:
                raise _queued_refusal()
            if code.unit_id is None:
                raise InvalidInput.field("code", gettext("This code is not on a unit."))
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
                raise InvalidInput.field("code", gettext("Only a code on a unit can be reassigned; assign it instead."))
            unit_a, unit_b = _lock_units_in_order(code.unit_id, unit.pk if isinstance(unit, Unit) else unit)
            if unit_a.pk == unit_b.pk:
                raise InvalidInput.field("unit", gettext("The code is already on this unit."))
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
