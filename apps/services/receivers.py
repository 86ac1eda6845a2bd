"""The kernel's part in other apps' operations, as receivers of their signals (connected in
``ServicesConfig.ready``). Each runs inside the sender's transaction; a ``DomainError`` refuses the change."""

from .operations import move_objects


def count_new_child_account(sender, *, account, parent, actor, now, **kwargs):
    """The parent counts its new child as one ``avl_resource`` (SPEC §8.3); its ancestors' subtree counts
    grow too and the limits of the whole path apply. A refusal (``no_plan`` while the top account has no
    plan, ``service_unknown``, ``limit_reached``) leaves the transaction, so the account is never written."""
    move_objects(account=parent, service="avl_resource", delta=1, actor=actor, now=now, internal=True)
