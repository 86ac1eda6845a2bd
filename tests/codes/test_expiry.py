"""The sweep at the exact expiry instant and one second either side; catch-up; clearing."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from apps.codes import operations as ops
from apps.codes import tasks
from apps.codes.models import ActivationCode, CodeEvent, CodeStatus
from apps.units.models import Unit
from tests.helpers import requires_postgres

from tests.codes.helpers import T0, events_of, make_unit

ONE_SECOND = timedelta(seconds=1)


@pytest.fixture
def running(cw, new_code):
    """A 30-day code on North truck 1, assigned at T0: it expires at T0 + 30 days."""
    return ops.assign_code(actor=cw.top, code=new_code(validity_days=30), unit=cw.north_unit, now=T0)


def test_one_second_before_expiry_nothing_happens(cw, running):
    assert ops.expire_codes(now=running.expires_at - ONE_SECOND) == 0
    assert Unit.objects.get(pk=cw.north_unit.pk).active
    assert running.state(at=running.expires_at - ONE_SECOND) == CodeStatus.ACTIVE
    assert running.days_left(at=running.expires_at - ONE_SECOND) == 1


def test_at_the_exact_instant_the_code_expires_and_its_unit_is_deactivated(cw, running):
    assert running.state(at=running.expires_at) == CodeStatus.EXPIRED  # reads agree before the sweep
    assert running.days_left(at=running.expires_at) == 0
    assert ops.expire_codes(now=running.expires_at) == 1
    code = ActivationCode.objects.get(pk=running.pk)
    unit = Unit.objects.get(pk=cw.north_unit.pk)
    assert code.status == CodeStatus.EXPIRED and code.unit_id == unit.pk
    assert (unit.active, unit.deactivation_reason, unit.deactivated_at) == (False, "code_expired", running.expires_at)
    assert events_of(code)[-2:] == ["expired", "unit_deactivated"]
    expired = CodeEvent.objects.get(code=code.code, action="expired")
    assert (expired.actor_name, expired.unit_name) == ("system", "North truck 1")


def test_one_second_after_expiry_the_sweep_expires_it(cw, running):
    assert ops.expire_codes(now=running.expires_at + ONE_SECOND) == 1
    assert not Unit.objects.get(pk=cw.north_unit.pk).active


def test_the_sweep_is_idempotent(cw, running):
    at = running.expires_at + ONE_SECOND
    assert ops.expire_codes(now=at) == 1
    assert ops.expire_codes(now=at) == 0
    assert CodeEvent.objects.filter(action="expired").count() == 1


def test_a_worker_down_for_a_week_catches_up(cw, new_code):
    units = [make_unit(cw.north_client, f"fleet {i}") for i in range(5)]
    for i, unit in enumerate(units):
        ops.assign_code(actor=cw.top, code=new_code(validity_days=1 + i), unit=unit, now=T0)
    assert ops.expire_codes(now=T0 + timedelta(days=12)) == 5
    assert not Unit.objects.filter(pk__in=[u.pk for u in units], active=True).exists()
    assert CodeEvent.objects.filter(action="unit_deactivated", unit_id__in=[u.pk for u in units]).count() == 5


def test_the_task_and_the_command_run_the_sweep_at_the_current_time(cw, running):
    with time_machine.travel(running.expires_at + ONE_SECOND, tick=False):
        assert tasks.expire_codes.delay().get() == 1
    other = make_unit(cw.north_client, "other")
    code = ops.assign_code(actor=cw.top, code=ops.generate_codes(actor=cw.top, service=cw.acme, quantity=1,
                                                                  validity_days=2, now=T0)[0], unit=other, now=T0)
    with time_machine.travel(code.expires_at + ONE_SECOND, tick=False):
        call_command("expire_codes")
    assert ActivationCode.objects.get(pk=code.pk).status == CodeStatus.EXPIRED


def test_the_sweep_counts_a_bounded_number_of_queries(cw, new_code, django_assert_max_num_queries):
    for i in range(20):
        ops.assign_code(actor=cw.top, code=new_code(validity_days=1),
                        unit=make_unit(cw.north_client, f"q{i}"), now=T0)
    # 12 for the sweep, one reading the batch's rows for the audit trail, three writing them (the service
    # chain's head locked, the events, the head moved): a fixed number whatever the number of codes.
    with django_assert_max_num_queries(16):
        assert ops.expire_codes(now=T0 + timedelta(days=2)) == 20
    from apps.accounts.models import AuditEvent

    events = AuditEvent.objects.filter(action="code_expired", actor_name="expire_codes")
    assert events.count() == 20
    assert {e.after["unit_deactivated"] for e in events} == {f"q{i}" for i in range(20)}


def test_under_monthly_billing_codes_expire_but_no_longer_govern_units(cw, running):
    ops.switch_billing_method(actor=cw.platform, service=cw.acme, method="monthly", confirm=True, now=T0)
    ops.expire_codes(now=running.expires_at)
    assert ActivationCode.objects.get(pk=running.pk).status == CodeStatus.EXPIRED
    assert Unit.objects.get(pk=cw.north_unit.pk).active
    assert events_of(running)[-1] == "expired"


def test_clear_takes_expired_codes_off_their_units_and_keeps_the_rows(cw, running):
    at = running.expires_at + timedelta(days=1)
    assert ops.clear_expired_codes(now=at) == 1
    code = ActivationCode.objects.get(pk=running.pk)
    assert (code.status, code.unit_id, code.cleared_at) == (CodeStatus.EXPIRED, None, at)
    assert events_of(code)[-1] == "cleared"
    assert CodeEvent.objects.get(code=code.code, action="cleared").unit_name == "North truck 1"
    assert ops.clear_expired_codes(now=at) == 0


@requires_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("batch", [None, 3], ids=["one batch", "batches of three"])
def test_two_sweeps_at_once_expire_each_code_once(cw, new_code, monkeypatch, batch):
    if batch:  # each worker walks on past its batches and skips the other's locked rows
        monkeypatch.setattr(ops.sweep, "EXPIRE_BATCH_PG", batch)
    units = [make_unit(cw.north_client, f"race {i}") for i in range(40)]
    for unit in units:
        ops.assign_code(actor=cw.top, code=new_code(validity_days=1), unit=unit, now=T0)
    at = T0 + timedelta(days=1)
    results = []

    def sweep():
        try:
            results.append(ops.expire_codes(now=at))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 40
    assert CodeEvent.objects.filter(action="expired").count() == 40
    assert CodeEvent.objects.filter(action="unit_deactivated", at=at).count() == 40
    assert not Unit.objects.filter(pk__in=[u.pk for u in units], active=True).exists()


def test_a_large_sweep_writes_one_verifiable_event_per_code(cw, new_code):
    """Over 50 codes in a batch (the trail's COPY on PostgreSQL): one ``code_expired`` event per code with its
    expiry as the trail writes times, its unit's account and name, and a chain that verifies."""
    from apps.accounts import audit
    from apps.accounts.models import AuditEvent

    codes = [ops.assign_code(actor=cw.top, code=new_code(validity_days=1 + i % 2),
                             unit=make_unit(cw.north_client, f"big {i}"), now=T0) for i in range(60)]
    assert ops.expire_codes(now=T0 + timedelta(days=3)) == 60
    events = {e.subject_id: e for e in AuditEvent.objects.filter(action="code_expired")}
    assert len(events) == 60
    for code in codes:
        code.refresh_from_db()
        event = events[code.pk]
        assert (event.subject_name, event.account_id, event.account_name, event.account_path) == (
            code.code, cw.north_client.pk, cw.north_client.name, cw.north_client.path)
        assert event.after == {"status": "expired", "expires_at": audit.plain(code.expires_at),
                               "unit_deactivated": code.unit.name}
        assert event.before == {"status": "active"}
    assert all(bad is None for _, _, bad in audit.verify_chains())
