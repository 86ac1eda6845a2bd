"""The account tree, scoping and payments, as a person uses them in Chromium."""

from playwright.sync_api import expect


def test_top_user_sees_the_account_tree(world, login, live_server, shot):
    page = login("top")
    page.goto(f"{live_server.url}/admin/accounts/account/")
    table = page.locator("#result_list")
    for name in ("Acme Telematics", "North", "North-East", "South", "North Client"):
        expect(table).to_contain_text(name)
    expect(table).not_to_contain_text("Other Service")
    shot("accounts-tree-top-user")


def test_distributor_north_sees_nothing_of_south(world, login, live_server, shot):
    page = login("north")
    page.goto(f"{live_server.url}/admin/accounts/account/")
    table = page.locator("#result_list")
    expect(table).to_contain_text("North-East Client")
    expect(table).not_to_contain_text("South")
    shot("accounts-tree-distributor")
    response = page.goto(f"{live_server.url}/admin/accounts/account/{world.south.pk}/change/")
    assert response.status in (302, 404) or "doesn’t exist" in page.content() or "doesn't exist" in page.content()


def test_payment_made_in_the_admin_shows_in_the_ledger(world, login, live_server, shot):
    page = login("top")
    page.goto(f"{live_server.url}/admin/accounts/account/{world.north.pk}/payment/")
    page.fill("#id_amount", "125.50")
    page.fill("#id_days", "30")
    page.fill("#id_description", "Invoice 2026-11")
    page.click("input[type=submit]")
    expect(page.locator("#content")).to_contain_text("Please confirm")
    shot("payment-confirmation")
    page.click("input[value='Yes, record the payment']")
    expect(page.locator(".messagelist")).to_contain_text("Payment recorded for North")
    expect(page.locator("#result_list")).to_contain_text("Invoice 2026-11")
    expect(page.locator("#result_list")).to_contain_text("125.5")
    shot("ledger-after-payment")
