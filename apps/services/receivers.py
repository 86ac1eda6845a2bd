"""The kernel's part in other apps' operations, as receivers of their signals (connected in
``ServicesConfig.ready``). Each runs inside the sender's transaction; a ``DomainError`` refuses the change."""

from .blocking import evaluate_blocking
from .ledger import record_payment
from .operations import move_objects


def count_new_child_account(sender, *, account, parent, actor, now, **kwargs):
    """The parent counts its new child as one ``avl_resource`` (SPEC §8.3); its ancestors' subtree counts
    grow too and the limits of the whole path apply. A refusal (``no_plan`` while the top account has no
    plan, ``service_unknown``, ``limit_reached``) leaves the transaction, so the account is never written."""
    move_objects(account=parent, service="avl_resource", delta=1, actor=actor, now=now, internal=True)


def record_opening_payment(sender, *, account, payment, actor, now, **kwargs):
    """A new account's opening payment: one ledger row (the creator's rights were checked by
    ``create_account``), its block if a threshold applies. The default description is stored in the
    ledger row and shown to every reader as stored: one plain English text, not the creator's language."""
    record_payment(actor=actor, account=account, amount=payment.get("amount") or 0, days=payment.get("days") or 0,
                   description=payment.get("description") or "Opening payment", now=now, _skip_rights=True)


def evaluate_blocking_of_account(sender, *, account, now, **kwargs):
    """An account's own thresholds changed: the blocking rule sets or lifts its automatic block."""
    evaluate_blocking(account, now=now)
