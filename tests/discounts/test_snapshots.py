"""The daily snapshot: one row per service and local day, catch-up flagged ``estimated``, the
month's value as the truncated mean of its days."""

import threading
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from apps.accounts import operations as account_ops
from apps.discounts.models import DiscountSnapshot
from apps.discounts.operations import MAX_CATCH_UP_DAYS, snapshot_discounts
from apps.discounts.queries import month_history
from apps.discounts.tasks import snapshot_discounts as snapshot_task
from tests.helpers import requires_postgres

pytestmark = pytest.mark.django_db

# Acme runs on Europe/Berlin (UTC+1 in March): its 10 March ends at 23:00 UTC.
BEFORE_MIDNIGHT = datetime(2026, 3, 10, 22, 30, tzinfo=timezone.utc)
AFTER_MIDNIGHT = datetime(2026, 3, 10, 23, 30, tzinfo=timezone.utc)


def days(service):
    return list(DiscountSnapshot.objects.filter(service=service).order_by("day")
                .values_list("day", "applied", "estimated"))


def test_snapshot_saves_the_local_day_that_ended(world, acme, make_unit):
    make_unit(world.north_client)
    run = snapshot_discounts(now=AFTER_MIDNIGHT)

    assert run.saved == {acme.pk: [date(2026, 3, 10)]}
    snap = DiscountSnapshot.objects.get(service=acme)
    assert (snap.day, snap.current, snap.maximum, snap.applied, snap.in_use, snap.estimated) == (
        date(2026, 3, 10), Decimal("76.00"), Decimal("100.00"), Decimal("76.00"), 1, False)
    assert snap.taken_at == AFTER_MIDNIGHT


def test_snapshot_waits_for_the_services_local_midnight(world, acme):
    snapshot_discounts(now=AFTER_MIDNIGHT)
    assert [d for d, _, _ in days(acme)] == [date(2026, 3, 10)]
    run = snapshot_discounts(now=datetime(2026, 3, 11, 22, 59, tzinfo=timezone.utc))  # 23:59 in Berlin
    assert run.saved == {}
    assert [d for d, _, _ in days(acme)] == [date(2026, 3, 10)]


def test_snapshot_runs_hourly_without_writing_twice(world, acme):
    snapshot_discounts(now=BEFORE_MIDNIGHT)
    snapshot_discounts(now=AFTER_MIDNIGHT)
    again = snapshot_discounts(now=AFTER_MIDNIGHT.replace(minute=59))

    assert again.saved == {}
    assert [d for d, _, _ in days(acme)] == [date(2026, 3, 9), date(2026, 3, 10)]


def test_missed_days_are_caught_up_and_flagged_estimated(world, acme, make_unit):
    snapshot_discounts(now=datetime(2026, 3, 6, 23, 30, tzinfo=timezone.utc))  # saves 6 March
    make_unit(world.north_client)

    run = snapshot_discounts(now=AFTER_MIDNIGHT)  # the job was down from the 7th to the 10th

    assert run.saved[acme.pk] == [date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9), date(2026, 3, 10)]
    assert days(acme) == [
        (date(2026, 3, 6), Decimal("0.00"), False),
        (date(2026, 3, 7), Decimal("76.00"), True), (date(2026, 3, 8), Decimal("76.00"), True),
        (date(2026, 3, 9), Decimal("76.00"), True), (date(2026, 3, 10), Decimal("76.00"), False),
    ]


def test_catch_up_is_bounded(world, acme):
    snapshot_discounts(now=datetime(2025, 12, 1, 23, 30, tzinfo=timezone.utc))
    snapshot_discounts(now=AFTER_MIDNIGHT)
    assert DiscountSnapshot.objects.filter(service=acme, day__gt=date(2025, 12, 1)).count() == MAX_CATCH_UP_DAYS + 1


def test_services_without_the_discount_get_no_snapshot(world, acme):
    snapshot_discounts(now=AFTER_MIDNIGHT)
    assert not DiscountSnapshot.objects.filter(service=world.other_service).exists()
    account_ops.update_account(actor=world.platform, account=acme, changes={"discount_enabled": False})
    assert snapshot_discounts(now=AFTER_MIDNIGHT.replace(day=11)).saved == {}


def test_each_service_closes_its_day_in_its_own_time_zone(world, acme):
    account_ops.update_account(actor=world.platform, account=world.other_service,
                               changes={"discount_enabled": True, "timezone": "America/New_York"})
    run = snapshot_discounts(now=AFTER_MIDNIGHT)  # 18:30 in New York
    assert run.saved == {acme.pk: [date(2026, 3, 10)], world.other_service.pk: [date(2026, 3, 9)]}


def test_task_and_command_take_the_same_snapshot(world, acme):
    with time_machine.travel(AFTER_MIDNIGHT, tick=False):
        assert snapshot_task.delay().get() == 1
        call_command("snapshot_discounts")
    assert [d for d, _, _ in days(acme)] == [date(2026, 3, 10)]


def test_month_discount_is_the_truncated_mean_of_the_daily_applied_values(world, acme):
    for day, applied in ((1, "42.52"), (2, "42.53"), (3, "42.53")):
        DiscountSnapshot.objects.create(service=acme, day=date(2026, 3, day), current=Decimal("50"),
                                        maximum=Decimal(applied), applied=Decimal(applied), purchased=0, in_use=1,
                                        unused=0, full_cost=0, taken_at=AFTER_MIDNIGHT)
    DiscountSnapshot.objects.create(service=acme, day=date(2026, 2, 28), current=0, maximum=0, applied=0,
                                    purchased=0, in_use=0, unused=0, full_cost=0, taken_at=AFTER_MIDNIGHT)

    history = month_history(acme, 2026, 3)

    assert [d.day.day for d in history.days] == [1, 2, 3]
    assert history.average == Decimal("42.52")
    assert month_history(acme, 2026, 4).average is None


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_write_each_day_once(world, acme):
    barrier = threading.Barrier(2)
    errors = []

    def run():
        try:
            barrier.wait()
            snapshot_discounts(now=AFTER_MIDNIGHT)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert [d for d, _, _ in days(acme)] == [date(2026, 3, 10)]
