"""Browser: the account's Services page and the check-a-service tool, as a top user sees them."""

from tests.services.conftest import row


def test_top_user_reads_an_accounts_services_and_checks_one(world, login, shot, live_server):
    from apps.accounts import operations as account_ops

    account_ops.update_account(actor=world.platform, account=world.acme, changes={"plan": world.base_plan})
    row(world.base_plan, "sms", "1:0;10:1.5;-1", interval="daily")
    row(world.dealer_plan, "zones_library", "5:0;-1")
    page = login("top")
    page.goto(f"{live_server.url}/admin/accounts/account/{world.north.pk}/services/")
    assert "from plan Dealer, inherited from Base" in page.inner_text("#kernel-services")
    shot("kernel_account_services")
    page.click("text=Check a service for this account")
    page.select_option("#id_service", "sms")
    page.fill("#id_quantity", "11")
    page.click("input[type=submit][value=Check]")
    assert "Denied (limit_reached)" in page.inner_text("#check-result")
    shot("kernel_check_tool")
