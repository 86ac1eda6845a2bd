"""Units fixtures: catalogues and a unit builder going through the operations."""

import itertools

import pytest

from apps.accounts import operations as account_ops
from apps.plans.models import DeviceType, Modem, Plan, PlanService
from apps.units import operations

_imei = itertools.count(100000000000001)


@pytest.fixture
def tracker(db):
    return DeviceType.objects.create(name="Teltonika FMB920")


@pytest.fixture
def camera(db):
    return DeviceType.objects.create(name="Dashcam DC-1")


@pytest.fixture
def modem(db):
    return Modem.objects.create(name="Quectel EG25")


UNIT_SERVICES = ("avl_unit", "unit_sensors", "unit_alias", "storage_user")


@pytest.fixture(autouse=True)
def billed(world):
    """Acme and Other Service get their root plans (set by the platform operator) with the unit
    services free and unlimited, so the kernel allows what the units tests create. Autouse: every
    units test runs in this world."""
    other_plan = Plan.objects.get(service=world.other_service, name="Other base")
    for service, plan in ((world.acme, world.base_plan), (world.other_service, other_plan)):
        account_ops.update_account(actor=world.platform, account=service, changes={"plan": plan})
        PlanService.objects.bulk_create([PlanService(plan=plan, name=name, type="periodic", interval="monthly")
                                         for name in UNIT_SERVICES])
    world.acme.refresh_from_db()
    return world


@pytest.fixture
def make_unit(world, billed):
    """``make_unit(account, actor=top, **fields)`` creates a unit through ``create_unit``."""

    def _make(account, *, actor=None, name=None, unique_id=None, **fields):
        number = next(_imei)
        return operations.create_unit(actor=actor or world.top, account=account, name=name or f"Truck {number}",
                                      unique_id=unique_id or str(number), **fields)

    return _make

