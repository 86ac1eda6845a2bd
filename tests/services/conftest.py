"""Kernel fixtures: Acme gets its root plan so its checks are not ``no_plan``, and helpers to give a
plan or an account a service row."""


import pytest

from apps.accounts import operations as account_ops


@pytest.fixture
def billed(world):
    """The world with Acme on the Base plan (set by the platform operator)."""
    account_ops.update_account(actor=world.platform, account=world.acme, changes={"plan": world.base_plan})
    world.acme.refresh_from_db()
    return world


