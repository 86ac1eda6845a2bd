"""The discount tests' world: Acme with the discount on, a plan on its top account whose free rows
let units, monitoring users and the counted objects be created through the real operations."""

import itertools

import pytest

from apps.accounts import operations as account_ops
from apps.discounts.rules import OBJECT_SERVICES
from apps.plans.models import PlanService
from apps.services.operations import move_objects
from apps.units import operations as unit_ops

FREE_PERIODIC = ("avl_unit", "avl_resource", "storage_user", "unit_sensors", "unit_alias", *OBJECT_SERVICES)
_imei = itertools.count(100000)


@pytest.fixture
def acme(world):
    """Acme with the discount on (the platform operator's setting) and the Base plan on its top."""
    for name in FREE_PERIODIC:
        PlanService.objects.get_or_create(plan=world.base_plan, name=name,
                                          defaults={"type": "periodic", "interval": "none", "cost_table": ""})
    return account_ops.update_account(actor=world.platform, account=world.acme,
                                      changes={"discount_enabled": True, "plan": world.base_plan})


@pytest.fixture
def make_unit(world):
    def _make(account, name=None, **features):
        n = next(_imei)
        return unit_ops.create_unit(actor=world.platform, account=account, name=name or f"Unit {n}",
                                    unique_id=f"imei{n}", **features)

    return _make


@pytest.fixture
def make_user(world):
    def _make(account, name=None):
        return unit_ops.create_monitoring_user(actor=world.platform, account=account,
                                               name=name or f"user{next(_imei)}")

    return _make


@pytest.fixture
def add_objects(world):
    def _add(account, service, count):
        move_objects(account=account, service=service, delta=count, actor=None)

    return _add
