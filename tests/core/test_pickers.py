"""Searchable pickers (issue 16): no page renders a select of every account or unit in scope, and the
admin's autocomplete endpoint answers each picker with the viewer's scope only."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.codes import operations as code_ops
from apps.core import clock
from tests import factories
from tests.codes.helpers import make_unit

AUTOCOMPLETE = "/admin/autocomplete/"


def picker(client, source: str = "", *, picker_name: str = "", term: str = "", page: int = 1):
    """``(status, names)`` of one autocomplete page; ``source`` is ``app.model.field``."""
    app_label, model_name, field_name = (source or "units.unit.account").split(".")
    params = {"app_label": app_label, "model_name": model_name, "field_name": field_name, "term": term,
              "page": page}
    if picker_name:
        params["picker"] = picker_name
    response = client.get(AUTOCOMPLETE, params)
    if response.status_code != 200:
        return response.status_code, set()
    return 200, {row["text"] for row in response.json()["results"]}


@pytest.fixture
def as_user(admin_as):
    """Here the admin's test client (the pickers are admin pages), not the API client of ``tests/conftest.py``."""
    return admin_as


def acme_names(world):
    return {"Acme Telematics", "North", "South", "North-East", "North Client", "North-East Client", "South Client"}


def test_account_pickers_answer_each_role_with_its_scope(as_user, world):
    cases = {  # role: (parent picker, unit's account picker)
        "platform": (world.platform, {"Acme Telematics", "Other Service"}, set()),
        "top": (world.top, acme_names(world), set()),
        "distributor": (world.north_op, {"North", "North-East", "North Client", "North-East Client"},
                        {"Acme Telematics", "South", "South Client"}),
        "other top": (world.other_top, {"Other Service", "Other Client"}, acme_names(world)),
    }
    for role, (operator, must, must_not) in cases.items():
        client = as_user(operator)
        status, parents = picker(client, "accounts.account.parent")
        assert status == 200, role
        flat = {name.split(" › ")[-1] for name in parents}
        assert must <= flat and not (must_not & flat), (role, parents)
        if role != "platform":
            assert not ({"Other Service", "Other Client"} & flat) or role == "other top", (role, parents)
            assert not (acme_names(world) & flat) or role != "other top", (role, parents)
        status, owners = picker(client, "units.unit.account")
        flat = {name.split(" › ")[-1] for name in owners}
        assert status == 200 and (must - {"Acme Telematics", "Other Service"}) <= flat, role
        assert not ({"Acme Telematics", "Other Service"} & flat), (role, owners)  # never a top account
        assert not (must_not & flat), (role, owners)


def test_restricted_distributor_gets_no_account_picker(as_user, world):
    client = as_user(world.north_restricted)
    for source in ("accounts.account.parent", "units.unit.account", "accounts.ledgerentry.account"):
        assert picker(client, source)[0] == 403, source


def test_the_search_term_narrows_and_an_unregistered_source_lists_nothing(as_user, world):
    client = as_user(world.top)
    # Rows name the account's path below the top account (issue 15: North › North-East).
    assert picker(client, "accounts.account.parent", term="north-e")[1] == {"North › North-East",
                                                                             "North › North-East › North-East Client"}
    # The ledger's account field has no picker on any page: the endpoint lists nothing for it.
    assert picker(client, "accounts.ledgerentry.account") == (200, set())
    # A picker named for another model's admin is refused the same way (no rows).
    assert picker(client, "units.unit.account", picker_name="codes.apply") == (200, set())
    assert picker(client, "units.unit.account", picker_name="no.such.picker") == (200, set())


@pytest.fixture
def codes_world(world):
    code_ops.switch_billing_method(actor=world.platform, service=world.acme, method="activation_codes",
                                   confirm=True)
    world.acme.refresh_from_db()
    units = {"busy": make_unit(world.north_client, "Busy truck"), "free": make_unit(world.north_client, "Free truck"),
             "south": make_unit(world.south_client, "South bus"),
             "other": make_unit(world.other_service.children.first(), "Other van")}
    code = code_ops.generate_codes(actor=world.top, service=world.acme, quantity=1, validity_days=30)[0]
    code_ops.assign_code(actor=world.top, code=code, unit=units["busy"])
    return units


