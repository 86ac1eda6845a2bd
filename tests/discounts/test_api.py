"""The discount API (API.md "Discounts") and the admin module page: who may read them, and what
they answer, saved or recalculated."""

from datetime import date, datetime, timezone

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts import operations as account_ops
from apps.discounts.models import DiscountSnapshot
from apps.discounts.operations import snapshot_discounts
from apps.units import operations as unit_ops

pytestmark = pytest.mark.django_db

URLS = ["/api/v1/discount/", "/api/v1/discount/accounts/", "/api/v1/discount/units/", "/api/v1/discount/history/"]
NOW = datetime(2026, 3, 12, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def units(world, acme, make_unit):
    return {"plain": make_unit(world.north_client, "Plain"),
            "sensor": make_unit(world.south_client, "With sensor", sensors=[{"name": "Ign", "type": "ignition"},
                                                                          {"name": "Tank", "type": "fuel_level"}])}


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("who", ["north_op", "north_east_op", "north_restricted"])
def test_distributors_get_404(world, acme, as_user, url, who):
    assert as_user(getattr(world, who)).get(url).status_code == 404


@pytest.mark.parametrize("url", URLS)
def test_top_user_of_a_service_without_the_discount_gets_404(world, acme, as_user, url):
    assert as_user(world.other_top).get(url).status_code == 404
    assert as_user(world.platform).get(url, {"service": world.other_service.pk}).status_code == 404


@pytest.mark.parametrize("url", URLS)
def test_anonymous_gets_401_or_403(api_client, world, acme, url):
    assert api_client.get(url).status_code in (401, 403)


def test_platform_operator_must_name_the_service(world, acme, as_user):
    response = as_user(world.platform).get("/api/v1/discount/")
    assert response.status_code == 400
    assert response.json()["fields"] == {"service": ["Pick a service (the id of its top account)."]}
    assert as_user(world.platform).get("/api/v1/discount/", {"service": "x"}).status_code == 400


def test_summary_shows_the_saved_day_and_preview_recalculates(world, acme, units, as_user):
    with time_machine.travel(NOW, tick=False):
        snapshot_discounts()  # saves 11 March: two units at 76 % and 70 %
        unit_ops.update_unit(actor=world.top, unit=units["plain"],
                             changes={"sensors": [{"name": "Tank", "type": "fuel_level"}]})
        client = as_user(world.top)
        saved = client.get("/api/v1/discount/").json()
        preview = client.get("/api/v1/discount/", {"preview": "1"}).json()

    assert saved == {"current": "73.00", "maximum": "100.00", "applied": "73.00",
                     "units": {"purchased": 0, "in_use": 2, "unused": 0, "full_cost": 0},
                     "month": {"days": 1, "average": "73.00"}, "day": "2026-03-11", "estimated": False,
                     "preview": False}
    assert preview["current"] == "72.50"  # the plain unit: 100 − 25 = 75 %
    assert (preview["day"], preview["preview"]) == (None, True)
    assert DiscountSnapshot.objects.count() == 1  # a preview saves nothing


def test_summary_applies_the_maximum_of_the_basic_package(world, acme, units, as_user):
    account_ops.update_account(actor=world.platform, account=acme,
                               changes={"basic_package_units": 1, "purchased_units": 5})
    body = as_user(world.platform).get("/api/v1/discount/", {"service": acme.pk, "preview": "1"}).json()
    assert (body["current"], body["maximum"], body["applied"]) == ("73.00", "50.00", "50.00")
    assert body["units"] == {"purchased": 5, "in_use": 2, "unused": 3, "full_cost": 0}


def test_accounts_list_rank_discount_and_unit_count(world, acme, units, as_user):
    body = as_user(world.top).get("/api/v1/discount/accounts/").json()
    assert body["count"] == 2
    assert [(a["name"], a["rank"], a["discount"], a["units"]) for a in body["results"]] == [
        ("North Client", 0, "76.00", 1), ("South Client", 0, "70.00", 1)]


def test_units_list_points_discount_and_reasons(world, acme, units, as_user):
    body = as_user(world.top).get("/api/v1/discount/units/", {"account": world.south_client.pk}).json()
    assert body["results"] == [{
        "unit": units["sensor"].pk, "name": "With sensor", "account": world.south_client.pk, "rank": 30,
        "unit_points": 30, "account_points": 0, "discount": 70, "eligible": True,
        "reasons": ["Sensors: 2: −10 p.p. (unit)", "Fuel-group sensors in use: −20 p.p. (unit)"]}]


def test_units_filter_by_an_account_of_another_service_is_refused(world, acme, units, as_user):
    response = as_user(world.top).get("/api/v1/discount/units/", {"account": world.other_service.pk})
    assert response.status_code == 400
    assert response.json()["code"] == "does_not_exist"


def test_history_lists_the_months_days_and_average(world, acme, units, as_user):
    snapshot_discounts(now=datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc))
    snapshot_discounts(now=datetime(2026, 3, 3, 23, 30, tzinfo=timezone.utc))

    body = as_user(world.top).get("/api/v1/discount/history/", {"month": "2026-03"}).json()

    assert body == {"month": "2026-03", "average": "73.00", "days": [
        {"day": "2026-03-01", "applied": "73.00", "estimated": False},
        {"day": "2026-03-02", "applied": "73.00", "estimated": True},
        {"day": "2026-03-03", "applied": "73.00", "estimated": False}]}
    assert DiscountSnapshot.objects.filter(day=date(2026, 3, 2)).get().estimated


