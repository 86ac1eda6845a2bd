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

# An account was written with an opening payment (kwargs: account, payment (amount, days, description),
# actor, now). The kernel's ledger records it, with the thresholds' block if one applies.
opening_payment = Signal()

# An account's own blocking thresholds (overrides) changed (kwargs: account, now). The kernel's blocking
# rule sets or lifts the automatic block.
account_overrides_changed = Signal()

# An account's plan is about to change (kwargs: account, now), before the row is saved: the plans'
# history keeps the plan the account had as its first version if it has none yet.
account_plan_changing = Signal()

# An account was written with a plan, or its plan changed (kwargs: account, now), after the row is
# saved: the plans' history opens the version in force from ``now``.
account_plan_changed = Signal()
