"""Hooks other apps call inside their own transactions (dealer rights revoked, unit archived or moved)."""

from datetime import datetime

from django.db.models import Q
from django.utils.translation import gettext

from apps.accounts.models import Account
from apps.core import clock
from apps.core.errors import Forbidden
from apps.units.models import Unit

from ..models import ActivationCode, CodeAction, CodeStatus
from ._common import _event, _expire_locked, _queued_code_on, _service, _service_path, _write_events
from .assignment import _take_off_unit
from .queue import _unqueue_locked


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
               # The code log's reason is a stable value, not a sentence (SPEC §9.8): never translated.
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
        _unqueue_locked(queued, unit, actor=actor, now=now, reason="unit archived")  # a stable value (as above)
    if code is None:
        return
    _take_off_unit(code, unit, service=_service(code.service_id), actor=actor, now=now, deactivate=False)


def check_unit_move(*, unit: Unit, new_account: Account):
    """A unit moves only inside its live code's holder subtree (SPEC §8.5)."""
    holder_paths = (ActivationCode.objects.filter(Q(unit_id=unit.pk, status=CodeStatus.ACTIVE)
                                                  | Q(queued_on_id=unit.pk, status=CodeStatus.QUEUED))
                    .values_list("holder_path", flat=True))
    if any(not new_account.path.startswith(holder_path) for holder_path in holder_paths):
        raise Forbidden(gettext("The unit's activation code is held by another branch; the unit cannot move there."),
                        code="outside_branch", fields={"account": [gettext("Outside the branch of the unit's code.")]})
