"""The renewal queue under real concurrency on PostgreSQL (SPEC §9.5: "proven under races like assignment")."""

from datetime import timedelta

import pytest

from apps.codes import operations as ops
from apps.codes.models import ActivationCode, CodeEvent
from apps.units.models import Unit
from tests.helpers import requires_postgres
from tests.helpers import race

from tests.codes.helpers import T0, make_unit

THREADS = 20
ROUNDS = 20


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_requests_queue_twenty_codes_on_one_unit_and_exactly_one_wins(cw):
    unit = cw.north_unit
    ops.assign_code(actor=cw.top, unit=unit, now=T0, code=ops.generate_codes(
        actor=cw.top, service=cw.acme, quantity=1, validity_days=365, now=T0)[0])
    for round_no in range(ROUNDS):
        codes = ops.generate_codes(actor=cw.top, service=cw.acme, quantity=THREADS, validity_days=30, now=T0)
        counts = race([lambda c=c: ops.queue_code(actor=cw.top, code=c, unit=unit, now=T0) for c in codes])
        assert counts["ok"] == 1, (round_no, counts)
        assert set(counts) <= {"ok", "unit_has_queued_code", "code_busy"}, counts
        winner = ActivationCode.objects.get(queued_on=unit, status="queued")
        assert ActivationCode.objects.filter(pk__in=[c.pk for c in codes], status="new").count() == THREADS - 1
        assert CodeEvent.objects.filter(action="queued", code_id__in=[c.pk for c in codes]).count() == 1
        ops.unqueue_code(actor=cw.top, code=winner, now=T0)  # the unit is free to queue again
    assert CodeEvent.objects.filter(action="queued").count() == ROUNDS


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_queued_code_raced_by_assign_apply_and_share_elsewhere_stays_queued(cw):
    new = lambda days=30: ops.generate_codes(actor=cw.top, service=cw.acme, quantity=1,  # noqa: E731
                                             validity_days=days, now=T0)[0]
    ops.assign_code(actor=cw.top, code=new(365), unit=cw.north_unit, now=T0)
    free = [make_unit(cw.north_client, f"free {i}") for i in range(6)]
    for round_no in range(5):
        queued = ops.queue_code(actor=cw.top, code=new(), unit=cw.north_unit, now=T0)
        calls = []
        for i in range(2):
            calls.append(lambda u=free[i]: ops.assign_code(actor=cw.top, code=queued, unit=u, now=T0))
            calls.append(lambda u=free[2 + i]: ops.apply_code(actor=cw.north_op, code_text=queued.code, unit=u,
                                                              now=T0))
            calls.append(lambda: ops.share_code(actor=cw.top, code=queued, account=cw.north, now=T0))
            calls.append(lambda u=free[4 + i]: ops.apply_code(actor=cw.top, code_text=queued.code, unit=u,
                                                              queue=True, now=T0))
        counts = race(calls)
        assert counts["ok"] == 0, (round_no, counts)
        assert set(counts) <= {"code_queued", "code_not_new", "code_busy"}, counts
        row = ActivationCode.objects.get(pk=queued.pk)
        assert (row.status, row.queued_on_id, row.unit_id, row.shared_with_id) == ("queued", cw.north_unit.pk,
                                                                                   None, None)
        assert not Unit.objects.filter(pk__in=[u.pk for u in free], active=True).exists()
        ops.unqueue_code(actor=cw.top, code=queued, now=T0)


@requires_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("batch", [None, 3], ids=["one batch", "batches of three"])
def test_two_sweeps_at_once_renew_each_unit_once(cw, monkeypatch, batch):
    if batch:
        monkeypatch.setattr(ops.sweep, "EXPIRE_BATCH_PG", batch)
    units = [make_unit(cw.north_client, f"race {i}") for i in range(30)]
    codes = ops.generate_codes(actor=cw.top, service=cw.acme, quantity=60, validity_days=1, now=T0)
    for i, unit in enumerate(units):
        live = ops.assign_code(actor=cw.top, code=codes[2 * i], unit=unit, now=T0 + timedelta(seconds=i))
        ops.queue_code(actor=cw.top, code=codes[2 * i + 1], unit=unit, now=T0)
        assert live.expires_at == T0 + timedelta(days=1, seconds=i)
    at = T0 + timedelta(days=1, seconds=30)  # every live code is due; no renewal is
    results = []
    assert race([lambda: results.append(ops.expire_codes(now=at))] * 2) == {"ok": 2}
    assert sum(results) == 30
    assert CodeEvent.objects.filter(action="expired").count() == 30
    assert CodeEvent.objects.filter(action="renewed").count() == 30
    assert not CodeEvent.objects.filter(action="unit_deactivated", at=at).exists()
    assert Unit.objects.filter(pk__in=[u.pk for u in units], active=True).count() == 30
    for i in range(30):
        renewed = ActivationCode.objects.get(pk=codes[2 * i + 1].pk)
        assert renewed.status == "active" and renewed.activated_at == T0 + timedelta(days=1, seconds=i)
