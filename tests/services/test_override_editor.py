"""An account's own service overrides edited in the admin (issue 15 item 4): the same validation as a plan
row, written by the API's operations (``set_service_override`` / ``delete_service_override``), read-only for
those who may not change them, and the account page's combined settings and services with their sources."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.plans.models import AccountServiceOverride, PlanService
from apps.services.operations import set_service_override

pytestmark = pytest.mark.django_db


def url(account):
    return f"/admin/accounts/account/{account.pk}/overrides/"


def management(total, initial):
    return {"overrides-TOTAL_FORMS": str(total), "overrides-INITIAL_FORMS": str(initial),
            "overrides-MIN_NUM_FORMS": "0", "overrides-MAX_NUM_FORMS": "200"}


@pytest.fixture
def sms_plan(world):
    return PlanService.objects.create(plan=world.dealer_plan, name="sms", type="on_demand", cost_table="0:1;-1")


def test_a_distributor_adds_an_override_for_its_client(client, world, sms_plan):
    client.force_login(world.north_op)
    page = client.get(url(world.north_client))
    assert page.status_code == 200 and 'id="overrides-form"' in page.content.decode()
    response = client.post(url(world.north_client), {
        **management(2, 0), "overrides-0-name": "sms", "overrides-0-interval": "daily",
        "overrides-0-cost_table": "1:0; 10:0.5; -1", "overrides-1-interval": "none"})
    assert response.status_code == 302
    override = AccountServiceOverride.objects.get(account=world.north_client)
    assert (override.name, override.interval, override.cost_table, override.type) == (
        "sms", "daily", "1:0;10:0.5;-1", "on_demand")
    html = client.get(url(world.north_client)).content.decode()
    assert "this account&#x27;s override" in html or "this account's override" in html


def test_bad_rows_are_refused_with_the_plan_rows_messages_and_nothing_is_written(client, world, sms_plan):
    client.force_login(world.top)
    response = client.post(url(world.north_client), {
        **management(2, 0), "overrides-0-name": "sms", "overrides-0-interval": "daily",
        "overrides-0-cost_table": "1:0;-1", "overrides-1-name": "no-such-service", "overrides-1-interval": "none",
        "overrides-1-cost_table": "1:x"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "is not in the service catalogue" in html
    assert not AccountServiceOverride.objects.exists()  # the good row is not written either


def test_a_flat_fee_needs_a_periodic_service_with_an_interval(client, world, sms_plan):
    client.force_login(world.top)
    response = client.post(url(world.north_client), {
        **management(1, 0), "overrides-0-name": "sms", "overrides-0-interval": "none", "overrides-0-cost_table": "0:5"})
    assert "A flat fee (counter 0) needs a periodic service with an interval." in response.content.decode()
    assert not AccountServiceOverride.objects.exists()


def test_an_override_is_changed_and_removed_through_the_operations(client, world, sms_plan):
    set_service_override(actor=world.top, account=world.north_client, name="sms", cost_table="1:2;-1")
    client.force_login(world.top)
    base = {**management(3, 1), "overrides-0-original": "sms", "overrides-0-name": "sms"}
    client.post(url(world.north_client), {**base, "overrides-0-interval": "monthly", "overrides-0-cost_table": "5:1"})
    assert AccountServiceOverride.objects.get().cost_table == "5:1"
    client.post(url(world.north_client), {**base, "overrides-0-interval": "monthly", "overrides-0-cost_table": "5:1",
                                          "overrides-0-DELETE": "on"})
    assert not AccountServiceOverride.objects.exists()


def test_a_denying_table_warns_on_save(client, world, sms_plan):
    client.force_login(world.top)
    response = client.post(url(world.north_client), {
        **management(1, 0), "overrides-0-name": "sms", "overrides-0-interval": "none",
        "overrides-0-cost_table": "1:-0.5"}, follow=True)
    assert "cost table" in response.content.decode() and AccountServiceOverride.objects.get().cost_table == "-1"
    html = response.content.decode()
    assert "class=\"warning\"" in html  # the denial is said on save, as for a plan row


@pytest.mark.parametrize("who", ["north_op", "top"])
def test_its_own_account_is_read_only(client, world, sms_plan, who):
    """Nobody changes its own account's overrides (SPEC §8.1): the page is read-only and a POST writes nothing."""
    operator = getattr(world, who)
    client.force_login(operator)
    page = client.get(url(operator.account)).content.decode()
    assert 'id="overrides-form"' not in page and 'id="read-only-reason"' in page
    client.post(url(operator.account), {**management(1, 0), "overrides-0-name": "sms",
                                        "overrides-0-interval": "none", "overrides-0-cost_table": "1:1"})
    assert not AccountServiceOverride.objects.exists()


def test_out_of_scope_is_404_and_restricted_is_403(client, world):
    client.force_login(world.south_op)
    assert client.get(url(world.north_client)).status_code == 404
    client.force_login(world.north_restricted)
    assert client.get(url(world.north_client)).status_code == 403


def test_the_account_page_shows_combined_settings_and_services_with_their_source(client, world, sms_plan):
    set_service_override(actor=world.top, account=world.north_client, name="sms", cost_table="1:2;-1")
    client.force_login(world.top)
    with CaptureQueriesContext(connection):
        html = client.get(f"/admin/accounts/account/{world.north_client.pk}/change/").content.decode()
    assert 'id="combined-settings"' in html and 'id="combined-services"' in html
    sms_row = html.split('data-service="sms"')[1].split("</tr>")[0]
    assert "<code>1:2;-1</code>" in sms_row and "override" in sms_row
    assert f"/admin/accounts/account/{world.north_client.pk}/overrides/" in html
