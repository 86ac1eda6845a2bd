"""The codes app's part in other apps' operations, as receivers of their signals (connected in
``CodesConfig.ready``). Each runs inside the sender's transaction; a ``DomainError`` refuses the change."""

from . import operations


def return_codes_of_revoked_dealer(sender, *, account, actor, now, **kwargs):
    operations.return_codes_of_revoked_dealer(account=account, actor=actor, now=now)


def unassign_code_of_archived_unit(sender, *, unit, actor, now, **kwargs):
    operations.unassign_code_of_archived_unit(unit=unit, actor=actor, now=now)


def check_unit_move(sender, *, unit, new_account, **kwargs):
    operations.check_unit_move(unit=unit, new_account=new_account)
