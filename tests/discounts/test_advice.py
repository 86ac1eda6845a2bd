"""The discount advisor in the product (SPEC §9.6): `GET /api/v1/discount/advice/` and the module page."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Account
from apps.units import operations as unit_ops

pytestmark = pytest.mark.django_db

URL = "/api/v1/discount/advice/"


@pytest.fixture
def units(world, acme, make_unit, add_objects):
    add_objects(world.north_client, "notifications", 3)  # 20 account points
    return {"plain": make_unit(world.north_client, "Plain"),
            "rich": make_unit(world.north_client, "Rich", eco_driving=True, road_limits_speeding=True,
                              sensors=[{"name": "Ign", "type": "ignition"}, {"name": "Tank", "type": "fuel_level"}]),
            "south": make_unit(world.south_client, "South unit")}


@pytest.mark.parametrize("who", ["north_op", "north_east_op", "north_restricted"])
def test_distributors_get_404(world, acme, units, as_user, who):
    assert as_user(getattr(world, who)).get(URL, {"unit": units["plain"].pk}).status_code == 404


def test_unit_suggestions_best_first(world, acme, units, as_user):
    body = as_user(world.top).get(URL, {"unit": units["rich"].pk}).json()
    # 100 − 20 − (10 + 20 + 20 + 10) = 20
    assert body["discount"] == "20.00"
    assert [(s["feature"], s["points"], s["discount_after"], s["units"]) for s in body["suggestions"]] == [
        ("fuel_sensors", 25, "45.00", 1), ("eco_driving", 20, "40.00", 1),
        ("road_limits_speeding", 10, "30.00", 1), ("sensors", 5, "25.00", 1)]
    assert body["suggestions"][0]["change"] == "Remove the fuel-group sensors (1)"


def test_account_suggestions_and_average(world, acme, units, as_user):
    body = as_user(world.top).get(URL, {"account": world.north_client.pk}).json()
    assert body["discount"] == "48.00"  # Plain 100 − 20 → 76, Rich 20
    top, = body["suggestions"]  # the account's only line: Rich gains 5, Plain stays at the cap
    assert (top["feature"], top["points"], top["discount_after"], top["units"]) == ("notifications", 5, "50.50", 1)
    assert top["change"] == "Reduce notifications from 3 to 2"


def test_ineligible_unit_gets_the_grant_removal(world, acme, units, make_user, as_user):
    user = make_user(world.south_client, "Dispatcher South")
    unit_ops.grant_access(actor=world.top, user=user, unit=units["plain"])
    body = as_user(world.top).get(URL, {"unit": units["plain"].pk}).json()
    assert body["discount"] == "0.00"
    grant, = body["suggestions"]
    assert grant["feature"] == "unit_grant"
    assert grant["change"] == "Remove user Dispatcher South's access to unit Plain of account North Client"
    assert grant["discount_after"] == "76.00" and grant["units"] == 2  # Plain and South's own unit


def test_platform_operator_names_the_service(world, acme, units, as_user):
    client = as_user(world.platform)
    assert client.get(URL, {"unit": units["plain"].pk}).status_code == 400
    assert client.get(URL, {"unit": units["plain"].pk, "service": world.acme.pk}).status_code == 200


@pytest.mark.parametrize("params, field, code", [
    ({}, "unit", "invalid"),
    ({"unit": "1", "account": "2"}, "account", "invalid"),
    ({"unit": "x"}, "unit", "invalid"),
    ({"account": "999999"}, "account", "does_not_exist"),
])
def test_bad_queries_name_the_field(world, acme, units, as_user, params, field, code):
    response = as_user(world.top).get(URL, params)
    assert response.status_code == 400
    assert response.json()["code"] == code and field in response.json()["fields"]


def test_another_services_unit_does_not_exist(world, acme, units, as_user):
    other = Account.objects.filter(service=world.other_service).exclude(pk=world.other_service.pk).first() \
        or world.other_service
    assert as_user(world.top).get(URL, {"account": other.pk}).json()["code"] == "does_not_exist"


def test_uncounted_unit_has_no_discount(world, acme, units, as_user):
    unit_ops.update_unit(actor=world.top, unit=units["plain"], changes={"active": False})
    assert as_user(world.top).get(URL, {"unit": units["plain"].pk}).json() == {"discount": None, "suggestions": []}


def test_advice_is_read_only(world, acme, units, as_user):
    assert as_user(world.top).post(URL, {"unit": units["plain"].pk}).status_code == 405


def test_advice_query_count_does_not_grow(world, acme, units, make_unit, as_user):
    client = as_user(world.top)
    with CaptureQueriesContext(connection) as few:
        client.get(URL, {"account": world.north_client.pk})
    for i in range(5):
        make_unit(world.north_client, f"More {i}", sensors=[{"name": "S", "type": "ignition"}])
    with CaptureQueriesContext(connection) as more:
        client.get(URL, {"account": world.north_client.pk})
    assert len(more) == len(few)


@pytest.mark.parametrize("who", ["top", "platform"])
def test_module_page_shows_suggestions_and_the_service_after_them(world, acme, units, client, who):
    client.force_login(getattr(world, who))
    # The page reads a stored table: Recalculate writes one (the task runs eagerly in tests).
    page = client.post("/admin/discounts/module/recalculate/", {"service": world.acme.pk}, follow=True)
    html = page.content.decode()
    assert "Reduce notifications from 3 to 2" in html  # North Client's row
    assert 'id="after-top"' in html and "If every account took its top suggestion" in html
    units_page = client.get(f"{page.redirect_chain[-1][0]}&account={world.north_client.pk}").content.decode()
    assert "Remove the fuel-group sensors (1)" in units_page


def test_advice_for_one_account_equals_the_whole_services(world, acme, units, make_unit, make_user, add_objects):
    """The API reads only the account's inputs (and those of accounts a suggested grant removal
    reaches): the answer is the same as from the whole service's."""
    from apps.discounts import queries

    add_objects(world.south_client, "drivers", 7)
    extra = [make_unit(world.north, f"Dealer unit {i}", commands=[{"name": "c"}] * (i + 1)) for i in range(3)]
    dispatcher = make_user(world.south_client, "Dispatcher South")
    unit_ops.grant_access(actor=world.top, user=dispatcher, unit=units["plain"])
    # Plain, once eligible again, still gets 0 (17 sensors): removing the dispatcher's grant raises
    # South Client's unit only, which only Plain's own features can tell.
    unit_ops.update_unit(actor=world.top, unit=units["plain"],
                         changes={"sensors": [{"name": f"s{i}", "type": "ignition"} for i in range(17)]})
    support = make_user(world.north, "Support desk")  # sees 5 of 6 units: North is a support account
    for unit in [units["plain"], units["rich"], units["south"], *extra[:2]]:
        unit_ops.grant_access(actor=world.top, user=support, unit=unit)
    whole = queries.ServiceAdvice(world.acme)
    for account in (world.north_client, world.south_client, world.north):
        focused = queries.ServiceAdvice(world.acme, focus=account.pk)
        assert focused.for_account(account.pk) == whole.for_account(account.pk), account.name
        for unit in account.units.all():
            assert focused.for_unit(unit.pk) == whole.for_unit(unit.pk), unit.name
    assert any(whole.for_account(a.pk).suggestions for a in (world.north_client, world.south_client, world.north))
