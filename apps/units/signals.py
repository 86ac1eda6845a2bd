"""What the unit operations announce, for the apps above them (codes) to react to; see
``apps.accounts.signals`` for the pattern. Sent inside the operation's transaction; a receiver that
raises a ``DomainError`` refuses the change."""

from django.dispatch import Signal

# A unit is about to change account (kwargs: unit, new_account); a receiver may refuse the move (the
# codes app keeps a unit inside its code's holder subtree).
unit_moving = Signal()

# A unit was archived (kwargs: unit, actor, now); the codes app unassigns its code.
unit_archived = Signal()
