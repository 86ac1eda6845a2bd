"""Issue 15 item 6: every list and picker that shows an account to a distributor or a top user names it by
its real path from the viewer's level (North › North-East › North-East Client), never by a bare name, and
the names of a page's paths are read at once: the query count does not grow with the rows."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.services import ledger
from apps.codes import operations as code_ops
from apps.core.labels import label_html
from apps.units.models import Unit
from tests import factories
from tests.codes.helpers import T0

PATH = "North › North-East › North-East Client"


@pytest.fixture
def labelled(world):
    """Acme billed by codes; a unit of North-East Client with a live code shared down to North-East; a
    payment of North-East Client (a ledger row, an audit event); a monitoring user there."""
    code_ops.switch_billing_method(actor=world.platform, service=world.acme, method="activation_codes", confirm=True,
                                   now=T0)
    unit = Unit.objects.create(service_id=world.acme.pk, account=world.north_east_client, name="Van NE",
                               unique_id="IMEI-NE-1", active=False, deactivation_reason="no_code")
    code = code_ops.generate_codes(actor=world.top, service=world.acme, quantity=1, validity_days=30,
                                   shared_with=world.north_east)[0]
    code_ops.assign_code(actor=world.top, code=code, unit=unit)
    ledger.record_payment(actor=world.top, account=world.north_east_client, amount=10, description="top-up")
    return world, unit, code


def _html(user, url, **params) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(url, params)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


@pytest.mark.parametrize("who", ["top", "north_op"])
def test_lists_and_pages_name_the_account_by_its_path(labelled, who):
    world, unit, code = labelled
    user = getattr(world, who)
    pages = {
        "units": "/admin/units/unit/", "codes window": "/admin/codes/activationcode/",
        "ledger": "/admin/accounts/ledgerentry/", "accounts (searched)": "/admin/accounts/account/?q=North-East+C",
        "code page": f"/admin/codes/activationcode/{code.pk}/change/",
        "reassign page": f"/admin/codes/activationcode/{code.pk}/reassign/",
        "code log": "/admin/codes/log/", "audit log": "/admin/audit/",
        "dashboard": "/admin/",
    }
    for name, url in pages.items():
        html = _html(user, url)
        if name == "accounts (searched)":  # the tree's name cell: ancestors quiet, then the name
            assert '<span class="quiet">North › North-East › </span><span style="white-space:nowrap">North-East Client' \
                in html, name
        else:
            assert PATH in re.sub(r"<[^>]*>", "", html), name  # (a list's cell wraps only between the names)
    html = _html(user, "/admin/codes/activationcode/")
    assert f'<td class="field-shared_with_label">{label_html("North › North-East")}</td>' in html  # shared with


def test_the_operators_list_names_accounts_by_path(labelled):
    world, _, _ = labelled
    cell = f'<td class="field-account_label">{label_html("North › North-East")}</td>'  # the operator "northeast"
    assert cell in _html(world.top, "/admin/accounts/operator/")
    assert cell in _html(world.north_op, "/admin/accounts/operator/")


def _autocomplete(client, params):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/admin/autocomplete/", params)
    assert response.status_code == 200
    return {row["text"] for row in response.json()["results"]}, len(ctx.captured_queries)


def test_picker_rows_are_paths_read_in_a_fixed_number_of_queries(labelled):
    world, _, _ = labelled
    client = Client()
    client.force_login(world.top)
    accounts = {"app_label": "accounts", "model_name": "account", "field_name": "parent", "term": ""}
    units = {"app_label": "codes", "model_name": "activationcode", "field_name": "unit", "picker": "codes.apply",
             "term": ""}
    account_rows, account_queries = _autocomplete(client, accounts)
    unit_rows, unit_queries = _autocomplete(client, units)
    assert "North › North-East" in account_rows
    assert "Van NE (IMEI-NE-1, North › North-East › North-East Client)" in unit_rows
    # More rows in more branches: the same number of queries (the names of a page read at once).
    for i in range(6):
        for parent in (world.north_east, world.south):
            dealer = factories.account(parent, name=f"Dealer {parent.name} {i}", dealer_rights=True,
                                       actor=world.platform)
            client_account = factories.account(dealer, name=f"Client {parent.name} {i}", actor=world.platform)
            Unit.objects.create(service_id=world.acme.pk, account=client_account, name=f"Car {parent.name} {i}",
                                unique_id=f"IMEI-{parent.pk}-{i}")
    more_accounts, more_account_queries = _autocomplete(client, accounts)
    more_units, more_unit_queries = _autocomplete(client, units)
    assert len(more_accounts) > len(account_rows) and len(more_units) > len(unit_rows)
    assert "North › North-East › Dealer North-East 3" in more_accounts
    assert "Car South 2 (IMEI-{}-2, South › Dealer South 2 › Client South 2)".format(world.south.pk) in more_units
    assert (more_account_queries, more_unit_queries) == (account_queries, unit_queries)
