"""The discount advisor on the module page, in a browser at 1366 px: the top user and the platform
operator see each account's and unit's top suggestions beside the details, and the service's
discount if every account took its top suggestion."""

import pytest
from playwright.sync_api import expect

from apps.accounts import operations as account_ops
from apps.plans.models import PlanService
from apps.services.operations import move_objects
from apps.units import operations as unit_ops

FREE_PERIODIC = ("avl_unit", "storage_user", "unit_sensors", "unit_alias", "notifications")


@pytest.fixture
def fleet(world):
    for name in FREE_PERIODIC:
        PlanService.objects.create(plan=world.base_plan, name=name, type="periodic", interval="none")
    account_ops.update_account(actor=world.platform, account=world.acme,
                               changes={"discount_enabled": True, "plan": world.base_plan})
    move_objects(account=world.north_client, service="notifications", delta=3)
    unit_ops.create_unit(actor=world.platform, account=world.north_client, name="Van 7", unique_id="van7",
                         sensors=[{"name": "Ignition", "type": "ignition"}, {"name": "Tank", "type": "fuel_level"}],
                         eco_driving=True, road_limits_speeding=True, eco_criteria=["speeding", "braking"])
    unit_ops.create_unit(actor=world.platform, account=world.north_client, name="Van 8", unique_id="van8")
    unit_ops.create_unit(actor=world.platform, account=world.north, name="Truck 3", unique_id="truck3",
                         sensors=[{"name": "Ignition", "type": "ignition"}, {"name": "Tank", "type": "fuel_level"}],
                         commands=[{"name": "Stop"}, {"name": "Start"}], eco_driving=True,
                         eco_criteria=["speeding", "braking"], service_intervals=[{"name": "Oil"}])
    bus = unit_ops.create_unit(actor=world.platform, account=world.south_client, name="Bus 1", unique_id="bus1")
    dispatcher = unit_ops.create_monitoring_user(actor=world.platform, account=world.north_client, name="Dispatcher")
    unit_ops.grant_access(actor=world.platform, user=dispatcher, unit=bus)


@pytest.mark.parametrize("who", ["top", "root"])
def test_module_shows_the_advisor(live_server, page, login, shot, world, fleet, who):
    page.set_viewport_size({"width": 1366, "height": 900})
    login(who)
    suffix = f"?service={world.acme.pk}" if who == "root" else ""
    page.goto(f"{live_server.url}/admin/discounts/module/{suffix}")
    # The page reads a stored table: Recalculate computes one now (the task runs in the request in tests)
    # and shows it without saving it as the day's.
    page.locator("#recalculate").click()
    expect(page.locator("#after-top")).to_contain_text("If every account took its top suggestion")
    north = page.locator(f"tr.account-row[data-account='{world.north_client.pk}']")
    expect(north.locator("td.advice")).to_contain_text("Remove user Dispatcher's access to unit Bus 1")
    north.locator("a.drill").click()
    van = page.locator("tr", has_text="Van 8")  # Van 7 stays at 0 even when eligible (90 points)
    expect(van.locator("td.advice")).to_contain_text("Remove user Dispatcher's access")
    page.go_back()
    page.locator(f"tr.account-row[data-account='{world.north.pk}'] a.drill").click()
    truck = page.locator("tr", has_text="Truck 3")
    expect(truck.locator("td.advice li").first).to_contain_text("Remove the fuel-group sensors (1)")
    shot(f"discount-advice-{who}")
