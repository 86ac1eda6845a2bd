from datetime import timedelta

import pytest

from apps.accounts import operations as account_ops
from apps.codes import operations as ops
from apps.codes.models import ActivationCode, CodeEvent, CodeStatus
from apps.core.errors import Conflict, DoesNotExist, Forbidden, InvalidInput
from apps.units.models import Unit

from tests.codes.helpers import T0, events_of, make_unit


def test_first_assignment_starts_the_clock_and_activates_the_unit(cw, new_code):
    code = new_code(validity_days=30)
    ops.assign_code(actor=cw.top, code=code, unit=cw.north_unit, now=T0)
    code.refresh_from_db()
    unit = Unit.objects.get(pk=cw.north_unit.pk)
    assert (code.status, code.unit_id, code.activated_at) == (CodeStatus.ACTIVE, unit.pk, T0)
    assert code.expires_at == T0 + timedelta(days=30)
    assert (unit.active, unit.deactivation_reason, unit.deactivated_at) == (True, "", None)
    assert events_of(code) == ["generated", "assigned", "unit_activated"]
    assigned = CodeEvent.objects.get(code=code.code, action="assigned")
    assert (assigned.unit_name, assigned.account_name, assigned.actor_name) == ("North truck 1", "North Client", "top")


def test_unassign_deactivates_the_unit_and_the_clock_keeps_running(cw, new_code):
    code = ops.assign_code(actor=cw.top, code=new_code(shared_with=cw.north), unit=cw.north_unit, now=T0)
    ops.unassign_code(actor=cw.north_op, code=code, now=T0 + timedelta(days=1))
    code.refresh_from_db()
    unit = Unit.objects.get(pk=cw.north_unit.pk)
    assert (code.status, code.unit_id, code.expires_at) == (CodeStatus.ACTIVE, None, T0 + timedelta(days=30))
    assert (unit.active, unit.deactivation_reason) == (False, "code_unassigned")
    assert events_of(code)[-2:] == ["unassigned", "unit_deactivated"]


def test_an_active_unassigned_code_goes_on_another_unit_with_its_clock(cw, new_code):
    code = ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit, now=T0)
    ops.unassign_code(actor=cw.top, code=code, now=T0 + timedelta(days=2))
    ops.assign_code(actor=cw.top, code=code, unit=cw.north_unit2, now=T0 + timedelta(days=3))
    code.refresh_from_db()
    assert (code.unit_id, code.activated_at, code.expires_at) == (cw.north_unit2.pk, T0, T0 + timedelta(days=30))


def test_reassign_moves_the_code_in_one_step_and_logs_three_events(cw, new_code):
    code = ops.assign_code(actor=cw.top, code=new_code(shared_with=cw.north), unit=cw.north_unit, now=T0)
    ops.reassign_code(actor=cw.north_op, code=code, unit=cw.north_unit2, now=T0 + timedelta(hours=1))
    code.refresh_from_db()
    a, b = Unit.objects.get(pk=cw.north_unit.pk), Unit.objects.get(pk=cw.north_unit2.pk)
    assert code.unit_id == b.pk and code.activated_at == T0
    assert (a.active, a.deactivation_reason, b.active) == (False, "code_unassigned", True)
    assert events_of(code)[-3:] == ["unit_deactivated", "reassigned", "unit_activated"]
    moved = CodeEvent.objects.get(code=code.code, action="reassigned")
    assert (moved.before["unit"], moved.after["unit"]) == (a.pk, b.pk)


def test_a_code_on_a_unit_cannot_go_on_a_second_unit(cw, new_code):
    code = ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit, now=T0)
    with pytest.raises(InvalidInput) as exc:
        ops.assign_code(actor=cw.top, code=code, unit=cw.north_unit2, now=T0)
    assert exc.value.code == "code_in_use"


