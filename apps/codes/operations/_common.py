"""Helpers shared by the code operations: code-log rows, locks, reach and refusal checks, the queue's starting step."""

from datetime import datetime

from django.db import IntegrityError, OperationalError, transaction
from django.db.models import BigIntegerField, DateTimeField, F, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext

from apps.accounts import audit, rights
from apps.accounts.models import Account, BillingMethod
from apps.accounts.operations import actor_name, require_not_blocked
from apps.accounts.queries import is_blocked
from apps.core.errors import Conflict, DoesNotExist, DomainError, Forbidden, InvalidInput
from apps.core.scoping import is_platform
from apps.units.models import DeactivationReason, Unit

from .. import bulk
from ..models import DAY, ActivationCode, CodeAction, CodeEvent, CodeStatus


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
        raise Conflict(gettext("Another request is working on this code; try again."), code="code_busy") from None


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
        raise Forbidden(gettext("Billing by activation codes is off for this service."), code="billing_by_codes_off")


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
        raise Forbidden(gettext("Your role may not use the codes window."), code="permission_denied")


def _lock_seen_code(actor, code: ActivationCode | int) -> ActivationCode:
    """Lock the code and refuse it like an unknown one when the actor cannot see it (nothing leaks)."""
    code = _lock_code(code)
    if not _actor_sees_code(actor, code):
        raise DoesNotExist.field("code")
    return code


def _lock_visible_code(actor, code: ActivationCode | int) -> tuple[ActivationCode, Account]:
    """``_lock_seen_code``, and billing by codes required on its service: the common start of every window
    operation on one code that starts a clock or moves a code."""
    code = _lock_seen_code(actor, code)
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


def _expired_refusal() -> InvalidInput:
    return InvalidInput(gettext("This code has expired and can never be used again."), code="code_expired",
                        fields={"code": [gettext("This code has expired.")]})


def _refuse_expired():
    raise _expired_refusal()


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
        raise _unit_has_code() from None
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
        return Forbidden(gettext("Billing by activation codes is off for this service."), code="billing_by_codes_off")
    if code.state(at=now) == CodeStatus.EXPIRED:
        return _expired_refusal()
    if code.unit_id_at(now) is not None:  # on a unit, or queued and started there
        reason = gettext("This code is already on a unit.")
        return InvalidInput(reason, code="code_in_use", fields={"code": [reason]})
    if code.status == CodeStatus.QUEUED:
        return _queued_refusal()
    if unit is None or (unit.service_id != code.service_id) or not unit.account.path.startswith(
            _actor_path(actor, unit.service_id)):
        return DoesNotExist.field("unit")
    if not unit.account.path.startswith(code.holder_path):
        if _actor_sees_code(actor, code):
            return Forbidden(gettext("The unit is outside the branch this code is shared with."), code="outside_branch")
        return DoesNotExist.field("code")  # another branch's code: the same answer as an unknown one
    if unit_blocked:
        return Forbidden(gettext("The unit's account is blocked."), code="account_blocked")
    if unit_busy:
        return _unit_has_code()
    return None


def _unit_has_code() -> InvalidInput:
    reason = gettext("This unit already holds a live code.")
    return InvalidInput(reason, code="unit_has_code", fields={"unit": [reason]})


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
