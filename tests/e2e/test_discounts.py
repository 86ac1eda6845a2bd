"""The discount module in a browser at 1366 px: the top user reads the stored table a page at a time,
opens an account's units and a unit's details, adds a fuel sensor on the unit's admin page, recalculates
(a background job whose progress page refreshes itself) and sees the unit lose 25 points; the page
explains a maximum that caps the applied discount; a distributor cannot open it."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from apps.accounts import operations as account_ops
from apps.accounts.models import Account
from apps.core import clock
from apps.discounts import tables, views
from apps.discounts.models import DiscountCalculation, DiscountSnapshot
from apps.discounts.operations import save_snapshots
from apps.discounts.queries import local_today
from apps.plans.models import PlanService
from apps.units import operations as unit_ops

FREE_PERIODIC = ("avl_unit", "storage_user", "unit_sensors", "unit_alias")
WIDE = {"width": 1366, "height": 900}


@pytest.fixture
def van(world):
    for name in FREE_PERIODIC:
        PlanService.objects.create(plan=world.base_plan, name=name, type="periodic", interval="none")
    account_ops.update_account(actor=world.platform, account=world.acme,
                               changes={"discount_enabled": True, "plan": world.base_plan})
    unit_ops.create_unit(actor=world.platform, account=world.south_client, name="Bus 1", unique_id="bus1")
    return unit_ops.create_unit(actor=world.platform, account=world.north_client, name="Van 7", unique_id="van7",
                                sensors=[{"name": "Ignition", "type": "ignition"}], eco_driving=True)


def _month_so_far(world):
    today = local_today(world.acme, clock.now())
    days = [today.replace(day=1) + timedelta(days=i) for i in range(today.day - 1)] or [today - timedelta(days=1)]
    service = Account.objects.get(pk=world.acme.pk)  # fresh: the settings as saved
    save_snapshots(service=service, days=days, now=clock.now())  # the table is the last day's
    return days


def test_top_user_reads_the_table_and_recalculates_after_adding_a_fuel_sensor(live_server, login, shot, world, van):
    days = _month_so_far(world)
    page = login("top")
    page.set_viewport_size(WIDE)
    page.goto(f"{live_server.url}/admin/")
    page.click("text=Discount module")
    expect(page.locator("h1")).to_have_text("Discount module: Acme Telematics")
    expect(page.locator("#month-chart rect.bar")).to_have_count(len([d for d in days if d.month == days[-1].month]))
    account_row = page.locator(f"tr.account-row[data-account='{world.north_client.pk}']")
    expect(account_row).to_contain_text("North Client")
    expect(account_row.locator("td.count")).to_have_text("1")
    shot("discount_top_module_accounts")

    account_row.locator("a.drill").click()
    expect(page.locator("#units-title")).to_contain_text("Units of North Client (1)")
    unit_row = page.locator(f"tr.unit-row[data-unit='{van.pk}']")
    expect(unit_row.locator("td.num").first).to_have_text("25 (25)")
    expect(unit_row.locator("td.discount")).to_have_text("75 %")
    unit_row.locator("summary").click()
    expect(unit_row.locator("details")).to_contain_text("Sensors: 1: −5 p.p. (unit)")
    expect(unit_row.locator("details")).to_contain_text("Eco driving enabled: −20 p.p. (unit)")
    shot("discount_top_module_units")

    page.goto(f"{live_server.url}/admin/units/unit/{van.pk}/change/")
    page.fill("#id_sensors-1-name", "Tank")
    page.select_option("#id_sensors-1-type", "fuel_level")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("changed successfully")

    page.goto(f"{live_server.url}/admin/discounts/module/")
    snapshots = DiscountSnapshot.objects.count()
    page.click("#recalculate")  # the task runs eagerly in tests: the redirect lands on its result
    expect(page.locator("#summary-source")).to_contain_text("Calculated now")
    expect(page.locator("#current")).to_have_text("63 %")  # (50 + 76) / 2
    page.locator(f"tr.account-row[data-account='{world.north_client.pk}'] a.drill").click()
    expect(unit_row.locator("td.discount")).to_have_text("50 %")
    expect(unit_row.locator("td.num").first).to_have_text("50 (50)")
    unit_row.locator("summary").click()
    expect(unit_row.locator("details")).to_contain_text("Fuel-group sensors in use: −20 p.p. (unit)")
    shot("discount_top_module_recalculated_units")
    assert DiscountSnapshot.objects.count() == snapshots  # not saved as a day
    page.click("#back-to-accounts")
    page.click("#back-to-saved")
    expect(page.locator("#current")).to_have_text("75 %")  # the saved day again: (75 + 76) / 2


def test_recalculation_progress_refreshes_until_the_result(live_server, login, shot, world, van):
    _month_so_far(world)
    calculation = DiscountCalculation.objects.create(service=world.acme, kind="recalculation", actor=world.top,
                                                     created_at=clock.now())
    page = login("top")
    page.set_viewport_size(WIDE)
    page.goto(f"{live_server.url}/admin/discounts/module/?calculation={calculation.pk}")
    expect(page.locator("#recalculation-progress")).to_contain_text("Queued")
    expect(page.locator("#recalculation-progress progress")).to_be_visible()
    shot("discount_top_module_progress")
    assert tables.run_recalculation(calculation.pk) == "done"  # the worker
    expect(page.locator("#discount-accounts")).to_contain_text("North Client", timeout=10_000)  # page refreshed
    expect(page.locator("#recalculation-progress")).to_have_count(0)


def test_paged_accounts_and_the_cap_explained(live_server, login, shot, world, van, monkeypatch):
    monkeypatch.setattr(views, "ACCOUNTS_PER_PAGE", 1)
    account_ops.update_account(actor=world.platform, account=world.acme,
                               changes={"basic_package_units": 1, "purchased_units": 4})
    _month_so_far(world)
    page = login("top")
    page.set_viewport_size(WIDE)
    page.goto(f"{live_server.url}/admin/discounts/module/")
    expect(page.locator("#cap-explanation")).to_contain_text(
        "The applied discount (50 %) is below the current discount (75 %) because the maximum caps it")
    expect(page.locator("#applied")).to_have_text("50 %")
    expect(page.locator("#discount-paging")).to_contain_text("Rows 1–1 of 2 (page 1 of 2)")
    expect(page.locator("#discount-accounts")).to_contain_text("North Client")
    shot("discount_top_module_capped_paged")
    page.click("#discount-paging a[rel=next]")
    expect(page.locator("#discount-accounts")).to_contain_text("South Client")
    expect(page.locator("#discount-accounts")).not_to_contain_text("North Client")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1366, width  # nothing wider than the window


def test_distributor_cannot_open_the_module(live_server, login, shot, world, van):
    page = login("north")
    page.set_viewport_size(WIDE)
    response = page.goto(f"{live_server.url}/admin/discounts/module/")
    assert response.status == 404
    shot("discount_distributor_module_404")
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#content-main")).not_to_contain_text(re.compile("Discount module", re.I))