def test_a_unit_holds_at_most_one_live_code(cw, new_code):
    ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit, now=T0)
    second = new_code()
    with pytest.raises(InvalidInput) as exc:
        ops.assign_code(actor=cw.top, code=second, unit=cw.north_unit, now=T0)
    assert exc.value.code == "unit_has_code"
    second.refresh_from_db()
    assert second.status == CodeStatus.NEW and events_of(second) == ["generated"]


def test_a_due_code_is_expired_by_the_assignment_that_finds_it(cw, new_code):
    code = ops.assign_code(actor=cw.top, code=new_code(validity_days=1), unit=cw.north_unit, now=T0)
    ops.unassign_code(actor=cw.top, code=code, now=T0 + timedelta(hours=1))
    with pytest.raises(InvalidInput) as exc:
        ops.assign_code(actor=cw.top, code=code, unit=cw.north_unit2, now=T0 + timedelta(days=1))
    assert exc.value.code == "code_expired"
    code.refresh_from_db()
    assert code.status == CodeStatus.EXPIRED  # committed although the assignment was refused
    assert events_of(code)[-1] == "expired"


def test_a_new_code_replaces_a_due_code_the_sweep_has_not_reached(cw, new_code):
    old = ops.assign_code(actor=cw.top, code=new_code(validity_days=1), unit=cw.north_unit, now=T0)
    later = T0 + timedelta(days=1, minutes=1)
    fresh = ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit, now=later)
    old.refresh_from_db()
    assert old.status == CodeStatus.EXPIRED
    assert fresh.unit_id == cw.north_unit.pk and Unit.objects.get(pk=cw.north_unit.pk).active
    assert events_of(old)[-2:] == ["expired", "unit_deactivated"]
    assert events_of(fresh)[-2:] == ["assigned", "unit_activated"]


def test_an_expired_code_can_never_be_assigned_again(cw, new_code):
    code = ops.assign_code(actor=cw.top, code=new_code(validity_days=1), unit=cw.north_unit, now=T0)
    ops.expire_codes(now=T0 + timedelta(days=2))
    ops.clear_expired_codes(now=T0 + timedelta(days=2))
    with pytest.raises(InvalidInput) as exc:
        ops.assign_code(actor=cw.top, code=code, unit=cw.north_unit2, now=T0 + timedelta(days=2))
    assert exc.value.code == "code_expired"


def test_a_shared_code_goes_only_on_units_inside_the_sharing_branch(cw, new_code):
    code = new_code(shared_with=cw.north)
    with pytest.raises(Forbidden) as exc:
        ops.assign_code(actor=cw.top, code=code, unit=cw.south_unit, now=T0)
    assert exc.value.code == "outside_branch"
    ops.assign_code(actor=cw.north_op, code=code, unit=cw.north_east_unit, now=T0)
    assert ActivationCode.objects.get(pk=code.pk).unit_id == cw.north_east_unit.pk


def test_a_distributor_does_not_see_codes_held_above_it_even_on_its_units(cw, new_code):
    code = ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit, now=T0)
    with pytest.raises(DoesNotExist):
        ops.unassign_code(actor=cw.north_op, code=code, now=T0)


def test_a_distributor_cannot_reach_codes_or_units_of_another_branch(cw, new_code):
    north_code = new_code(shared_with=cw.north)
    with pytest.raises(DoesNotExist):  # South does not see North's code: same answer as an unknown one
        ops.assign_code(actor=cw.south_op, code=north_code, unit=cw.south_unit, now=T0)
    south_code = new_code(shared_with=cw.south)
    with pytest.raises(DoesNotExist) as exc:
        ops.assign_code(actor=cw.south_op, code=south_code, unit=cw.north_unit, now=T0)
    assert "unit" in exc.value.fields


def test_assigning_to_a_unit_of_a_blocked_account_is_refused(cw, new_code):
    account_ops.block_account(actor=cw.top, account=cw.north_client, reason="unpaid", now=T0)
    with pytest.raises(Forbidden) as exc:
        ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit, now=T0)
    assert exc.value.code == "account_blocked"


