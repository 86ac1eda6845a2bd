"""The audit trail as people read it: the Audit log and History pages, as the top user, a distributor and
the platform operator, at 1366 px (screenshots for looking)."""

from playwright.sync_api import expect

from apps.accounts import operations as ops
from apps.units import operations as unit_ops
from apps.services import ledger


def _activity(world):
    from apps.plans import operations as plan_ops

    ops.update_account(actor=world.platform, account=world.acme, changes={"plan": world.base_plan})
    for name in ("avl_unit", "unit_sensors"):
        plan_ops.add_plan_service(actor=world.platform, plan=world.base_plan,
                                  values={"name": name, "type": "periodic", "interval": "monthly"})
    ops.block_account(actor=world.top, account=world.north_client, reason="Invoice 2026-11 unpaid")
    ops.unblock_account(actor=world.top, account=world.north_client, reason="Paid by bank transfer")
    ledger.record_payment(actor=world.top, account=world.south_client, amount=40, description="South invoice 7")
    ops.update_account(actor=world.top, account=world.north_client, changes={"min_days": 3})
    ops.rotate_token(actor=world.top, operator=world.north_op)
    return unit_ops.create_unit(actor=world.top, account=world.north_client, name="Truck 7",
                                unique_id="356938035643809", sensors=[{"name": "Cabin", "type": "temperature"}])


def test_audit_log_and_history_pages_by_role(world, login, live_server, shot, page):
    unit = _activity(world)
    page.set_viewport_size({"width": 1366, "height": 900})
    login("top")
    page.goto(f"{live_server.url}/admin/audit/")
    log = page.locator("#audit-log")
    expect(log).to_contain_text("Invoice 2026-11 unpaid")
    expect(log).to_contain_text("South invoice 7")
    expect(page.locator("#audit-filters")).to_contain_text("Europe/Berlin")
    shot("audit-log-top-user")
    page.goto(f"{live_server.url}/admin/accounts/account/{world.north_client.pk}/history/")
    expect(page.locator("#audit-log")).to_contain_text("Paid by bank transfer")
    shot("audit-history-account-top-user")
    page.goto(f"{live_server.url}/admin/units/unit/{unit.pk}/history/")
    expect(page.locator("#audit-log")).to_contain_text("unit_created")
    shot("audit-history-unit-top-user")
    page.goto(f"{live_server.url}/admin/plans/plan/{world.base_plan.pk}/history/")
    shot("audit-history-plan-top-user")

    page.context.clear_cookies()
    login("north")
    page.goto(f"{live_server.url}/admin/audit/")
    log = page.locator("#audit-log")
    expect(log).to_contain_text("Invoice 2026-11 unpaid")
    expect(log).not_to_contain_text("South")
    shot("audit-log-distributor")

    page.context.clear_cookies()
    login("root")
    page.goto(f"{live_server.url}/admin/audit/?service={world.acme.pk}")
    expect(page.locator("#audit-log")).to_contain_text("South invoice 7")
    shot("audit-log-platform")
