"""The codes app's part in other apps' operations: unit archive and move (receivers of their signals)."""

import pytest

from apps.accounts.signals import dealer_rights_revoked
from apps.codes import operations as ops
from apps.codes import receivers
from apps.codes.models import ActivationCode, CodeEvent
from apps.core.errors import Forbidden
from apps.units.signals import unit_archived, unit_moving

from tests.helpers import connected

from tests.codes.helpers import T0


def test_codes_receivers_are_connected_to_the_units_and_accounts_signals():
    assert connected(dealer_rights_revoked, receivers.return_codes_of_revoked_dealer)
    assert connected(unit_archived, receivers.unassign_code_of_archived_unit)
    assert connected(unit_moving, receivers.check_unit_move)


def test_archiving_a_unit_takes_its_code_off_and_the_code_keeps_running(cw, new_code):
    code = ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit, now=T0)
    ops.unassign_code_of_archived_unit(unit=cw.north_unit, actor=cw.top, now=T0)
    row = ActivationCode.objects.get(pk=code.pk)
    assert (row.unit_id, row.status, row.expires_at) == (None, "active", code.expires_at)
    event = CodeEvent.objects.filter(code=code.code).latest("id")
    assert (event.action, event.unit_id) == ("unassigned", cw.north_unit.pk)


def test_a_unit_moves_only_inside_its_code_holder_subtree(cw, new_code):
    ops.assign_code(actor=cw.top, code=new_code(shared_with=cw.north), unit=cw.north_unit, now=T0)
    ops.check_unit_move(unit=cw.north_unit, new_account=cw.north_east_client)
    with pytest.raises(Forbidden) as exc:
        ops.check_unit_move(unit=cw.north_unit, new_account=cw.south_client)
    assert exc.value.code == "outside_branch"
