"""What the account operations announce, for the apps above them to react to (docs/architecture.md, "Layers").

The account tree knows nothing of the kernel, units or codes; when a change here must make them act,
the operation that owns the change sends one of these signals inside its transaction, and the other
app's receiver (connected in its ``AppConfig.ready``) does its part there. A receiver that raises a
``DomainError`` refuses the whole change: ``send`` (never ``send_robust``) lets it through.
"""

from django.dispatch import Signal

# A child account was written under ``parent`` (kwargs: account, parent, actor, now). The kernel counts
# it as one ``avl_resource`` of the parent and may refuse it (``limit_reached``, ``no_plan``, …).
account_created = Signal()

# Dealer rights were revoked (kwargs: account, actor, now). The codes app returns the account's
# unassigned codes to the top.
dealer_rights_revoked = Signal()
