"""The discount module page reads stored tables (issue 15 item 5, issue 16): the daily job keeps the
day's account and unit table, Recalculate computes one in the background (never a snapshot), the page
shows one page of it, and explains a capped applied discount."""

from datetime import datetime, timezone

import pytest

from apps.accounts import operations as account_ops
from apps.discounts import tables, views
from apps.discounts.models import DiscountAccountRow, DiscountCalculation, DiscountSnapshot, DiscountUnitRow
from apps.discounts.operations import snapshot_discounts
from apps.units import operations as unit_ops

pytestmark = pytest.mark.django_db

MODULE = "/admin/discounts/module/"
RECALCULATE = MODULE + "recalculate/"
DAY1 = datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc)
DAY2 = datetime(2026, 3, 2, 23, 30, tzinfo=timezone.utc)


@pytest.fixture
def units(world, acme, make_unit):
    return {"plain": make_unit(world.north_client, "Plain"),
            "second": make_unit(world.north_client, "Second"),
            "sensor": make_unit(world.south_client, "With sensor", sensors=[{"name": "Ign", "type": "ignition"},
                                                                          {"name": "Tank", "type": "fuel_level"}])}


def test_the_daily_job_stores_the_days_table_and_drops_the_previous_one(world, acme, units):
    snapshot_discounts(now=DAY1)
    first = DiscountCalculation.objects.get()
    assert (first.kind, str(first.day), first.accounts, first.units) == ("daily", "2026-03-01", 2, 3)
    assert list(DiscountUnitRow.objects.filter(calculation=first).values_list("name", "discount")) == [
        ("Plain", 76), ("Second", 76), ("With sensor", 70)]
    snapshot_discounts(now=DAY2)
    second = DiscountCalculation.objects.get()  # the first day's table is gone, its snapshot stays
    assert str(second.day) == "2026-03-02" and DiscountSnapshot.objects.count() == 2
    assert set(DiscountUnitRow.objects.values_list("calculation", flat=True)) == {second.pk}
    assert set(DiscountAccountRow.objects.values_list("calculation", flat=True)) == {second.pk}


def test_a_second_run_for_the_same_day_writes_no_second_table(world, acme, units):
    from apps.discounts.operations import save_snapshots

    snapshot_discounts(now=DAY1)
    save_snapshots(service=world.acme, days=[DAY1.date()], now=DAY1)  # a run that lost the race
    assert DiscountCalculation.objects.count() == 1
    assert DiscountUnitRow.objects.count() == 3


def test_recalculate_stores_a_table_but_no_snapshot(client, world, acme, units):
    snapshot_discounts(now=DAY1)
    unit_ops.update_unit(actor=world.top, unit=units["plain"], changes={"sensors": [{"name": "T", "type": "fuel_level"}]})
    client.force_login(world.top)
    response = client.post(RECALCULATE)
    calculation = DiscountCalculation.objects.get(kind="recalculation")
    assert response.url == f"{MODULE}?calculation={calculation.pk}"
    assert (calculation.state, calculation.percent, calculation.actor) == ("done", 100, world.top)
    assert DiscountSnapshot.objects.count() == 1

    saved = client.get(MODULE).content.decode()
    now = client.get(response.url).content.decode()
    assert '<strong id="current">74 %</strong>' in saved  # (76 + 76 + 70) / 3
    assert '<strong id="current">73 %</strong>' in now  # Plain: 100 − 25 = 75; (75 + 76 + 70) / 3 = 73.67
    assert "Calculated now" in now and 'id="back-to-saved"' in now
    drill = client.get(response.url + f"&account={world.north_client.pk}").content.decode()
    assert "25 (25)" in drill  # Plain with its fuel sensor: 5 + 20 points


def test_a_recalculation_in_progress_shows_its_progress_and_refreshes(client, world, acme, units):
    calculation = DiscountCalculation.objects.create(service=world.acme, kind="recalculation", actor=world.top,
                                                     created_at=datetime.now(timezone.utc))
    client.force_login(world.top)
    page = client.get(MODULE, {"calculation": calculation.pk}).content.decode()
    assert 'id="recalculation-progress"' in page and '<meta http-equiv="refresh" content="2">' in page
    assert "Queued" in page and 'value="0"' in page
    assert tables.run_recalculation(calculation.pk) == "done"
    assert tables.run_recalculation(calculation.pk) == "claimed"  # a redelivered message does nothing
    page = client.get(MODULE, {"calculation": calculation.pk}).content.decode()
    assert "http-equiv" not in page and "North Client" in page


def test_a_failed_recalculation_says_so_and_keeps_no_rows(client, world, acme, units, monkeypatch):
    calculation = DiscountCalculation.objects.create(service=world.acme, kind="recalculation", actor=world.top,
                                                     created_at=datetime.now(timezone.utc))

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(tables, "write_rows", broken)
    assert tables.run_recalculation(calculation.pk) == "failed"
    assert not DiscountUnitRow.objects.exists()
    client.force_login(world.top)
    page = client.get(MODULE, {"calculation": calculation.pk}).content.decode()
    assert 'id="recalculation-failed"' in page and "failed on an unexpected error" in page


