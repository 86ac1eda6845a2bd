"""The kernel's admin pages: an account's services and the check-a-service tool, scoped."""

from apps.services.operations import set_service_override
from tests.services.helpers import row


def test_account_services_page_shows_source_chain_and_usage(billed, client):
    row(billed.base_plan, "sms", "1:0;10:1.5;-1", interval="daily")
    set_service_override(actor=billed.top, account=billed.north, name="drivers", cost_table="5:0;-1")
    client.force_login(billed.top)
    page = client.get(f"/admin/accounts/account/{billed.north.pk}/services/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "from plan Dealer, inherited from Base; account override: none" in text
    assert "account override (table &#x27;5:0;-1&#x27;)" in text
    assert "unknown services are denied" in text and "<code>avl_unit</code>" in text


def test_account_services_page_of_another_branch_is_404(billed, client):
    client.force_login(billed.other_top)
    assert client.get(f"/admin/accounts/account/{billed.north.pk}/services/").status_code == 404


def test_check_tool_answers_allowed_with_cost_or_denied_with_reason(billed, client):
    row(billed.base_plan, "sms", "1:2.5;-1", interval="daily")
    client.force_login(billed.top)
    allowed = client.get("/admin/services/check/", {"account": billed.north_client.pk, "service": "sms",
                                                    "quantity": 1}).content.decode()
    assert "Allowed. Cost for this account: 2.50." in allowed
    denied = client.get("/admin/services/check/", {"account": billed.north_client.pk, "service": "sms",
                                                   "quantity": 2}).content.decode()
    assert "Denied (limit_reached)" in denied


def test_check_tool_refuses_an_account_out_of_scope(billed, client):
    client.force_login(billed.other_top)
    page = client.get("/admin/services/check/", {"account": billed.north_client.pk, "service": "sms", "quantity": 1})
    assert page.status_code == 200 and "Select a valid choice" in page.content.decode()
    assert "check-result" not in page.content.decode()