def unit_names(names: set[str]) -> set[str]:
    return {re.sub(r" \(.*", "", name) for name in names}


def test_unit_pickers_offer_the_units_each_page_may_take(as_user, world, codes_world):
    top = as_user(world.top)
    assert unit_names(picker(top, "codes.activationcode.unit", picker_name="codes.apply")[1]) == {
        "Busy truck", "Free truck", "South bus"}
    assert unit_names(picker(top, "codes.activationcode.unit", picker_name="codes.assign")[1]) == {
        "Free truck", "South bus"}
    assert unit_names(picker(top, "codes.activationcode.unit", picker_name="codes.queue")[1]) == {"Busy truck"}
    north = as_user(world.north_op)
    assert unit_names(picker(north, "codes.activationcode.unit", picker_name="codes.assign")[1]) == {"Free truck"}
    restricted = as_user(world.north_restricted)  # Apply is its page: its units, nothing else
    assert unit_names(picker(restricted, "codes.activationcode.unit", picker_name="codes.apply")[1]) == {
        "Busy truck", "Free truck"}
    assert picker(restricted, "codes.activationcode.unit", picker_name="codes.assign")[0] == 403
    other = as_user(world.other_top)
    assert unit_names(picker(other, "codes.activationcode.unit", picker_name="codes.apply")[1]) == {"Other van"}
    # The label tells namesakes apart: IMEI and the account's path from the viewer's level (issue 15).
    top = as_user(world.top)
    labels = picker(top, "codes.activationcode.unit", picker_name="codes.apply")[1]
    assert any(name.startswith("Free truck (IMEI") and name.endswith(", North › North Client)")
               for name in labels), labels


def _bulk_accounts(world, count: int, start: int = 0):
    for i in range(start, start + count):
        factories.account(world.north, name=f"Bulk client {i:03d}", actor=world.platform)


PAGES = ["/admin/units/unit/add/", "/admin/accounts/account/add/", "/admin/codes/log/",
         "/admin/units/monitoringuser/add/", "/admin/accounts/operator/add/", "/admin/services/check/"]


def _page_queries(client, url) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries), response.content.decode()


@pytest.mark.parametrize("url", PAGES)
def test_picker_pages_do_not_grow_with_the_accounts(as_user, world, url):
    from django.urls import reverse

    url = {"/admin/codes/log/": reverse("codes-log"), "/admin/services/check/": reverse("services-check")}.get(url, url)
    client = as_user(world.top)
    _bulk_accounts(world, 2)
    _page_queries(client, url)  # warm: the first request of a session reads what later ones have cached
    before, _ = _page_queries(client, url)
    _bulk_accounts(world, 40, start=2)
    after, page = _page_queries(client, url)
    assert "Bulk client 041" not in page and "Bulk client 000" not in page and "South Client" not in page
    assert 'class="admin-autocomplete' in page or "admin-autocomplete" in page
    assert after == before


def test_apply_and_bulk_assign_pickers_render_only_the_chosen_units(as_user, world, codes_world):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
    from django.urls import reverse

    from apps.codes.models import ActivationCode

    client = as_user(world.top)
    page = client.get(reverse("codes-apply")).content.decode()
    assert "Free truck" not in page and "South bus" not in page and 'data-ajax--url="/admin/autocomplete/?picker=' \
                                                                    'codes.apply"' in page
    code = code_ops.generate_codes(actor=world.top, service=world.acme, quantity=1, validity_days=30)[0]
    data = {"action": "assign_to_units", ACTION_CHECKBOX_NAME: [str(code.pk)]}
    page = client.post("/admin/codes/activationcode/", data).content.decode()
    assert "Free truck" not in page and "picker=codes.assign" in page
    # Choosing through the picker posts the unit's id; the action assigns as before.
    response = client.post("/admin/codes/activationcode/", {**data, "confirm": "yes",
                                                              "units": [str(codes_world["free"].pk)]})
    assert response.status_code == 302
    assert ActivationCode.objects.get(pk=code.pk).unit_id == codes_world["free"].pk
    # A unit the picker would not offer (it holds a live code) is refused by the form, naming the field.
    code2 = code_ops.generate_codes(actor=world.top, service=world.acme, quantity=1, validity_days=30)[0]
    page = client.post("/admin/codes/activationcode/", {"action": "assign_to_units", "confirm": "yes",
                                                        ACTION_CHECKBOX_NAME: [str(code2.pk)],
                                                        "units": [str(codes_world["busy"].pk)]}).content.decode()
    assert "Select a valid choice" in page and ActivationCode.objects.get(pk=code2.pk).unit_id is None


