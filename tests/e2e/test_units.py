"""Units in the browser: a distributor sees its own units only; the top user adds a unit with a sensor."""

from apps.accounts import operations as account_ops
from apps.plans.models import PlanService
from apps.units import operations
from apps.units.models import Unit
from tests.e2e.helpers import pick


def _bill_units(world):
    account_ops.update_account(actor=world.platform, account=world.acme, changes={"plan": world.base_plan})
    PlanService.objects.bulk_create([PlanService(plan=world.base_plan, name=name, type="periodic", interval="monthly")
                                     for name in ("avl_unit", "unit_sensors", "unit_alias")])


def test_distributor_sees_its_units_and_not_souths(world, login, shot, live_server):
    _bill_units(world)
    operations.create_unit(actor=world.top, account=world.north_client, name="North Truck", unique_id="N-001",
                           sensors=[{"name": "Fuel", "type": "fuel_level"}])
    operations.create_unit(actor=world.top, account=world.north_east_client, name="North-East Van", unique_id="NE-01")
    operations.create_unit(actor=world.top, account=world.south_client, name="South Truck", unique_id="S-001")
    page = login("north")
    page.goto(f"{live_server.url}/admin/units/unit/")
    shot("units_changelist_north")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    text = page.locator("#result_list").inner_text()
    assert "North Truck" in text and "North-East Van" in text and "South Truck" not in text
    page.click("text=North Truck")
    page.wait_for_load_state()
    shot("units_change_north")
    assert page.locator("#sensors-group").inner_text().count("Fuel") >= 1


def test_top_user_creates_a_unit_with_a_sensor(world, login, shot, live_server):
    _bill_units(world)
    page = login("top")
    page.goto(f"{live_server.url}/admin/units/unit/add/")
    page.fill("#id_name", "Crane 12")
    pick(page, "#id_account", "North Cl", "North Client")
    page.fill("#id_unique_id", "356938035643809")
    page.fill("#id_sensors-0-name", "Tank level")
    page.select_option("#id_sensors-0-type", "fuel_level")
    page.check("input[name=eco_criteria][value=braking]")
    shot("units_add_top_filled")
    page.click("input[name=_save]")
    page.wait_for_load_state()
    shot("units_changelist_after_add")
    assert "was added successfully" in page.locator(".messagelist").inner_text()
    unit = Unit.objects.get(unique_id="356938035643809")
    assert (unit.name, unit.account_id, unit.eco_criteria) == ("Crane 12", world.north_client.pk, ["braking"])
    assert list(unit.sensors.values_list("name", "type")) == [("Tank level", "fuel_level")]
