"""Units under billing by activation codes, with the codes app's real operations and hooks."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from apps.accounts.models import Account
from apps.codes import operations as code_ops
from apps.codes.models import ActivationCode, CodeEvent
from apps.core.errors import Forbidden
from apps.units import operations

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def by_codes(world):
    Account.objects.filter(pk=world.acme.pk).update(billing_method="activation_codes")
    world.acme.refresh_from_db()
    return world


def test_unit_with_a_live_code_shows_it_and_may_be_reactivated_by_hand(by_codes, world, make_unit, as_user):
    with time_machine.travel(NOW, tick=False):
        unit = make_unit(world.north_client)
        [code] = code_ops.generate_codes(actor=world.top, service=world.acme, quantity=1, validity_days=30)
        code_ops.assign_code(actor=world.top, code=code, unit=unit)
        unit.refresh_from_db()
        assert unit.active
        body = as_user(world.north_op).get(f"/api/v1/units/{unit.pk}/").json()
        assert body["code"] == code.code and body["code_expires_at"] == "2026-04-09T12:00:00Z"
        operations.set_unit_active(actor=world.north_op, unit=unit, active=False)
        assert operations.set_unit_active(actor=world.north_op, unit=unit, active=True).active


def test_expired_code_does_not_allow_manual_activation(by_codes, world, make_unit):
    with time_machine.travel(NOW, tick=False):
        unit = make_unit(world.north_client)
        [code] = code_ops.generate_codes(actor=world.top, service=world.acme, quantity=1, validity_days=1)
        code_ops.assign_code(actor=world.top, code=code, unit=unit)
        operations.set_unit_active(actor=world.top, unit=unit, active=False)
    with time_machine.travel(NOW + timedelta(days=2), tick=False):
        with pytest.raises(Forbidden) as exc:
            operations.set_unit_active(actor=world.top, unit=unit, active=True)
    assert exc.value.code == "billing_by_codes"


def test_archiving_takes_the_code_off_the_unit_with_an_event(by_codes, world, make_unit):
    unit = make_unit(world.north_client)
    [code] = code_ops.generate_codes(actor=world.top, service=world.acme, quantity=1, validity_days=30)
    code_ops.assign_code(actor=world.top, code=code, unit=unit)
    operations.archive_unit(actor=world.north_op, unit=unit)
    code = ActivationCode.objects.get(pk=code.pk)
    assert code.unit_id is None
    assert CodeEvent.objects.filter(code=code.code, action="unassigned").exists()


def test_unit_api_list_reads_codes_in_one_query(by_codes, world, make_unit, as_user, django_assert_max_num_queries):
    codes = code_ops.generate_codes(actor=world.top, service=world.acme, quantity=5, validity_days=30)
    for code in codes:
        code_ops.assign_code(actor=world.top, code=code, unit=make_unit(world.north_client))
    client = as_user(world.top)
    with django_assert_max_num_queries(8):
        results = client.get("/api/v1/units/").json()["results"]
    assert sorted(r["code"] for r in results) == sorted(c.code for c in codes)


def test_unit_moves_only_inside_its_codes_holder_subtree(by_codes, world, make_unit, as_user):
    unit = make_unit(world.north_client)
    [code] = code_ops.generate_codes(actor=world.top, service=world.acme, quantity=1, validity_days=30,
                                     shared_with=world.north)
    code_ops.assign_code(actor=world.north_op, code=code, unit=unit)
    response = as_user(world.top).patch(f"/api/v1/units/{unit.pk}/", {"account": world.south_client.pk},
                                        format="json")
    assert response.status_code == 403 and response.json()["code"] == "outside_branch"
    operations.update_unit(actor=world.north_op, unit=unit, changes={"account": world.north_east_client})
    unit.refresh_from_db()
    assert unit.account_id == world.north_east_client.pk
