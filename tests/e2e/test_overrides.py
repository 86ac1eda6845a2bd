"""An account's own service overrides in a browser at 1366 px (issue 15 item 4): a distributor opens its
client's page, sees the combined settings and services with their sources, adds an override with the
plan row's calculator beside it, and a bad table is refused on the row; the top user reads its own
account's overrides read-only. The plan-services import preview shows every bad row's reason in the row."""

import pytest
import tablib
from playwright.sync_api import expect

from apps.plans.models import AccountServiceOverride, PlanService

WIDE = {"width": 1366, "height": 900}


@pytest.fixture
def sms_plan(world):
    return PlanService.objects.create(plan=world.base_plan, name="sms", type="on_demand", cost_table="0:1;-1")


def test_distributor_adds_an_override_from_the_account_page(live_server, login, shot, world, sms_plan):
    page = login("north")
    page.set_viewport_size(WIDE)
    page.goto(f"{live_server.url}/admin/accounts/account/{world.north_client.pk}/change/")
    sms = page.locator("#combined-services tr[data-service='sms']")
    expect(sms).to_contain_text("plan Base")
    expect(page.locator("#combined-settings")).to_contain_text("min days")
    shot("overrides_distributor_account_page")

    page.click("#edit-overrides")
    expect(page.locator("h1")).to_have_text("Service overrides of North Client")
    page.fill("input[name='overrides-0-name']", "sms")
    page.select_option("select[name='overrides-0-interval']", "daily")
    page.fill("input[name='overrides-0-cost_table']", "1:x")
    page.click("#save-overrides")
    expect(page.locator("tr.override-row[data-row='0'] .errorlist")).to_be_visible()
    assert not AccountServiceOverride.objects.exists()

    page.fill("input[name='overrides-0-cost_table']", "1:0;10:0.5;-1")
    expect(page.locator("tr.override-row[data-row='0'] .calc-result")).to_contain_text("total for 10: 4.50")  # the row's calculator
    shot("overrides_distributor_editor")
    page.click("#save-overrides")
    expect(page.locator(".messagelist")).to_contain_text("The service overrides of North Client are saved.")
    expect(page.locator("#combined-services tr[data-service='sms']")).to_contain_text("this account's override")
    override = AccountServiceOverride.objects.get(account=world.north_client)
    assert (override.interval, override.cost_table) == ("daily", "1:0;10:0.5;-1")
    shot("overrides_distributor_saved")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366


def test_top_user_reads_its_own_accounts_overrides(live_server, login, shot, world, sms_plan):
    page = login("top")
    page.set_viewport_size(WIDE)
    page.goto(f"{live_server.url}/admin/accounts/account/{world.top.account_id}/overrides/")
    expect(page.locator("#read-only-reason")).to_be_visible()
    expect(page.locator("#overrides-form")).to_have_count(0)
    page.goto(f"{live_server.url}/admin/accounts/account/{world.north_client.pk}/overrides/")
    expect(page.locator("#overrides-form")).to_be_visible()
    shot("overrides_top_editor")


def test_the_import_preview_shows_every_bad_rows_reason(live_server, login, shot, world, tmp_path):
    data = tablib.Dataset(headers=["plan", "name", "type", "interval", "cost table", "description"])
    data.append(["Dealer", "sms", "on_demand", "daily", "1:0;10:1.5;-1", "good"])
    data.append(["Nowhere", "sms", "on_demand", "daily", "1:0", "no such plan"])
    data.append(["Dealer", "sms", "", "weekly", "1:x", "bad table and twice"])
    path = tmp_path / "services.csv"
    path.write_text(data.export("csv"))
    page = login("top")
    page.set_viewport_size(WIDE)
    page.goto(f"{live_server.url}/admin/plans/planservice/import/")
    page.set_input_files("input[name=import_file]", str(path))
    page.select_option("select[name=format]", "0")
    page.click("input.default[type=submit]")
    bad = page.locator("#bad-rows tr.bad-row")
    expect(bad).to_have_count(3)  # the first and third name sms twice in Dealer: both are refused
    expect(bad.nth(1).locator(".bad-reasons")).to_be_visible()  # on the page, not in a hover box
    expect(bad.nth(1).locator(".bad-reasons")).to_contain_text("plan")
    expect(bad.nth(2).locator(".bad-reasons")).to_contain_text("cost table")
    expect(bad.nth(0).locator(".bad-reasons")).to_contain_text("a plan lists a service once")
    shot("import_preview_bad_rows_top")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