def test_code_log_account_picker_keeps_the_chosen_account(as_user, world):
    from django.urls import reverse

    client = as_user(world.top)
    today = clock.now().date()
    page = client.get(reverse("codes-log"), {"account": world.south_client.pk, "since": today - timedelta(days=1),
                                             "until": today}).content.decode()
    assert re.search(rf'<option value="{world.south_client.pk}" selected>South Client</option>', page)
    assert "North Client" not in page
    # Out of scope: refused like any invalid choice, and not named.
    client = as_user(world.north_op)
    page = client.get(reverse("codes-log"), {"account": world.south_client.pk}).content.decode()
    assert "South Client" not in page and "Select a valid choice" in page


@pytest.mark.parametrize("url, param", [("/admin/units/unit/", "account"), ("/admin/units/monitoringuser/", "account"),
                                        ("/admin/accounts/account/", "parent"),
                                        ("/admin/codes/activationcode/", "shared_with")])
def test_list_filters_are_pickers_that_keep_the_chosen_value(as_user, world, url, param):
    _bulk_accounts(world, 3)
    world.north.refresh_from_db()
    client = as_user(world.top)
    page = client.get(url).content.decode()
    assert f'name="{param}"' in page and "admin-autocomplete" in page
    assert "Bulk client 002" not in page or param == "parent"  # (the accounts list shows them as rows)
    chosen = world.north  # a dealer (parent, shared-with target) with accounts below (an account filter)
    page = client.get(url, {param: chosen.pk, "o": "1"}).content.decode()
    assert re.search(rf'<option value="{chosen.pk}" selected>North</option>', page), page
    assert '<input type="hidden" name="o" value="1">' in page  # the other parameters ride along
    # A malformed value is the admin's invalid-filter answer; an id out of scope names nothing.
    assert client.get(url, {param: "x"}).status_code in (200, 302)
    client = as_user(world.other_top)
    page = client.get(url, {param: chosen.pk}).content.decode()
    assert ">North<" not in page


def test_filter_pickers_offer_what_each_filter_may_take(as_user, world):
    client = as_user(world.top)
    parents = picker(client, picker_name="accounts.filter.parent", source="accounts.account.parent")[1]
    assert parents == {"Acme Telematics", "North", "South", "North › North-East"}  # dealers and the top, no clients
    targets = picker(client, picker_name="codes.filter.shared_with", source="codes.activationcode.shared_with")[1]
    assert targets == {"North", "South", "North › North-East"}
    client = as_user(world.north_op)
    targets = picker(client, picker_name="codes.filter.shared_with", source="codes.activationcode.shared_with")[1]
    assert targets == {"North › North-East"}  # the distributor's path starts at its own account


def test_a_posted_value_no_key_can_hold_is_the_forms_answer_not_a_500(as_user, world):
    from django.urls import reverse

    client = as_user(world.top)
    for url in ("/admin/units/unit/add/", "/admin/accounts/account/add/", "/admin/accounts/operator/add/",
                "/admin/units/monitoringuser/add/"):
        response = client.post(url, {"account": "x", "parent": "x", "name": "n"})
        assert response.status_code == 200 and "Select a valid choice" in response.content.decode(), url
    for url in (reverse("codes-log"), reverse("services-check")):
        response = client.get(url, {"account": "x"})
        assert response.status_code == 200 and "Select a valid choice" in response.content.decode(), url
