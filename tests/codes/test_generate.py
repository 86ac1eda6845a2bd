import re

import pytest

from apps.codes import operations as ops
from apps.codes.models import ActivationCode, CodeEvent, CodeStatus
from apps.core.errors import DoesNotExist, Forbidden, InvalidInput

from tests.codes.helpers import T0


def test_generate_creates_new_hex_codes_with_events(cw):
    codes = ops.generate_codes(actor=cw.top, service=cw.acme, quantity=5, validity_days=90, now=T0)
    assert len({c.code for c in codes}) == 5
    rows = ActivationCode.objects.filter(service=cw.acme)
    assert rows.count() == 5
    for row in rows:
        assert re.fullmatch(r"[0-9a-f]{32}", row.code)
        assert (row.status, row.validity_days, row.activated_at, row.expires_at, row.unit_id) == (
            CodeStatus.NEW, 90, None, None, None)
        assert (row.holder_path, row.holder_branch) == (cw.acme.path, None)
    assert CodeEvent.objects.filter(action="generated", service_id=cw.acme.pk).count() == 5


def test_generate_shared_with_a_dealer_logs_generated_and_shared(cw):
    codes = ops.generate_codes(actor=cw.top, service=cw.acme, quantity=2, validity_days=30, shared_with=cw.north,
                               now=T0)
    code = ActivationCode.objects.get(pk=codes[0].pk)
    assert (code.shared_with_id, code.holder_path, code.holder_branch) == (cw.north.pk, cw.north.path, cw.north.pk)
    assert codes[0].holder_branch == cw.north.pk  # the returned instances match the rows
    actions = list(CodeEvent.objects.filter(code=code.code).order_by("id").values_list("action", flat=True))
    assert actions == ["generated", "shared"]


@pytest.mark.parametrize("quantity", [0, 100_001, "5", True])
def test_generate_refuses_a_bad_quantity(cw, quantity):
    with pytest.raises(InvalidInput) as exc:
        ops.generate_codes(actor=cw.top, service=cw.acme, quantity=quantity, validity_days=30, now=T0)
    assert "quantity" in exc.value.fields
    assert not ActivationCode.objects.exists()


@pytest.mark.parametrize("days", [0, 3651])
def test_generate_refuses_a_bad_validity(cw, days):
    with pytest.raises(InvalidInput) as exc:
        ops.generate_codes(actor=cw.top, service=cw.acme, quantity=1, validity_days=days, now=T0)
    assert "validity_days" in exc.value.fields


def test_distributors_may_not_generate(cw):
    with pytest.raises(Forbidden):
        ops.generate_codes(actor=cw.north_op, service=cw.acme, quantity=1, validity_days=30, now=T0)


def test_top_user_generates_only_in_its_own_service(cw):
    with pytest.raises(DoesNotExist):
        ops.generate_codes(actor=cw.top, service=cw.other_service, quantity=1, validity_days=30, now=T0)


def test_generate_is_refused_under_monthly_billing(world):
    with pytest.raises(Forbidden) as exc:
        ops.generate_codes(actor=world.top, service=world.acme, quantity=1, validity_days=30, now=T0)
    assert exc.value.code == "billing_by_codes_off"


def test_generate_shared_with_an_account_without_dealer_rights_is_refused(cw):
    with pytest.raises(InvalidInput) as exc:
        ops.generate_codes(actor=cw.top, service=cw.acme, quantity=1, validity_days=30, shared_with=cw.north_client,
                           now=T0)
    assert "account" in exc.value.fields
    assert not ActivationCode.objects.exists()