def test_history_refuses_a_malformed_month(world, acme, as_user):
    response = as_user(world.top).get("/api/v1/discount/history/", {"month": "March"})
    assert response.status_code == 400
    assert "month" in response.json()["fields"]


# --- The admin page ---------------------------------------------------------------------------

MODULE = "/admin/discounts/module/"


def test_top_user_sees_the_module_and_its_index_entry(client, world, acme, units):
    with time_machine.travel(NOW, tick=False):
        snapshot_discounts()  # the daily job stores the accounts and units with the day
    client.force_login(world.top)
    page = client.get(MODULE)
    assert page.status_code == 200
    text = page.content.decode()
    assert "North Client" in text and "Recalculate" in text and 'id="month-chart"' in text
    assert "With sensor" not in text  # units are one page further: the account's drill-down
    units_page = client.get(MODULE, {"account": world.south_client.pk}).content.decode()
    assert "With sensor" in units_page and "30 (30)" in units_page
    assert "/admin/discounts/discountmodule/" in client.get("/admin/").content.decode()
    assert client.get("/admin/discounts/discountmodule/").url == MODULE


def test_recalculate_shows_the_value_now_without_saving(client, world, acme, units):
    client.force_login(world.top)
    page = client.post(MODULE + "recalculate/", follow=True)
    text = page.content.decode()
    assert "Calculated now" in text and "not saved" in text
    assert '<strong id="current">73 %</strong>' in text
    assert not DiscountSnapshot.objects.exists()


@pytest.mark.parametrize("who", ["north_op", "north_restricted", "other_top"])
def test_others_cannot_open_the_module(client, world, acme, who):
    client.force_login(getattr(world, who))
    assert client.get(MODULE).status_code == 404
    assert "discountmodule" not in client.get("/admin/").content.decode()


def test_platform_operator_picks_a_service(client, world, acme, units):
    client.force_login(world.platform)
    picker = client.get(MODULE).content.decode()
    assert f'<option value="{acme.pk}">Acme Telematics</option>' in picker
    assert "Other Service" not in picker
    client.post(MODULE + "recalculate/", {"service": acme.pk})
    from apps.discounts.models import DiscountCalculation

    calculation = DiscountCalculation.objects.get()
    text = client.get(MODULE, {"service": acme.pk, "calculation": calculation.pk, "account": world.south_client.pk})
    assert "With sensor" in text.content.decode()
    assert client.get(MODULE, {"service": world.other_service.pk}).status_code == 404


def test_module_page_query_count_does_not_grow_with_units(client, world, acme, make_unit):
    client.force_login(world.top)
    make_unit(world.north_client, "First truck")
    snapshot_discounts(now=datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc))
    with CaptureQueriesContext(connection) as small:
        assert client.get(MODULE).status_code == 200
    with CaptureQueriesContext(connection) as small_units:
        assert client.get(MODULE, {"account": world.north_client.pk}).status_code == 200
    for i in range(20):
        make_unit(world.north_east_client if i % 2 else world.north_client, f"Truck {i}")
    snapshot_discounts(now=datetime(2026, 3, 2, 23, 30, tzinfo=timezone.utc))
    with CaptureQueriesContext(connection) as large:
        assert client.get(MODULE).status_code == 200
    with CaptureQueriesContext(connection) as large_units:
        assert client.get(MODULE, {"account": world.north_client.pk}).status_code == 200
    assert len(large.captured_queries) == len(small.captured_queries)
    assert len(large_units.captured_queries) == len(small_units.captured_queries)
