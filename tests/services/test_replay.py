"""Charge replay (SPEC §9.7, §9.8): a month with price changes and an outage replays to zero
differences; a ledger row changed, deleted or added behind the application's back is found."""

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import CommandError, call_command

from apps.accounts.models import LedgerEntry
from apps.plans import operations as plan_ops
from apps.plans.history import BEGINNING, Versions
from apps.plans.models import AccountPlanVersion, PlanService, PlanServiceVersion
from apps.services.charging import charge_periodic_services
from apps.services.models import JobRun
from apps.services.operations import consume_service, move_objects, set_service_override
from apps.services.replay import replay_charges

pytestmark = pytest.mark.django_db

# February 2027 in Berlin: a local day starts at 23:00 UTC.
START = datetime(2027, 1, 31, 12, 0, tzinfo=UTC)
FEB = [date(2027, 2, 1) + timedelta(days=i) for i in range(28)]
OUTAGE = {date(2027, 2, 15), date(2027, 2, 16), date(2027, 2, 17)}
_keys = iter(range(10**6))


def _noon(day):
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=UTC)


def _job_time(day):
    """00:30 local on ``day``."""
    return datetime(day.year, day.month, day.day, 23, 30, tzinfo=UTC) - timedelta(days=1)


@pytest.fixture
def month(billed):
    """Three services priced on the Base plan (Acme and North Client; North inherits the periodic ones)
    and sms also on the Dealer plan (North's own, monthly window),
    a month of use with prices changed on the 10th and an override on the 20th, the charge job
    down on the 15th–17th (it catches up on the 18th)."""
    w = billed
    with time_machine.travel(START, tick=False):
        JobRun.objects.create(job="charge_periodic_services", last_started_at=START - timedelta(hours=1))
        zones = plan_ops.add_plan_service(actor=w.platform, plan=w.base_plan, values={
            "name": "zones_library", "type": "periodic", "interval": "daily", "cost_table": "0:1;2:0;0.5"})
        plan_ops.add_plan_service(actor=w.platform, plan=w.base_plan, values={
            "name": "jobs", "type": "periodic", "interval": "weekly", "cost_table": "0:3;1:0;2"})
        sms = plan_ops.add_plan_service(actor=w.platform, plan=w.base_plan, values={
            "name": "sms", "type": "on_demand", "interval": "daily", "cost_table": "3:0;0.2"})
        plan_ops.add_plan_service(actor=w.platform, plan=w.dealer_plan, values={
            "name": "sms", "type": "on_demand", "interval": "monthly", "cost_table": "10:0;0.05"})
    for day in FEB:
        if day not in OUTAGE:
            with time_machine.travel(_job_time(day), tick=False):
                charge_periodic_services()
        with time_machine.travel(_noon(day), tick=False):
            move_objects(account=w.north_client, service="zones_library", delta=1 if day.day % 4 else -2)
            if day.day % 7 == 1:
                move_objects(account=w.north, service="jobs", delta=1)
            consume_service(account=w.north_client, service="sms", quantity=2, idempotency_key=f"k{next(_keys)}")
            if day.day % 3 == 0:
                consume_service(account=w.north, service="sms", quantity=1, idempotency_key=f"k{next(_keys)}")
        if day == date(2027, 2, 10):
            with time_machine.travel(_noon(day) + timedelta(hours=2), tick=False):
                plan_ops.update_plan_service(actor=w.platform, row=zones, changes={"cost_table": "0:2;1:0;0.75"})
                plan_ops.update_plan_service(actor=w.platform, row=sms, changes={"cost_table": "1:0;0.3"})
        if day == date(2027, 2, 20):
            with time_machine.travel(_noon(day) + timedelta(hours=3), tick=False):
                set_service_override(actor=w.platform, account=w.north_client, name="sms", interval="daily",
                                     cost_table="0.5")
    with time_machine.travel(_job_time(date(2027, 3, 1)), tick=False):
        charge_periodic_services()
    return w


AT_END = _job_time(date(2027, 3, 1)) + timedelta(minutes=5)


def _replay(world, **kwargs):
    with time_machine.travel(AT_END, tick=False):
        return replay_charges(world.acme, since=date(2027, 2, 1), until=date(2027, 2, 28), **kwargs)


