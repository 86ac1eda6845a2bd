"""Helpers the dashboard tests import (fixtures stay in ``conftest.py``)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apps.accounts import operations as account_ops
from apps.codes import operations as ops
from apps.codes.models import ActivationCode
from apps.units.models import Unit
from apps.services import ledger
from tests import factories
from tests.codes.helpers import make_unit


T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)


@dataclass
class DashWorld:
    w: object
    units: dict
    codes: dict
    direct_client: object
    other_unit: Unit

    def __getattr__(self, name):
        return getattr(self.w, name)


def _code(world, validity, shared_with=None, service=None, actor=None, t0=T0) -> ActivationCode:
    return ops.generate_codes(actor=actor or world.top, service=service or world.acme, quantity=1,
                              validity_days=validity, shared_with=shared_with, now=t0)[0]


def build_dash_world(world, T0) -> DashWorld:
    """The table above, with every clock started at ``T0`` (browser tests pass the real time)."""
    ops.switch_billing_method(actor=world.platform, service=world.acme, method="activation_codes", confirm=True, now=T0)
    ops.switch_billing_method(actor=world.platform, service=world.other_service, method="activation_codes",
                              confirm=True, now=T0)
    world.acme.refresh_from_db()
    direct_client = factories.account(world.acme, name="Direct Client", plan_=world.base_plan, actor=world.platform)
    units = {
        "north1": make_unit(world.north_client, "North truck 1"),
        "north2": make_unit(world.north_client, "North truck 2"),
        "ne": make_unit(world.north_east_client, "North-East van"),
        "south": make_unit(world.south_client, "South bus"),
        "direct": make_unit(direct_client, "Direct car"),
        "spare": make_unit(world.north_client, "North spare"),
    }
    c = {
        "c1": _code(world, 30, world.north, t0=T0), "c2": _code(world, 5, world.north, t0=T0),
        "q2": _code(world, 10, world.north, t0=T0), "c3": _code(world, 3, world.north, t0=T0),
        "c4": _code(world, 60, t0=T0), "c5": _code(world, 30, t0=T0), "c6": _code(world, 30, t0=T0),
        "c7": _code(world, 20, t0=T0), "c8": _code(world, 90, world.north, t0=T0),
    }
    for code, unit in (("c1", "north1"), ("c2", "north2"), ("c3", "ne"), ("c4", "south"), ("c6", "direct")):
        ops.assign_code(actor=world.top, code=c[code], unit=units[unit], now=T0)
    ops.queue_code(actor=world.top, code=c["q2"], unit=units["north2"], now=T0)
    ops.reassign_code(actor=world.top, code=c["c6"], unit=units["spare"], now=T0)
    ops.unassign_code(actor=world.top, code=c["c6"], now=T0)  # running, on no unit; the spare is inactive again
    ops.assign_code(actor=world.top, code=c["c7"], unit=units["direct"], now=T0)
    # The other service: a unit with a code ending in 2 days, a new code: never counted for Acme.
    other_client = world.other_service.children.get()
    other_unit = make_unit(other_client, "Other van")
    other_top = world.other_top
    ops.assign_code(actor=other_top, code=_code(world, 2, service=world.other_service, actor=other_top, t0=T0),
                    unit=other_unit, now=T0)
    _code(world, 30, service=world.other_service, actor=other_top, t0=T0)
    # Accounts: North Client blocked by hand; North-East Client 2 days from its minimum (the kernel warns).
    account_ops.block_account(actor=world.top, account=world.north_client, reason="unpaid", now=T0)
    account_ops.update_account(actor=world.platform, account=world.north_east_client,
                               changes={"block_by_days": True, "min_days": 0})
    ledger.record_payment(actor=world.top, account=world.north_east_client, days=2, description="2 days")
    for account, amount in ((world.north, 50), (world.south, 20), (world.south_client, 5), (direct_client, 70)):
        ledger.record_payment(actor=world.platform, account=account, amount=amount, description="opening")
    for unit in units.values():
        unit.refresh_from_db()
    return DashWorld(w=world, units=units, codes=c, direct_client=direct_client, other_unit=other_unit)
