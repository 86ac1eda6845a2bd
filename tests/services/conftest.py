"""Kernel fixtures: Acme gets its root plan so its checks are not ``no_plan``, and helpers to give a
plan or an account a service row."""

import itertools

import pytest

from apps.accounts import operations as account_ops
from apps.plans.models import PlanService

_keys = itertools.count(1)


@pytest.fixture
def billed(world):
    """The world with Acme on the Base plan (set by the platform operator)."""
    account_ops.update_account(actor=world.platform, account=world.acme, changes={"plan": world.base_plan})
    world.acme.refresh_from_db()
    return world


def row(plan, name, cost_table="", *, interval="none", type_=None):
    """Give ``plan`` a row for ``name`` (type from the catalogue's usual kind when not given)."""
    from apps.services.models import CatalogueService

    kind = type_ or CatalogueService.objects.get(name=name, service__isnull=True).type
    PlanService.objects.update_or_create(plan=plan, name=name,
                                         defaults={"type": kind, "interval": interval, "cost_table": cost_table})


def key() -> str:
    return f"key-{next(_keys)}"