def test_a_month_with_price_changes_and_an_outage_replays_to_zero_differences(month):
    charges = LedgerEntry.objects.filter(kind="charge", at__gte=START)
    zones = charges.filter(periodic=True, service="zones_library", account=month.north_client)
    assert zones.count() == 29  # 31 January (from the rows' noon) and every day of February
    assert zones.values("cost_table").distinct().count() == 2  # the price change
    assert charges.filter(periodic=True, service="jobs").exists()
    sms = charges.filter(periodic=False, service="sms")
    assert {month.north_client.pk, month.north.pk, month.acme.pk} <= set(sms.values_list("account", flat=True))
    assert sms.values("cost_table").distinct().count() == 3  # base after the change, dealer, the override
    result = _replay(month)
    assert result.differences == []
    assert result.matches and result.windows > 100


def test_price_change_inside_the_outage_is_priced_by_the_job_at_each_windows_table(billed):
    """The job catching up prices each window with the table in force at its end, as the replay does."""
    w = billed
    with time_machine.travel(START, tick=False):
        JobRun.objects.create(job="charge_periodic_services", last_started_at=START - timedelta(hours=1))
        zones = plan_ops.add_plan_service(actor=w.platform, plan=w.base_plan, values={
            "name": "zones_library", "type": "periodic", "interval": "daily", "cost_table": "0:1;1"})
        move_objects(account=w.north_client, service="zones_library", delta=2)
    with time_machine.travel(_noon(date(2027, 2, 2)), tick=False):
        plan_ops.update_plan_service(actor=w.platform, row=zones, changes={"cost_table": "0:5;1"})
    with time_machine.travel(_job_time(date(2027, 2, 4)), tick=False):
        charge_periodic_services()  # the first run since the 31st: four windows at once
    amounts = [-a for a in LedgerEntry.objects.filter(periodic=True, account=w.north_client)
               .order_by("window_start").values_list("amount", flat=True)]
    assert amounts == [Decimal("3.0000"), Decimal("3.0000"), Decimal("7.0000"), Decimal("7.0000")]
    with time_machine.travel(_job_time(date(2027, 2, 4)), tick=False):
        assert replay_charges(w.acme, since=date(2027, 1, 31), until=date(2027, 2, 3)).differences == []


def test_a_ledger_row_changed_behind_the_applications_back_is_found(month):
    row = LedgerEntry.objects.filter(account=month.north_client, service="zones_library",
                                     window_start=datetime(2027, 2, 11, 23, tzinfo=UTC)).get()
    LedgerEntry.objects.filter(pk=row.pk).update(amount=row.amount - Decimal("1"))
    difference, = _replay(month).differences
    assert (difference.account, difference.service, difference.window_start) == (
        "North Client", "zones_library", datetime(2027, 2, 11, 23, tzinfo=UTC))
    assert difference.ledger == -row.amount + 1 and difference.recomputed == -row.amount


def test_a_deleted_periodic_charge_and_an_extra_charge_are_found(month):
    deleted = LedgerEntry.objects.filter(account=month.north, service="zones_library",
                                         window_start=datetime(2027, 2, 4, 23, tzinfo=UTC)).get()
    LedgerEntry.objects.filter(pk=deleted.pk).delete()
    extra_window = datetime(2027, 2, 6, 23, tzinfo=UTC)
    LedgerEntry.objects.create(account=month.south, kind="charge", amount=Decimal("-4"), service="drivers",
                               quantity=3, window_start=extra_window, window_end=extra_window + timedelta(days=1),
                               periodic=True, description="by hand", at=extra_window + timedelta(days=1, hours=1))
    found = {(d.account, d.service, d.window_start): (d.ledger, d.recomputed) for d in _replay(month).differences}
    assert found == {
        ("North", "zones_library", deleted.window_start): (None, -deleted.amount),
        ("South", "drivers", extra_window): (Decimal("4.0000"), None),  # no plan gives South drivers
    }