def test_the_accounts_and_the_units_are_paged(client, world, acme, units, monkeypatch):
    monkeypatch.setattr(views, "ACCOUNTS_PER_PAGE", 1)
    monkeypatch.setattr(views, "UNITS_PER_PAGE", 1)
    snapshot_discounts(now=DAY1)
    client.force_login(world.top)
    first = client.get(MODULE).content.decode()
    assert "North Client" in first and "South Client" not in first and "Rows 1–1 of 2 (page 1 of 2)" in first
    second = client.get(MODULE, {"page": 2}).content.decode()
    assert "South Client" in second and "North Client" not in second
    assert "South Client" in client.get(MODULE, {"page": 99}).content.decode()  # past the end: the last page
    assert "North Client" in client.get(MODULE, {"page": "x"}).content.decode()  # not a number: the first
    units_2 = client.get(MODULE, {"account": world.north_client.pk, "page": 2}).content.decode()
    assert "Second" in units_2 and ">Plain<" not in units_2 and "Rows 2–2 of 2" in units_2


def test_an_account_or_calculation_not_of_the_table_is_404(client, world, acme, units):
    snapshot_discounts(now=DAY1)
    client.force_login(world.top)
    assert client.get(MODULE, {"account": world.other_service.pk}).status_code == 404
    assert client.get(MODULE, {"account": "x"}).status_code == 404
    daily = DiscountCalculation.objects.get()
    assert client.get(MODULE, {"calculation": daily.pk}).status_code == 404  # only recalculations by id
    assert client.get(MODULE, {"calculation": "x"}).status_code == 404


def test_another_services_recalculation_is_404(client, world, acme, units):
    account_ops.update_account(actor=world.platform, account=world.other_service,
                               changes={"discount_enabled": True})
    client.force_login(world.platform)
    client.post(RECALCULATE, {"service": world.other_service.pk})
    other = DiscountCalculation.objects.get(service=world.other_service)
    client.force_login(world.top)
    assert client.get(MODULE, {"calculation": other.pk}).status_code == 404


@pytest.mark.parametrize("who", ["north_op", "north_restricted", "other_top"])
def test_others_cannot_recalculate(client, world, acme, units, who):
    client.force_login(getattr(world, who))
    assert client.post(RECALCULATE, {"service": world.acme.pk}).status_code == 404
    assert not DiscountCalculation.objects.exists()


def test_platform_operator_must_name_a_service_to_recalculate(client, world, acme, units):
    client.force_login(world.platform)
    assert client.post(RECALCULATE).status_code == 404
    assert client.get(RECALCULATE).status_code == 302  # a GET goes back to the module
    assert not DiscountCalculation.objects.exists()


def test_the_page_explains_a_maximum_that_caps_the_applied_discount(client, world, acme, units):
    account_ops.update_account(actor=world.platform, account=acme, changes={"basic_package_units": 2})
    snapshot_discounts(now=DAY1)
    client.force_login(world.top)
    page = client.get(MODULE).content.decode()
    # current (76 + 76 + 70) / 3 = 74 %, maximum (3 − 2) / 3 = 33 %
    assert 'id="cap-explanation"' in page
    assert ("The applied discount (33 %) is below the current discount (74 %) because the maximum caps it: the "
            "maximum is (units in use 3 − basic-package units 2) / 3 = 33 %") in page


def test_no_cap_explanation_when_the_current_discount_applies(client, world, acme, units):
    snapshot_discounts(now=DAY1)
    client.force_login(world.top)
    assert 'id="cap-explanation"' not in client.get(MODULE).content.decode()


def test_before_any_table_the_page_says_how_to_get_one(client, world, acme, units):
    client.force_login(world.top)
    page = client.get(MODULE).content.decode()
    assert 'id="no-table"' in page and "No day saved yet" in page


def test_the_response_does_not_grow_with_the_units(client, world, acme, make_unit, monkeypatch):
    monkeypatch.setattr(views, "ACCOUNTS_PER_PAGE", 2)
    monkeypatch.setattr(views, "UNITS_PER_PAGE", 5)
    for i in range(5):
        make_unit(world.north_client, f"Truck {i:02d}")
    make_unit(world.south_client, "Bus")
    snapshot_discounts(now=DAY1)
    client.force_login(world.top)
    small = len(client.get(MODULE, {"account": world.north_client.pk}).content)
    for i in range(5, 30):
        make_unit(world.north_client, f"Truck {i:02d}")
    snapshot_discounts(now=DAY2)
    large = len(client.get(MODULE, {"account": world.north_client.pk}).content)
    assert abs(large - small) < 200  # the same five rows, a longer count in the paging line


def test_the_api_lists_read_the_stored_table_and_preview_calculates_now(world, acme, units, as_user):
    snapshot_discounts(now=DAY1)
    unit_ops.update_unit(actor=world.top, unit=units["plain"], changes={"sensors": [{"name": "T", "type": "fuel_level"}]})
    api = as_user(world.top)
    stored = api.get("/api/v1/discount/units/", {"account": world.north_client.pk}).json()
    now = api.get("/api/v1/discount/units/", {"account": world.north_client.pk, "preview": "1"}).json()
    assert [(u["name"], u["discount"]) for u in stored["results"]] == [("Plain", 76), ("Second", 76)]
    assert [(u["name"], u["discount"]) for u in now["results"]] == [("Plain", 75), ("Second", 76)]
    assert stored["results"][1] == now["results"][1]  # the same fields, from the table or calculated
    accounts = api.get("/api/v1/discount/accounts/").json()
    assert [(a["name"], a["units"], a["discount"]) for a in accounts["results"]] == [
        ("North Client", 2, "76.00"), ("South Client", 1, "70.00")]
