"""The admin's bulk actions on codes."""

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext

from apps.accounts.models import Account
from apps.accounts.operations import require_not_blocked
from apps.core import clock
from apps.core.errors import DomainError
from apps.units.models import Unit

from .. import bulk
from ..models import DAY, ActivationCode, CodeAction, CodeStatus
from ._common import _assignment_refusal, _event, _require_window_role, _write_events
from .sweep import expire_codes


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
            skipped.append(((code_in, unit_in), gettext("Another request is working on this code.")))
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