def test_a_deleted_on_demand_charge_and_an_extra_one_are_found(month):
    window = datetime(2027, 2, 11, 23, tzinfo=UTC)  # North Client's daily window of the 12th
    deleted = LedgerEntry.objects.filter(account=month.north_client, service="sms", window_start=window).get()
    LedgerEntry.objects.filter(pk=deleted.pk).delete()
    monthly = datetime(2027, 1, 31, 23, tzinfo=UTC)  # North's monthly window of February
    north = LedgerEntry.objects.filter(account=month.north, service="sms", window_start=monthly)
    charged = -sum(north.values_list("amount", flat=True))
    twice = north.order_by("-at").first()
    twice.pk = None
    twice.save()  # the same charge written twice: the copy prices positions already priced
    found = {(d.account, d.service, d.window_start): (d.ledger, d.recomputed) for d in _replay(month).differences}
    assert found == {
        ("North Client", "sms", window): (None, -deleted.amount),
        ("North", "sms", monthly): (charged - twice.amount, charged),
    }


def test_one_account_and_an_empty_range(month):
    assert _replay(month, account=month.north).matches
    with time_machine.travel(AT_END, tick=False):
        result = replay_charges(month.acme, since=date(2026, 1, 1), until=date(2026, 1, 31))
    assert result.matches and result.windows == 0


def test_command_prints_differences_and_exits_1(month):
    row = LedgerEntry.objects.filter(account=month.north_client, service="sms").order_by("at").first()
    LedgerEntry.objects.filter(pk=row.pk).update(amount=row.amount * 2)
    out = io.StringIO()
    with time_machine.travel(AT_END, tick=False):
        with pytest.raises(SystemExit) as exit_:
            call_command("replay_charges", "--service", str(month.acme.pk), "--since", "2027-02-01",
                         "--until", "2027-02-28", stdout=out)
        assert exit_.value.code == 1
        text = out.getvalue()
        assert "North Client" in text and "sms" in text and "1 difference" in text
        out = io.StringIO()
        call_command("replay_charges", "--service", str(month.acme.pk), "--account", str(month.north.pk),
                     "--since", "2027-02-01", "--until", "2027-02-28", stdout=out)
        assert "no differences" in out.getvalue()


