"""The discount module in a browser: the top user reads a unit's details, adds a fuel sensor on the
unit's admin page, recalculates and sees the unit lose 25 points; a distributor cannot open it."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from apps.accounts import operations as account_ops
from apps.core import clock
from apps.discounts.operations import save_snapshots
from apps.discounts.queries import local_today
from apps.plans.models import PlanService
from apps.units import operations as unit_ops

FREE_PERIODIC = ("avl_unit", "storage_user", "unit_sensors", "unit_alias")


@pytest.fixture
def van(world):
    for name in FREE_PERIODIC:
        PlanService.objects.create(plan=world.base_plan, name=name, type="periodic", interval="none")
    account_ops.update_account(actor=world.platform, account=world.acme,
                               changes={"discount_enabled": True, "plan": world.base_plan})
    unit_ops.create_unit(actor=world.platform, account=world.south_client, name="Bus 1", unique_id="bus1")
    return unit_ops.create_unit(actor=world.platform, account=world.north_client, name="Van 7", unique_id="van7",
                                sensors=[{"name": "Ignition", "type": "ignition"}], eco_driving=True)


def test_top_user_recalculates_after_adding_a_fuel_sensor(live_server, login, shot, world, van):
    today = local_today(world.acme, clock.now())
    month_so_far = [today.replace(day=1) + timedelta(days=i) for i in range(today.day - 1)]
    save_snapshots(service=world.acme, days=month_so_far, now=clock.now())
    page = login("top")
    page.goto(f"{live_server.url}/admin/")
    page.click("text=Discount module")
    expect(page.locator("h1")).to_have_text("Discount module: Acme Telematics")

    account_row = page.locator(f"tbody.account-group[data-account='{world.north_client.pk}']")
    expect(page.locator("#month-chart rect.bar")).to_have_count(len(month_so_far))
    expect(account_row).to_contain_text("North Client")
    expect(account_row).to_contain_text("(1 unit)")
    account_row.locator("button.toggle").click()
    unit_row = page.locator(f"tr.unit-row[data-unit='{van.pk}']")
    expect(unit_row).to_be_visible()
    expect(unit_row.locator("td.num").first).to_have_text("25 (25)")
    expect(unit_row.locator("td.discount")).to_have_text("75 %")
    unit_row.locator("summary").click()
    expect(unit_row.locator("details")).to_contain_text("Sensors: 1: −5 p.p. (unit)")
    expect(unit_row.locator("details")).to_contain_text("Eco driving enabled: −20 p.p. (unit)")
    shot("discounts_module_details")

    page.goto(f"{live_server.url}/admin/units/unit/{van.pk}/change/")
    page.fill("#id_sensors-1-name", "Tank")
    page.select_option("#id_sensors-1-type", "fuel_level")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("changed successfully")
    assert van.sensors.count() == 2

    page.goto(f"{live_server.url}/admin/discounts/module/")
    page.click("#recalculate")
    expect(page.locator("#summary-source")).to_contain_text("Calculated now; not saved.")
    page.locator(f"tbody.account-group[data-account='{world.north_client.pk}'] button.toggle").click()
    expect(unit_row.locator("td.discount")).to_have_text("50 %")
    expect(unit_row.locator("td.num").first).to_have_text("50 (50)")
    unit_row.locator("summary").click()
    expect(unit_row.locator("details")).to_contain_text("Fuel-group sensors in use: −20 p.p. (unit)")
    expect(page.locator("#current")).to_have_text("63 %")  # (50 + 76) / 2
    shot("discounts_module_recalculated")


def test_distributor_cannot_open_the_module(live_server, login, world, van):
    page = login("north")
    response = page.goto(f"{live_server.url}/admin/discounts/module/")
    assert response.status == 404
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#content-main")).not_to_contain_text(re.compile("Discount module", re.I))
