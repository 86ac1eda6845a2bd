"""The renewal queue (SPEC §9.5, §9.8 "Renewal rules"): a unit with a live code holds one queued code,
which starts the instant the live code ends, to the microsecond."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from apps.accounts import operations as account_ops
from apps.codes import operations as ops
from apps.codes import queries, receivers
from apps.codes.models import ActivationCode, CodeEvent, CodeStatus
from apps.core.errors import DoesNotExist, Forbidden, InvalidInput
from apps.units.models import Unit
from apps.units.signals import unit_archived
from tests.helpers import connected

from tests.codes.helpers import T0, events_of, make_unit

ONE_SECOND = timedelta(seconds=1)
# An assignment instant with microseconds: the renewed code must start at exactly this instant + 30 days.
T_ODD = T0 + timedelta(microseconds=123457)


@pytest.fixture
def live(cw, new_code):
    """A 30-day code on North truck 1, assigned at T_ODD."""
    return ops.assign_code(actor=cw.top, code=new_code(validity_days=30), unit=cw.north_unit, now=T_ODD)


@pytest.fixture
def queued(cw, new_code, live):
    """A 90-day code queued behind it."""
    return ops.queue_code(actor=cw.top, code=new_code(validity_days=90), unit=cw.north_unit, now=T_ODD)


def _row(code) -> ActivationCode:
    return ActivationCode.objects.get(pk=code.pk)


def _unit(cw) -> Unit:
    return Unit.objects.get(pk=cw.north_unit.pk)


# --- queue and unqueue --------------------------------------------------------------------------------

def test_queue_plans_the_start_at_the_live_codes_expiry(cw, live, queued):
    row = _row(queued)
    assert (row.status, row.queued_on_id, row.unit_id) == ("queued", cw.north_unit.pk, None)
    assert row.activated_at == live.expires_at
    assert row.expires_at == live.expires_at + timedelta(days=90)
    assert row.state(at=T_ODD) == "queued"
    assert events_of(queued) == ["generated", "queued"]
    event = CodeEvent.objects.get(code=queued.code, action="queued")
    assert (event.unit_id, event.after["queued_on"], event.after["after_code"]) == (
        cw.north_unit.pk, cw.north_unit.pk, live.code)
    assert queries.queued_codes_for_units([cw.north_unit.pk], now=T_ODD)[cw.north_unit.pk].pk == queued.pk
    assert queries.current_codes_for_units([cw.north_unit.pk], now=T_ODD)[cw.north_unit.pk].pk == live.pk


def _refused(exc_type, call, code: str, *, field: str | None = None):
    before = CodeEvent.objects.count()
    with pytest.raises(exc_type) as exc:
        call()
    assert exc.value.code == code, exc.value.as_dict()
    if field:
        assert field in exc.value.fields
    assert CodeEvent.objects.count() == before  # a refusal writes nothing
    return exc.value


def test_queue_needs_a_unit_with_a_live_code(cw, new_code):
    code = new_code()
    _refused(InvalidInput, lambda: ops.queue_code(actor=cw.top, code=code, unit=cw.north_unit, now=T0),
             "unit_has_no_code", field="unit")
    assert _row(code).status == "new"


def test_queue_needs_a_new_code(cw, new_code, live, queued):
    running = ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit2, now=T0)
    for code in (running, queued, live):
        _refused(InvalidInput, lambda c=code: ops.queue_code(actor=cw.top, code=c, unit=cw.north_unit2, now=T0),
                 "code_not_new", field="code")


def test_a_unit_holds_one_queued_code(cw, new_code, queued):
    code = new_code()
    _refused(InvalidInput, lambda: ops.queue_code(actor=cw.top, code=code, unit=cw.north_unit, now=T0),
             "unit_has_queued_code", field="unit")


def test_the_database_holds_one_queued_code_per_unit(cw, new_code, queued):
    other = new_code()
    with pytest.raises(IntegrityError), transaction.atomic():
        ActivationCode.objects.filter(pk=other.pk).update(
            status="queued", queued_on=cw.north_unit, activated_at=queued.activated_at, expires_at=queued.expires_at)


def test_the_database_refuses_a_queued_code_on_a_unit(cw, new_code, queued):
    with pytest.raises(IntegrityError), transaction.atomic():
        ActivationCode.objects.filter(pk=queued.pk).update(unit=cw.north_unit2)
    with pytest.raises(IntegrityError), transaction.atomic():  # queued without its unit
        ActivationCode.objects.filter(pk=queued.pk).update(queued_on=None)


def test_queue_follows_the_rules_of_assignment(cw, new_code, live):
    north_code = new_code(shared_with=cw.north)
    south_live = ops.assign_code(actor=cw.top, code=new_code(), unit=cw.south_unit, now=T0)
    assert south_live.unit_id == cw.south_unit.pk
    # a code shared with North does not go on a South unit
    _refused(Forbidden, lambda: ops.queue_code(actor=cw.top, code=north_code, unit=cw.south_unit, now=T0),
             "outside_branch")
    # a South distributor reaches neither North's codes nor its units
    _refused(DoesNotExist, lambda: ops.queue_code(actor=cw.south_op, code=north_code, unit=cw.north_unit, now=T0),
             "does_not_exist")
    # a restricted distributor does not use the window (it queues through apply)
    _refused(Forbidden, lambda: ops.queue_code(actor=cw.north_restricted, code=north_code, unit=cw.north_unit,
                                               now=T0), "permission_denied")
    account_ops.block_account(actor=cw.top, account=cw.north_client, reason="unpaid", now=T0)
    _refused(Forbidden, lambda: ops.queue_code(actor=cw.top, code=north_code, unit=cw.north_unit, now=T0),
             "account_blocked")


def test_queue_and_unqueue_are_refused_under_monthly_billing(cw, new_code, queued):
    code = new_code()
    ops.switch_billing_method(actor=cw.platform, service=cw.acme, method="monthly", confirm=True, now=T0)
    _refused(Forbidden, lambda: ops.queue_code(actor=cw.top, code=code, unit=cw.north_unit2, now=T0),
             "billing_by_codes_off")
    _refused(Forbidden, lambda: ops.unqueue_code(actor=cw.top, code=queued, now=T0), "billing_by_codes_off")
    # the switch left the queued code queued (it no longer governs the unit, like every code)
    assert _row(queued).status == "queued" and _row(queued).queued_on_id == cw.north_unit.pk


def test_a_queued_code_is_not_assigned_applied_or_shared_elsewhere(cw, new_code, queued):
    ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit2, now=T0)
    free_unit = make_unit(cw.north_client, "free")
    _refused(InvalidInput, lambda: ops.assign_code(actor=cw.top, code=queued, unit=free_unit, now=T0), "code_queued")
    _refused(InvalidInput, lambda: ops.apply_code(actor=cw.top, code_text=queued.code, unit=free_unit, now=T0),
             "code_queued")
    _refused(InvalidInput, lambda: ops.apply_code(actor=cw.top, code_text=queued.code, unit=cw.north_unit2,
                                                  queue=True, now=T0), "code_not_new")
    _refused(InvalidInput, lambda: ops.share_code(actor=cw.top, code=queued, account=cw.north, now=T0),
             "code_queued")
    _refused(InvalidInput, lambda: ops.unassign_code(actor=cw.top, code=queued, now=T0), "code_queued")
    _refused(InvalidInput, lambda: ops.reassign_code(actor=cw.top, code=queued, unit=free_unit, now=T0),
             "code_queued")


def test_unqueue_returns_the_code_to_new_where_it_was(cw, new_code, live):
    code = ops.queue_code(actor=cw.top, code=new_code(shared_with=cw.north), unit=cw.north_unit, now=T0)
    ops.unqueue_code(actor=cw.north_op, code=code, now=T0 + ONE_SECOND)
    row = _row(code)
    assert (row.status, row.queued_on_id, row.activated_at, row.expires_at) == ("new", None, None, None)
    assert row.shared_with_id == cw.north.pk
    assert events_of(code)[-1] == "unqueued"
    _refused(InvalidInput, lambda: ops.unqueue_code(actor=cw.top, code=code, now=T0), "code_not_queued")
    # the unit takes another queued code again
    ops.queue_code(actor=cw.top, code=code, unit=cw.north_unit, now=T0 + 2 * ONE_SECOND)


def test_apply_to_a_unit_with_a_live_code_needs_queue(cw, new_code, live):
    code = new_code()
    _refused(InvalidInput, lambda: ops.apply_code(actor=cw.north_restricted, code_text=code.code,
                                                  unit=cw.north_unit, now=T0), "unit_has_code")
    ops.apply_code(actor=cw.north_restricted, code_text=code.code, unit=cw.north_unit, queue=True, now=T0)
    assert _row(code).status == "queued"
    # with queue and a unit without a live code, the code is simply applied
    other = new_code()
    ops.apply_code(actor=cw.north_restricted, code_text=other.code, unit=cw.north_unit2, queue=True, now=T0)
    assert (_row(other).status, _row(other).unit_id) == ("active", cw.north_unit2.pk)


# --- the instant of expiry ------------------------------------------------------------------------------

def test_one_second_before_expiry_the_queued_code_waits(cw, live, queued):
    at = live.expires_at - ONE_SECOND
    assert _row(queued).state(at=at) == "queued" and _row(live).state(at=at) == "active"
    assert ops.expire_codes(now=at) == 0
    assert _row(queued).status == "queued"


@pytest.mark.parametrize("offset", [timedelta(0), ONE_SECOND], ids=["at the instant", "a second after"])
def test_at_expiry_the_queued_code_starts_at_the_exact_instant(cw, live, queued, offset):
    at = live.expires_at + offset
    # reads derive before the sweep: the queued code is active on the unit, the old one expired
    assert _row(queued).state(at=at) == "active" and _row(live).state(at=at) == "expired"
    assert _row(queued).unit_id_at(at) == cw.north_unit.pk
    assert queries.current_codes_for_units([cw.north_unit.pk], now=at)[cw.north_unit.pk].pk == queued.pk
    assert queries.filter_state(ActivationCode.objects.all(), "active", at).get().pk == queued.pk
    assert not queries.filter_state(ActivationCode.objects.all(), "queued", at).exists()
    assert ops.expire_codes(now=at) == 1
    row = _row(queued)
    assert (row.status, row.unit_id, row.queued_on_id) == ("active", cw.north_unit.pk, None)
    assert row.activated_at == live.expires_at and row.activated_at.microsecond == 123457
    assert row.expires_at == live.expires_at + timedelta(days=90)
    assert _unit(cw).active
    assert events_of(live)[-1] == "expired"
    renewed = CodeEvent.objects.get(code=queued.code, action="renewed")
    assert renewed.before == {"code": live.code} and renewed.unit_id == cw.north_unit.pk
    assert not CodeEvent.objects.filter(action="unit_deactivated", at=at).exists()


def test_a_week_long_outage_still_starts_the_renewal_at_the_old_expiry(cw, new_code, live):
    short = ops.queue_code(actor=cw.top, code=new_code(validity_days=3), unit=cw.north_unit, now=T0)
    at = live.expires_at + timedelta(days=7)
    # the three days ran out during the outage: the unit reads as off since then
    assert _row(short).state(at=at) == "expired"
    assert ops.expire_codes(now=at) == 2
    row = _row(short)
    assert row.activated_at == live.expires_at and row.expires_at == live.expires_at + timedelta(days=3)
    assert row.status == "expired" and row.unit_id == cw.north_unit.pk
    assert events_of(short)[-3:] == ["renewed", "expired", "unit_deactivated"]
    unit = _unit(cw)
    assert not unit.active and unit.deactivation_reason == "code_expired"


def test_a_week_long_outage_with_a_long_renewal_keeps_the_unit_on(cw, live, queued):
    at = live.expires_at + timedelta(days=7)
    assert ops.expire_codes(now=at) == 1
    assert _row(queued).activated_at == live.expires_at
    assert _row(queued).days_left(at=at) == 83
    assert _unit(cw).active


def test_under_monthly_billing_the_queue_still_renews_without_touching_units(cw, live, queued):
    ops.switch_billing_method(actor=cw.platform, service=cw.acme, method="monthly", confirm=True, now=T0)
    assert ops.expire_codes(now=live.expires_at) == 1
    assert _row(queued).status == "active" and _row(queued).activated_at == live.expires_at
    assert not CodeEvent.objects.filter(action="unit_deactivated").exclude(at=T0).exists()


def test_a_request_that_finds_the_due_code_starts_the_queued_one(cw, new_code, live, queued):
    at = live.expires_at + timedelta(hours=1)
    code = new_code()
    _refused(InvalidInput, lambda: ops.assign_code(actor=cw.top, code=code, unit=cw.north_unit, now=at),
             "unit_has_code")  # the renewed code is live (the refusal rolls the expiry back too)
    # acting on the started code itself settles it first
    ops.unassign_code(actor=cw.top, code=queued, now=at)
    row = _row(queued)
    assert (row.status, row.unit_id, row.activated_at) == ("active", None, live.expires_at)
    assert events_of(queued)[-3:] == ["renewed", "unassigned", "unit_deactivated"]
    assert not _unit(cw).active


# --- unassign, reassign, archive --------------------------------------------------------------------------

def test_unassigning_the_live_code_starts_the_queued_one_at_once(cw, live, queued):
    at = T0 + timedelta(days=3)
    ops.unassign_code(actor=cw.top, code=live, now=at)
    row = _row(queued)
    assert (row.status, row.unit_id, row.activated_at) == ("active", cw.north_unit.pk, at)
    assert row.expires_at == at + timedelta(days=90)
    assert _row(live).unit_id is None and _row(live).status == "active"  # keeps running, free
    assert _unit(cw).active
    assert events_of(queued)[-1] == "renewed"
    assert not CodeEvent.objects.filter(action="unit_deactivated", unit_id=cw.north_unit.pk).exists()


def test_reassigning_the_live_code_starts_the_queued_one_at_once(cw, live, queued):
    at = T0 + timedelta(days=3)
    ops.reassign_code(actor=cw.top, code=live, unit=cw.north_unit2, now=at)
    assert _row(live).unit_id == cw.north_unit2.pk
    row = _row(queued)
    assert (row.status, row.unit_id, row.activated_at) == ("active", cw.north_unit.pk, at)
    assert _unit(cw).active and Unit.objects.get(pk=cw.north_unit2.pk).active


def test_archiving_a_unit_returns_its_queued_code_to_new(cw, live, queued):
    assert connected(unit_archived, receivers.unassign_code_of_archived_unit)  # what archive_unit runs
    ops.unassign_code_of_archived_unit(unit=cw.north_unit, actor=cw.top, now=T0 + ONE_SECOND)
    row = _row(queued)
    assert (row.status, row.queued_on_id, row.activated_at) == ("new", None, None)
    assert events_of(queued)[-1] == "unqueued"
    assert _row(live).unit_id is None


def test_a_unit_moves_only_inside_its_queued_codes_branch(cw, new_code):
    unit = make_unit(cw.north_client, "mover")
    ops.assign_code(actor=cw.top, code=new_code(), unit=unit, now=T0)
    ops.queue_code(actor=cw.top, code=new_code(shared_with=cw.north), unit=unit, now=T0)
    with pytest.raises(Forbidden):
        ops.check_unit_move(unit=unit, new_account=cw.south_client)
    ops.check_unit_move(unit=unit, new_account=cw.north_east_client)


def test_switching_codes_billing_on_keeps_a_unit_whose_queued_code_takes_over(cw, live, queued):
    ops.switch_billing_method(actor=cw.platform, service=cw.acme, method="monthly", confirm=True, now=T0)
    at = live.expires_at + ONE_SECOND
    result = ops.switch_billing_method(actor=cw.platform, service=cw.acme, method="activation_codes", confirm=True,
                                       now=at)
    assert _unit(cw).active and _row(queued).status == "active"
    assert result["units_deactivated"] == Unit.objects.filter(deactivated_at=at).count()


def test_bulk_queue_pairs_new_codes_with_units_in_name_order(cw, new_code):
    units = [make_unit(cw.north_client, name) for name in ("b truck", "a truck")]
    for unit in units:
        ops.assign_code(actor=cw.top, code=new_code(), unit=unit, now=T0)
    codes = [new_code(), new_code(), new_code()]
    pairs = ops.pair_codes_with_queues(codes, [*units, cw.north_unit2])
    assert [(c.pk, u.name) for c, u in pairs] == [(codes[0].pk, "a truck"), (codes[1].pk, "b truck"),
                                                  (codes[2].pk, "North truck 2")]
    done, skipped = ops.queue_codes_bulk(actor=cw.top, pairs=pairs, now=T0)
    assert done == 2 and len(skipped) == 1 and "no live code" in skipped[0][1]
    assert CodeStatus.QUEUED == _row(codes[0]).status


def test_revoking_dealer_rights_leaves_codes_queued_on_units_shared(cw, new_code, live):
    queued = ops.queue_code(actor=cw.top, code=new_code(shared_with=cw.north), unit=cw.north_unit, now=T0)
    free = new_code(shared_with=cw.north)
    assert ops.return_codes_of_revoked_dealer(account=cw.north, actor=cw.top, now=T0) == 1
    assert _row(free).shared_with_id is None
    assert _row(queued).shared_with_id == cw.north.pk and _row(queued).status == "queued"


def test_archiving_a_unit_whose_queued_code_has_started_takes_that_code_off(cw, live, queued):
    at = live.expires_at + timedelta(hours=2)  # the sweep has not run: the queued code reads as live
    ops.unassign_code_of_archived_unit(unit=cw.north_unit, actor=cw.top, now=at)
    row = _row(queued)
    assert (row.status, row.unit_id, row.activated_at) == ("active", None, live.expires_at)  # keeps running
    assert events_of(queued)[-2:] == ["renewed", "unassigned"]
    assert _row(live).status == "expired"
