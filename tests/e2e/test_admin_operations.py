"""A refused operation in the browser at 1366 px: the account page keeps what was typed, the refusal sits under
the field it names, and nothing is saved (``apps.core.admin.OperationAdminMixin``)."""

from playwright.sync_api import expect

from apps.accounts.models import Account, AuditEvent


def test_a_refused_rename_shows_under_its_field_and_saves_nothing(world, login, shot, live_server):
    events = AuditEvent.objects.count()
    page = login("top")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/admin/accounts/account/{world.north_client.pk}/change/")
    page.fill("#id_name", "South Client")  # another account of the service has this name
    page.select_option("#id_plan", label="Dealer")
    page.click("input[name=_continue]")
    expect(page.locator(".field-name .errorlist")).to_contain_text(
        "An account with this name already exists in this service.")
    expect(page.locator("#id_name")).to_have_value("South Client")
    expect(page.locator("#id_plan option:checked")).to_have_text("Dealer")
    shot("adminop-account-rename-refused")
    account = Account.objects.get(pk=world.north_client.pk)
    assert (account.name, account.plan_id) == ("North Client", world.base_plan.pk)
    assert AuditEvent.objects.count() == events
