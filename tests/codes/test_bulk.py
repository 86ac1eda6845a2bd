from datetime import timedelta

from apps.accounts import operations as account_ops
from apps.codes import operations as ops
from apps.codes.models import ActivationCode, CodeEvent, CodeStatus
from apps.units.models import Unit

from tests.codes.helpers import T0, make_unit


def test_pairing_puts_active_unassigned_codes_first_then_the_oldest_and_units_by_name(cw):
    old = ops.generate_codes(actor=cw.top, service=cw.acme, quantity=1, validity_days=30, now=T0)[0]
    newer = ops.generate_codes(actor=cw.top, service=cw.acme, quantity=1, validity_days=30,
                               now=T0 + timedelta(hours=1))[0]
    running = ops.generate_codes(actor=cw.top, service=cw.acme, quantity=1, validity_days=30,
                                 now=T0 + timedelta(hours=2))[0]
    ops.assign_code(actor=cw.top, code=running, unit=cw.south_unit, now=T0)
    ops.unassign_code(actor=cw.top, code=running, now=T0)
    codes = list(ActivationCode.objects.all())
    pairs = ops.pair_codes_with_units(codes, [cw.north_unit2, cw.north_east_unit, cw.north_unit],
                                      now=T0 + timedelta(hours=3))
    # "North truck 1" < "North truck 2" < "North-East van"
    assert [(c.pk, u.pk) for c, u in pairs] == [(running.pk, cw.north_unit.pk), (old.pk, cw.north_unit2.pk),
                                               (newer.pk, cw.north_east_unit.pk)]


def test_bulk_assign_does_what_it_can_and_says_why_it_skipped_the_rest(cw):
    codes = ops.generate_codes(actor=cw.top, service=cw.acme, quantity=4, validity_days=30, now=T0)
    holder = make_unit(cw.north_client, "already has one")
    ops.assign_code(actor=cw.top, code=codes[3], unit=holder, now=T0)
    account_ops.block_account(actor=cw.top, account=cw.south_client, reason="unpaid", now=T0)
    pairs = [(codes[0], cw.north_unit), (codes[1], cw.south_unit), (codes[2], holder)]
    done, skipped = ops.assign_codes_bulk(actor=cw.top, pairs=pairs, now=T0)
    assert done == 1
    assert [(pair[0].pk, reason) for pair, reason in skipped] == [
        (codes[1].pk, "The unit's account is blocked."), (codes[2].pk, "This unit already holds a live code.")]
    first = ActivationCode.objects.get(pk=codes[0].pk)
    assert (first.status, first.unit_id, first.activated_at) == (CodeStatus.ACTIVE, cw.north_unit.pk, T0)
    assert Unit.objects.get(pk=cw.north_unit.pk).active
    assert CodeEvent.objects.filter(action="assigned", code__in=[c.code for c in codes[:3]]).count() == 1
    assert CodeEvent.objects.filter(action="unit_activated", unit_id=cw.north_unit.pk).count() == 1


def test_bulk_assign_queries_do_not_grow_with_the_rows(cw, django_assert_max_num_queries):
    codes = ops.generate_codes(actor=cw.top, service=cw.acme, quantity=30, validity_days=30, now=T0)
    units = [make_unit(cw.north_client, f"bulk {i:02d}") for i in range(30)]
    with django_assert_max_num_queries(20):
        done, skipped = ops.assign_codes_bulk(actor=cw.top, pairs=list(zip(codes, units)), now=T0)
    assert (done, skipped) == (30, [])
