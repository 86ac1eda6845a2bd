"""The top user's plan window in a real browser: a plan with a parent, a bad then a good cost table,
a live price preview, and an export to another plan in sync mode."""

import re

from playwright.sync_api import expect

from apps.plans.models import Plan, PlanEvent, PlanService


def test_top_user_builds_a_plan_and_syncs_its_services(world, login, shot, live_server):
    page = login("top")
    PlanService.objects.create(plan=world.dealer_plan, name="jobs", type="periodic", cost_table="")

    # 1. A new plan with a parent.
    page.goto(f"{live_server.url}/admin/plans/plan/add/")
    page.fill("#id_name", "Gold")
    page.select_option("#id_parent", label="Base")
    page.fill("#id_history_period_days", "")
    page.select_option("#id_block_by_balance", label="On")
    shot("plans-01-add-form")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("Gold")
    gold = Plan.objects.get(name="Gold")
    assert gold.parent_id == world.base_plan.pk and gold.block_by_balance is True

    # 2. A service row with a bad cost table: refused with the reason, nothing saved.
    page.fill("#id_services-0-name", "sms")
    page.select_option("#id_services-0-interval", "daily")
    page.fill("#id_services-0-cost_table", "1:0;10:x")
    page.click("input[name=_continue]")
    expect(page.locator(".errorlist").first).to_contain_text("item 2 ('10:x'): value 'x' is not a number")
    assert not gold.services.exists()
    shot("plans-02-bad-cost-table")

    # 3. The good table, with a live preview of the next price and the total.
    page.fill("#id_services-0-cost_table", "1:0;10:1.5;-1")
    preview = page.locator("#id_services-0-cost_table ~ .cost-preview")
    preview.locator(".calc-count").fill("3")
    expect(preview.locator(".calc-result")).to_contain_text("object 4: 1.50")
    expect(preview.locator(".calc-result")).to_contain_text("total for 3: 3.00")
    preview.locator(".calc-count").fill("10")
    expect(preview.locator(".calc-result")).to_contain_text("object 11: denied")
    shot("plans-03-preview")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("changed successfully")
    assert gold.services.get().cost_table == "1:0;10:1.5;-1"
    gold.refresh_from_db()
    assert (gold.block_by_balance, gold.limit_by_balance) == (True, None)  # "inherit" survived the error page
    expect(page.locator("table.effective-services")).to_contain_text("from plan Gold")
    shot("plans-04-saved")

    # 4. Export Gold's services to Dealer in sync mode: preview per target, then counts.
    page.goto(f"{live_server.url}/admin/plans/planservice/?plan__id__exact={gold.pk}")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "export_to_plans")
    page.click("button[name=index]")
    page.get_by_label("Dealer").check()
    page.get_by_label(re.compile("Synchronise")).check()
    page.click("button[value=preview]")
    expect(page.locator(".transfer-preview")).to_contain_text("jobs")
    shot("plans-05-export-preview")
    page.click("button[value=confirm]")
    expect(page.locator(".messagelist")).to_contain_text("Dealer: 1 added, 0 replaced, 0 kept, 1 removed")
    shot("plans-06-exported")
    assert dict(world.dealer_plan.services.values_list("name", "cost_table")) == {"sms": "1:0;10:1.5;-1"}
    assert PlanEvent.objects.filter(plan_id_snapshot=gold.pk, action="services_exported").exists()
