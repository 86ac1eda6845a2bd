"""Share and unshare a code with a branch (SPEC §8.5)."""

from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext

from apps.accounts import rights
from apps.accounts.models import Account
from apps.accounts.operations import require_not_blocked
from apps.core import clock
from apps.core.errors import Forbidden, InvalidInput
from apps.core.scoping import is_platform

from ..models import (ActivationCode, CodeAction, CodeStatus,
                     branch_of)
from ._common import (_actor_path, _event, _expire_if_due, _lock_seen_code, _lock_visible_code,
                      _queued_refusal, _refuse_expired, _require_window_role, _service_path, _write_events)
from .generation import _check_share_target


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
                raise InvalidInput(gettext("Only a code that is not on a unit can be shared."), code="code_in_use",
                                   fields={"code": [gettext("This code is on a unit.")]})
            if code.status == CodeStatus.QUEUED:
                raise _queued_refusal()
            if code.shared_with_id == getattr(account, "pk", None):
                raise InvalidInput.field("account", gettext("The code is already shared with this account."))
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
        code = _lock_seen_code(actor, code)
        current = code.shared_with
        if current is None:
            raise InvalidInput.field("code", gettext("This code is not shared."))
        if account is not None and account.pk != current.pk:
            raise InvalidInput.field("account", gettext("The code is not shared with this account."))
        actor_path = _actor_path(actor, code.service_id)
        if current.path == actor_path:
            raise Forbidden(gettext("Only an operator above this account may take the code back."), code="outside_branch")
        if code.unit_id_at(now) is not None:
            raise InvalidInput(gettext("Only a code that is not on a unit can be unshared."), code="code_in_use",
                               fields={"code": [gettext("This code is on a unit.")]})
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
