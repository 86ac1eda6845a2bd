import pytest

from apps.accounts import operations as account_ops
from apps.codes import operations as ops
from apps.codes.models import ActivationCode, CodeEvent
from apps.core.errors import DoesNotExist, Forbidden, InvalidInput

from tests import factories

from tests.codes.helpers import T0, events_of, make_unit


def test_share_moves_the_holder_and_logs_before_and_after(cw, new_code):
    code = ops.share_code(actor=cw.top, code=new_code(), account=cw.north, now=T0)
    row = ActivationCode.objects.get(pk=code.pk)
    assert (row.shared_with_id, row.holder_path, row.holder_branch) == (cw.north.pk, cw.north.path, cw.north.pk)
    event = CodeEvent.objects.get(code=code.code, action="shared")
    assert (event.holder_path_before, event.holder_path_after) == (cw.acme.path, cw.north.path)
    assert (event.before["shared_with"], event.after["shared_with"]) == (None, cw.north.pk)


def test_a_distributor_shares_further_down_its_branch(cw, new_code):
    code = new_code(shared_with=cw.north)
    ops.share_code(actor=cw.north_op, code=code, account=cw.north_east, now=T0)
    row = ActivationCode.objects.get(pk=code.pk)
    assert (row.shared_with_id, row.holder_path) == (cw.north_east.pk, cw.north_east.path)
    assert row.holder_branch == cw.north.pk  # the branch stays North's: North-East lies below it


def test_a_code_shared_into_one_branch_cannot_go_to_another(cw, new_code):
    code = new_code(shared_with=cw.north)
    with pytest.raises(Forbidden) as exc:
        ops.share_code(actor=cw.top, code=code, account=cw.south, now=T0)
    assert exc.value.code == "outside_branch"


def test_share_needs_dealer_rights_and_an_account_below_the_actor(cw, new_code):
    code = new_code(shared_with=cw.north)
    with pytest.raises(InvalidInput):
        ops.share_code(actor=cw.north_op, code=code, account=cw.north_client, now=T0)
    with pytest.raises(InvalidInput):
        ops.share_code(actor=cw.north_op, code=code, account=cw.north, now=T0)
    with pytest.raises(DoesNotExist):
        ops.share_code(actor=cw.north_op, code=code, account=cw.south, now=T0)


def test_a_code_on_a_unit_cannot_be_shared_or_unshared(cw, new_code):
    code = ops.assign_code(actor=cw.top, code=new_code(shared_with=cw.north), unit=cw.north_unit, now=T0)
    with pytest.raises(InvalidInput) as exc:
        ops.share_code(actor=cw.top, code=code, account=cw.north_east, now=T0)
    assert exc.value.code == "code_in_use"
    with pytest.raises(InvalidInput) as exc:
        ops.unshare_code(actor=cw.top, code=code, now=T0)
    assert exc.value.code == "code_in_use"


def test_unshare_by_a_distributor_makes_its_account_the_holder(cw, new_code):
    code = new_code(shared_with=cw.north)
    ops.share_code(actor=cw.north_op, code=code, account=cw.north_east, now=T0)
    ops.unshare_code(actor=cw.north_op, code=code, account=cw.north_east, now=T0)
    row = ActivationCode.objects.get(pk=code.pk)
    assert (row.shared_with_id, row.holder_path, row.holder_branch) == (cw.north.pk, cw.north.path, cw.north.pk)
    assert events_of(code) == ["generated", "shared", "shared", "unshared"]


def test_unshare_by_the_top_user_returns_the_code_to_the_top(cw, new_code):
    code = new_code(shared_with=cw.north_east)
    ops.unshare_code(actor=cw.top, code=code, now=T0)
    row = ActivationCode.objects.get(pk=code.pk)
    assert (row.shared_with_id, row.holder_path, row.holder_branch) == (None, cw.acme.path, None)


def test_the_holder_itself_cannot_unshare(cw, new_code):
    code = new_code(shared_with=cw.north)
    with pytest.raises(Forbidden) as exc:
        ops.unshare_code(actor=cw.north_op, code=code, now=T0)
    assert exc.value.code == "outside_branch"
    assert ActivationCode.objects.get(pk=code.pk).shared_with_id == cw.north.pk


def test_revoking_dealer_rights_returns_unassigned_codes_to_the_top(cw, new_code):
    # A dealer without child accounts (revoking from one with children is refused, SPEC §9.8).
    west = factories.account(cw.north, name="North-West", plan_=cw.dealer_plan, dealer_rights=True,
                             actor=cw.platform)
    free = new_code(shared_with=west)
    busy = ops.assign_code(actor=cw.top, code=new_code(shared_with=west), unit=make_unit(west, "North-West van"),
                           now=T0)
    account_ops.set_dealer_rights(actor=cw.top, account=west, dealer_rights=False, now=T0)
    free.refresh_from_db()
    busy.refresh_from_db()
    assert (free.shared_with_id, free.holder_path, free.holder_branch) == (None, cw.acme.path, None)
    assert busy.shared_with_id == west.pk and busy.status == "active"
    event = CodeEvent.objects.get(code=free.code, action="unshared")
    assert event.after["reason"] == "dealer rights revoked" and event.actor_name == "top"
