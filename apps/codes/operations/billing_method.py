"""Switching an account's billing method between codes and per-unit charging."""

from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext

from apps.accounts import audit
from apps.accounts.models import Account, BillingMethod
from apps.core import clock
from apps.core.errors import Conflict, DoesNotExist, Forbidden, InvalidInput
from apps.core.scoping import is_platform
from apps.units.models import DeactivationReason, Unit

from ..models import ActivationCode, CodeAction, CodeStatus
from ._common import _event, _write_events
from .sweep import expire_codes, SWEEP_BATCH


CODE_DEACTIVATION_REASONS = (DeactivationReason.NO_CODE, DeactivationReason.CODE_EXPIRED)


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
        raise Forbidden(gettext("Only the platform operator switches the billing method."), code="permission_denied")
    if method not in BillingMethod.values:
        raise InvalidInput.field("billing_method", gettext("Must be 'monthly' or 'activation_codes'."))
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
                gettext("Switching to '%(method)s' deactivates %(deactivate)d and reactivates %(reactivate)d units. "
                        "Send confirm: true to go ahead.") % {
                    "method": method, "deactivate": counts["units_to_deactivate"],
                    "reactivate": counts["units_to_reactivate"]},
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
