"""Issue 15 item 4 in Chromium at 1366 px: a read-only plan says why (top user, distributor), the plan form's
inherited notes, the calculator's warning for a negative item, the plans list's currency example, and the
payment confirmation's block warning."""

from decimal import Decimal

from playwright.sync_api import expect

from apps.accounts.models import Account
from apps.plans.models import Plan

WIDE = {"width": 1366, "height": 900}


def _no_horizontal_scroll(page):
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth, Array.from("
                           "document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > "
                           "window.innerWidth + 1).slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id)]")
    assert widths[0] <= widths[1] + 1, widths


def test_plans_and_money_as_top_user(world, login, shot, live_server):
    Plan.objects.filter(pk=world.base_plan.pk).update(block_by_balance=True, block_balance=Decimal("-1000"),
                                                     currency_format="€%.02f")
    Account.objects.filter(pk=world.acme.pk).update(currency_format="€%.02f")
    page = login("top")
    page.set_viewport_size(WIDE)

    page.goto(f"{live_server.url}/admin/plans/plan/")
    expect(page.locator("#result_list")).to_contain_text("€1,234.50")
    _no_horizontal_scroll(page)
    shot("money-01-plans-list-top")

    page.goto(f"{live_server.url}/admin/plans/plan/{world.acme.plan_id}/change/")
    expect(page.locator(".readonly-reason")).to_contain_text("only the platform operator changes it")
    _no_horizontal_scroll(page)
    shot("money-02-service-plan-readonly-top")

    page.goto(f"{live_server.url}/admin/plans/plan/{world.dealer_plan.pk}/change/")
    expect(page.locator(".readonly-reason")).to_have_count(0)
    expect(page.locator(".field-block_balance .help")).to_contain_text("Empty inherits €-1,000.00 from plan Base")
    page.fill(".cost-calculator .calc-table", "1:1000")  # the service's pattern, thousands grouped
    expect(page.locator(".cost-calculator .calc-result")).to_contain_text("object 11: €1,000.00")
    expect(page.locator(".cost-calculator .calc-result")).to_contain_text("total for 10: €10,000.00")
    page.fill(".cost-calculator .calc-table", "1:-0.5")
    expect(page.locator(".cost-calculator .calc-warning")).to_contain_text("denies the service from position 1")
    shot("money-03-plan-form-inherited-and-calculator")
    _no_horizontal_scroll(page)

    page.fill("#id_services-0-name", "sms")
    page.select_option("#id_services-0-interval", "daily")
    page.fill("#id_services-0-cost_table", "1:1;3:-0.5")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .warning")).to_contain_text("“sms”, cost table: Item 2")
    shot("money-04-cost-table-saved-with-warning")

    page.goto(f"{live_server.url}/admin/accounts/account/{world.north.pk}/payment/")
    page.fill("#id_amount", "-1500")
    page.fill("#id_days", "0")
    page.fill("#id_description", "correction")
    page.click("input[type=submit]")
    expect(page.locator(".payment-block-warning")).to_contain_text("This payment will block North")
    _no_horizontal_scroll(page)
    shot("money-05-payment-block-warning")


def test_plans_as_distributor(world, login, shot, live_server):
    Plan.objects.filter(pk=world.base_plan.pk).update(block_by_days=True, min_days=1)
    page = login("north")
    page.set_viewport_size(WIDE)
    page.goto(f"{live_server.url}/admin/plans/plan/{world.dealer_plan.pk}/change/")
    expect(page.locator(".readonly-reason")).to_contain_text("Distributors may read their plan and its sub-plans")
    expect(page.locator("table.inherited-settings")).to_contain_text("Empty inherits 400 days from plan Base.")
    _no_horizontal_scroll(page)
    shot("money-06-plan-readonly-distributor")

    page.goto(f"{live_server.url}/admin/accounts/account/{world.north_client.pk}/payment/")
    page.fill("#id_amount", "2500")
    page.fill("#id_days", "0")
    page.fill("#id_description", "top-up")
    page.click("input[type=submit]")
    expect(page.locator(".payment-block-warning")).to_contain_text(
        "This payment will block North Client: the days counter after it, 0, is below the minimum 1.")
    expect(page.locator("#content table")).to_contain_text("2,500.00")
    _no_horizontal_scroll(page)
    shot("money-07-payment-block-warning-distributor")