def test_assign_is_refused_under_monthly_billing(cw, new_code):
    code = new_code()
    ops.switch_billing_method(actor=cw.platform, service=cw.acme, method="monthly", confirm=True, now=T0)
    with pytest.raises(Forbidden) as exc:
        ops.assign_code(actor=cw.top, code=code, unit=cw.north_unit, now=T0)
    assert exc.value.code == "billing_by_codes_off"


def test_apply_by_hand_ignores_case_spaces_and_dashes(cw, new_code):
    code = new_code()
    typed = " " + "-".join(code.code[i:i + 4] for i in range(0, 32, 4)).upper() + " "
    ops.apply_code(actor=cw.north_restricted, code_text=typed, unit=cw.north_unit, now=T0)
    code.refresh_from_db()
    assert code.unit_id == cw.north_unit.pk
    assert events_of(code)[-2:] == ["applied", "unit_activated"]


def test_apply_gives_the_same_answer_for_unknown_and_other_branch_codes(cw, new_code):
    south_code = new_code(shared_with=cw.south)
    answers = []
    for text in ("0" * 32, south_code.code):
        with pytest.raises(DoesNotExist) as exc:
            ops.apply_code(actor=cw.north_restricted, code_text=text, unit=cw.north_unit, now=T0)
        answers.append((exc.value.code, exc.value.detail, exc.value.fields))
    assert answers[0] == answers[1]


def test_apply_refuses_a_code_of_another_service(cw):
    ops.switch_billing_method(actor=cw.platform, service=cw.other_service, method="activation_codes",
                              confirm=True, now=T0)
    other = ops.generate_codes(actor=cw.other_top, service=cw.other_service, quantity=1, validity_days=30, now=T0)[0]
    with pytest.raises(DoesNotExist):
        ops.apply_code(actor=cw.top, code_text=other.code, unit=cw.north_unit, now=T0)


def test_apply_refuses_a_malformed_code(cw):
    with pytest.raises(InvalidInput) as exc:
        ops.apply_code(actor=cw.top, code_text="not-a-code", unit=cw.north_unit, now=T0)
    assert "code" in exc.value.fields


def test_restricted_distributor_applies_only_on_its_subtree(cw, new_code):
    with pytest.raises(DoesNotExist) as exc:
        ops.apply_code(actor=cw.north_restricted, code_text=new_code().code, unit=cw.south_unit, now=T0)
    assert "unit" in exc.value.fields


def test_restricted_distributor_may_not_use_the_window_operations(cw, new_code):
    with pytest.raises(Forbidden):
        ops.assign_code(actor=cw.north_restricted, code=new_code(), unit=cw.north_unit, now=T0)


def test_archived_units_take_no_code(cw, new_code):
    Unit.objects.filter(pk=cw.north_unit.pk).update(archived_at=T0)
    with pytest.raises(DoesNotExist):
        ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit, now=T0)


def test_the_database_refuses_two_live_codes_on_one_unit(cw, new_code):
    from django.db import IntegrityError, transaction

    first = ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit, now=T0)
    second = new_code()
    with pytest.raises(IntegrityError), transaction.atomic():
        ActivationCode.objects.filter(pk=second.pk).update(
            status="active", activated_at=T0, expires_at=first.expires_at, unit=cw.north_unit)


def test_code_busy_is_a_conflict(cw, new_code, monkeypatch):
    from django.db import OperationalError

    code = new_code()

    def locked(*args, **kwargs):
        raise OperationalError("could not obtain lock on row")

    monkeypatch.setattr(ActivationCode.objects, "select_for_update", locked)
    with pytest.raises(Conflict) as exc:
        ops.assign_code(actor=cw.top, code=code, unit=cw.north_unit, now=T0)
    assert exc.value.code == "code_busy"


def test_unit_helper_creates_inactive_units(cw):
    unit = make_unit(cw.north_client, "spare")
    assert not unit.active
