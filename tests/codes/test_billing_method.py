import pytest

from apps.accounts.models import Account
from apps.codes import operations as ops
from apps.core.errors import Conflict, Forbidden
from apps.units.models import Unit

from tests.codes.helpers import T0, make_unit


def test_switching_on_needs_a_confirmation_that_counts_units(world):
    make_unit(world.north_client, "a", active=True)
    make_unit(world.south_client, "b", active=True)
    with pytest.raises(Conflict) as exc:
        ops.switch_billing_method(actor=world.platform, service=world.acme, method="activation_codes",
                                  confirm=False, now=T0)
    assert exc.value.code == "confirmation_required"
    assert exc.value.extra == {"units_to_deactivate": 2, "units_to_reactivate": 0}
    assert Account.objects.get(pk=world.acme.pk).billing_method == "monthly"
    assert Unit.objects.filter(active=True).count() == 2


def test_switching_on_deactivates_units_without_a_live_code(world):
    from apps.codes.models import CodeEvent

    unit = make_unit(world.north_client, "a", active=True)
    result = ops.switch_billing_method(actor=world.platform, service=world.acme, method="activation_codes",
                                       confirm=True, now=T0)
    assert result == {"billing_method": "activation_codes", "units_deactivated": 1, "units_reactivated": 0}
    unit.refresh_from_db()
    assert (unit.active, unit.deactivation_reason, unit.deactivated_at) == (False, "no_code", T0)
    assert CodeEvent.objects.filter(action="unit_deactivated", unit_id=unit.pk).count() == 1


def test_back_to_monthly_reactivates_units_deactivated_for_codes_only(cw):
    manual = make_unit(cw.north_client, "manual")
    Unit.objects.filter(pk=manual.pk).update(deactivation_reason="manual")
    with pytest.raises(Conflict) as exc:
        ops.switch_billing_method(actor=cw.platform, service=cw.acme, method="monthly", confirm=False, now=T0)
    assert exc.value.extra == {"units_to_deactivate": 0, "units_to_reactivate": 4}
    ops.switch_billing_method(actor=cw.platform, service=cw.acme, method="monthly", confirm=True, now=T0)
    assert Unit.objects.filter(active=True).count() == 4
    assert not Unit.objects.get(pk=manual.pk).active


def test_only_the_platform_operator_switches(cw):
    with pytest.raises(Forbidden):
        ops.switch_billing_method(actor=cw.top, service=cw.acme, method="monthly", confirm=True, now=T0)
