"""Browser: the account's Services page and the check-a-service tool, as a top user sees them."""

from tests.services.helpers import row


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


def test_a_periodic_charge_reads_in_the_ledger_with_its_window_and_table(world, login, shot, live_server):
    from datetime import timedelta

    import time_machine

    from apps.accounts.models import LedgerEntry
    from apps.core import clock
    from apps.services.charging import charge_periodic_services
    from apps.services.models import JobRun

    row(world.base_plan, "zones_library", "0:10;2:0;1", interval="daily")
    JobRun.objects.create(job="charge_periodic_services", last_started_at=clock.now() - timedelta(days=2))
    with time_machine.travel(clock.now() + timedelta(days=1), tick=False):
        charge_periodic_services()
    charge = LedgerEntry.objects.filter(periodic=True, account=world.north_client).first()
    assert charge is not None and charge.cost_table == "0:10;2:0;3:1"
    page = login("top")
    page.goto(f"{live_server.url}/admin/accounts/ledgerentry/?periodic__exact=1")
    assert "zones_library: 0 for the daily window" in page.inner_text("#result_list")
    shot("kernel_ledger_periodic_charges")
    page.goto(f"{live_server.url}/admin/accounts/ledgerentry/{charge.pk}/change/")
    assert "0:10;2:0;3:1" in page.inner_text("#content")
    shot("kernel_ledger_periodic_charge")
