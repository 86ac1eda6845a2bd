"""The plans app's part in the account operations, as receivers of their signals (connected in
``PlansConfig.ready``). Each runs inside the sender's transaction."""

from .history import record_account_plans


def seed_account_plan(sender, *, account, now, **kwargs):
    """Before an account's plan changes: an account without history gets its first version (the plan it
    had, from its creation)."""
    record_account_plans([account.pk], now=now, seed=True)


def record_account_plan(sender, *, account, now, **kwargs):
    """After an account is written with a plan or its plan changed: the version in force from ``now``."""
    record_account_plans([account.pk], now=now)