@pytest.mark.parametrize("args, message", [
    (["--since", "2027-02-01", "--until", "2027-02-28"], "--service"),
    (["--service", "x", "--since", "2027-02-01", "--until", "2027-02-28"], "service"),
    (["--service", "{acme}", "--since", "2027-02-31", "--until", "2027-02-28"], "since"),
    (["--service", "{acme}", "--since", "2027-03-01", "--until", "2027-02-28"], "until"),
    (["--service", "{acme}", "--account", "{other}", "--since", "2027-02-01", "--until", "2027-02-28"], "account"),
])
def test_command_refuses_bad_arguments(billed, args, message):
    args = [a.format(acme=billed.acme.pk, other=billed.other_service.pk) for a in args]
    with pytest.raises((CommandError, SystemExit)) as error:
        call_command("replay_charges", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert message in str(error.value) or getattr(error.value, "code", 0) == 2


def test_history_is_versioned_by_the_operations(billed):
    w = billed
    PlanService.objects.create(plan=w.dealer_plan, name="drivers", type="periodic", interval="daily",
                               cost_table="1")  # behind the operations' back: no version yet
    with time_machine.travel(START, tick=False):
        row = plan_ops.add_plan_service(actor=w.platform, plan=w.dealer_plan, values={
            "name": "trailers", "type": "periodic", "interval": "daily", "cost_table": "1"})
    with time_machine.travel(START + timedelta(days=1), tick=False):
        plan_ops.update_plan_service(actor=w.platform, row=row, changes={"cost_table": "2"})
        plan_ops.update_plan_service(actor=w.platform, row=row, changes={"description": "same prices"})
    versions = Versions(w.acme.pk, ["trailers", "drivers"])
    assert versions.plan_row(w.dealer_plan.pk, "trailers", START - timedelta(seconds=1)) is None
    assert versions.plan_row(w.dealer_plan.pk, "trailers", START) == ("periodic", "daily", "1:1")
    assert versions.plan_row(w.dealer_plan.pk, "trailers", START + timedelta(days=2)) == ("periodic", "daily", "1:2")
    assert PlanServiceVersion.objects.filter(plan=w.dealer_plan, name="trailers").count() == 2  # the text edit: none
    drivers = PlanServiceVersion.objects.get(plan=w.dealer_plan, name="drivers")
    assert drivers.valid_from == BEGINNING and drivers.valid_until is None
    assert AccountPlanVersion.objects.filter(account=w.acme, valid_until__isnull=True).get().plan_id == \
        w.base_plan.pk


# --- API and admin page --------------------------------------------------------------------------

REPLAY = "/api/v1/accounts/{}/replay/"
FEBRUARY = {"since": "2027-02-01", "until": "2027-02-28"}


def test_api_answers_matches_and_each_difference(month, as_user):
    url = REPLAY.format(month.north_client.pk)
    with time_machine.travel(AT_END, tick=False):
        assert as_user(month.top).get(url, FEBRUARY).json() == {"matches": True, "differences": []}
        row = LedgerEntry.objects.filter(account=month.north_client, service="zones_library",
                                         window_start=datetime(2027, 2, 11, 23, tzinfo=UTC)).get()
        LedgerEntry.objects.filter(pk=row.pk).delete()
        body = as_user(month.platform).get(url, FEBRUARY).json()
    assert body == {"matches": False, "differences": [
        {"service": "zones_library", "window_start": "2027-02-11T23:00:00Z", "ledger": None,
         "recomputed": f"{-row.amount:.4f}"}]}


@pytest.mark.parametrize("who, status", [("north_op", 403), ("north_restricted", 403), ("other_top", 404)])
def test_api_is_for_top_users_and_the_platform_operator(month, as_user, who, status):
    response = as_user(getattr(month, who)).get(REPLAY.format(month.north_client.pk), FEBRUARY)
    assert response.status_code == status


@pytest.mark.parametrize("params, field", [
    ({"until": "2027-02-28"}, "since"), ({"since": "2027-02-30", "until": "2027-02-28"}, "since"),
    ({"since": "2027-02-02", "until": "2027-02-01"}, "until")])
def test_api_bad_range_names_the_field(billed, as_user, params, field):
    response = as_user(billed.top).get(REPLAY.format(billed.north_client.pk), params)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and field in response.json()["fields"]


def test_admin_page_lists_the_differences(month, client):
    row = LedgerEntry.objects.filter(account=month.north_client, service="sms").order_by("at").first()
    LedgerEntry.objects.filter(pk=row.pk).update(amount=row.amount * 2)
    with time_machine.travel(AT_END, tick=False):
        client.force_login(month.top)  # in the travelled time: a session from today would have expired
        page = client.get("/admin/services/replay/", FEBRUARY)
        assert page.status_code == 200, page
        html = page.content.decode()
    assert 'id="replay-differences"' in html and "North Client" in html and "1 window of" in html
    client.force_login(month.north_op)
    assert client.get("/admin/services/replay/", FEBRUARY).status_code == 403
    client.force_login(month.platform)
    page = client.get("/admin/services/replay/", {"service": month.acme.pk, "account": month.north.pk})
    assert page.status_code == 200 and 'id="replay-result"' not in page.content.decode()


def test_each_on_demand_charge_row_records_its_first_position_and_table(billed):
    """No new statement in a consume (its statement tests are unchanged): two more columns of the
    same insert, on both databases."""
    w = billed
    with time_machine.travel(START, tick=False):
        plan_ops.add_plan_service(actor=w.platform, plan=w.base_plan, values={
            "name": "sms", "type": "on_demand", "interval": "daily", "cost_table": "0.1"})
        consume_service(account=w.north, service="sms", quantity=3, idempotency_key="a")  # Acme's 1–3
        consume_service(account=w.north_client, service="sms", quantity=2, idempotency_key="b")
    rows = {(r.account_id, r.quantity): (r.first_position, r.cost_table, r.window_start) for r in
            LedgerEntry.objects.filter(service="sms")}
    window = datetime(2027, 1, 30, 23, tzinfo=UTC)
    assert rows == {
        (w.acme.pk, 3): (1, "1:0.1", window), (w.north.pk, 3): (1, "1:0.1", window),
        (w.acme.pk, 2): (4, "1:0.1", window), (w.north.pk, 2): (4, "1:0.1", window),  # after North's own 3
        (w.north_client.pk, 2): (1, "1:0.1", window),
    }
