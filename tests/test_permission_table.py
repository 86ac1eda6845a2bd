"""The permission table: role × every admin and API URL × method → expected status.

Each row names a URL (built from the ``world`` fixture), a method, an optional body, and the
status each actor gets. ``north`` is distributor North; ``south`` is distributor South, who must
see nothing of North's branch; ``restricted`` is North's restricted distributor; ``other`` is the
top user of another service. A missing role in a row means "not checked here".
"""

import pytest
from django.test import Client
from rest_framework.test import APIClient

ROLES = ("anon", "platform", "top", "north", "restricted", "south", "other")


def _actor(world, role):
    return {"platform": world.platform, "top": world.top, "north": world.north_op,
            "restricted": world.north_restricted, "south": world.south_op, "other": world.other_top}.get(role)


def row(method, url, expected: dict, body=None, kind="api"):
    return pytest.param(method, url, expected, body, kind, id=f"{kind}-{method}-{url}")


PAY = {"amount": "10", "days": 1, "description": "table test"}
API = [
    row("get", "/api/v1/accounts/", {"anon": 401, "platform": 200, "top": 200, "north": 200, "restricted": 403,
                                     "south": 200, "other": 200}),
    row("get", "/api/v1/accounts/{north}/", {"anon": 401, "platform": 200, "top": 200, "north": 200,
                                             "restricted": 403, "south": 404, "other": 404}),
    row("patch", "/api/v1/accounts/{north_client}/", {"top": 200, "north": 200, "south": 404, "other": 404,
                                                      "restricted": 403}, {"name": "North Client renamed"}),
    row("post", "/api/v1/accounts/{north_client}/payments/", {"anon": 401, "platform": 201, "top": 201, "north": 201,
                                                              "restricted": 403, "south": 404, "other": 404}, PAY),
    row("post", "/api/v1/accounts/{north}/payments/", {"top": 201, "north": 403, "south": 404}, PAY),
    row("get", "/api/v1/accounts/{north_client}/ledger/", {"anon": 401, "top": 200, "north": 200, "restricted": 403,
                                                           "south": 404, "other": 404}),
    row("get", "/api/v1/operators/", {"anon": 401, "platform": 200, "top": 200, "north": 200, "restricted": 200,
                                      "south": 200}),
    row("get", "/api/v1/operators/{north_op}/", {"top": 200, "north": 200, "south": 404, "other": 404}),
    row("post", "/api/v1/operators/{north_op}/token/", {"anon": 401, "top": 201, "north": 201, "south": 404,
                                                        "restricted": 404, "other": 404}),
    row("get", "/api/schema/", {"anon": 401, "top": 200}),
    row("get", "/api/docs/", {"anon": 401, "top": 200}),
]
DOMAIN_API = [
    row("get", "/api/v1/plans/", {"anon": 401, "platform": 200, "top": 200, "north": 200, "restricted": 403}),
    row("get", "/api/v1/plans/{dealer_plan}/", {"top": 200, "north": 200, "south": 200, "other": 404}),
    row("get", "/api/v1/plans/{dealer_plan}/effective/", {"top": 200, "north": 200, "other": 404}),
    row("get", "/api/v1/plans/{dealer_plan}/services/", {"top": 200, "other": 404}),
    row("post", "/api/v1/cost-tables/evaluate/", {"anon": 401, "top": 200, "north": 200},
        {"cost_table": "1:0;10:1.5;-1", "count": 3}),
    row("get", "/api/v1/catalogue/", {"anon": 401, "top": 200, "north": 200}),
    row("get", "/api/v1/accounts/{north_client}/services/", {"anon": 401, "top": 200, "north": 200,
                                                             "restricted": 403, "south": 404, "other": 404}),
    row("post", "/api/v1/accounts/{north_client}/check/", {"top": 200, "north": 200, "south": 404, "other": 404},
        {"service": "sms"}),
    row("get", "/api/v1/units/", {"anon": 401, "platform": 200, "top": 200, "north": 200, "restricted": 403,
                                  "south": 200}),
    row("get", "/api/v1/units/{north_unit}/", {"top": 200, "north": 200, "south": 404, "other": 404,
                                               "restricted": 403}),
    row("get", "/api/v1/monitoring-users/", {"anon": 401, "top": 200, "north": 200, "restricted": 403}),
    row("get", "/api/v1/codes/", {"anon": 401, "top": 200, "north": 200, "south": 200}),
    row("get", "/api/v1/codes/{north_code}/", {"top": 200, "north": 200, "south": 404, "other": 404}),
    row("post", "/api/v1/codes/generate/", {"top": 201, "north": 403, "restricted": 403},
        {"quantity": 1, "validity_days": 30}),
    row("get", "/api/v1/code-events/", {"anon": 401, "top": 200, "north": 200}),
    row("get", "/api/v1/expiry-notices/", {"anon": 401, "top": 200, "north": 200}),
    row("get", "/api/v1/discount/", {"anon": 401, "top": 200, "north": 404, "restricted": 404, "south": 404,
                                     "other": 404}),
    row("get", "/api/v1/discount/?service={acme}", {"platform": 200}),
    row("get", "/api/v1/discount/advice/?account={north_client}", {"anon": 401, "top": 200, "north": 404,
                                                                    "restricted": 404, "south": 404, "other": 404}),
    row("get", "/api/v1/discount/advice/?account={north_client}&service={acme}", {"platform": 200}),
    row("get", "/api/v1/discount/advice/?unit={north_unit}", {"top": 200, "north": 404}),
    row("get", "/api/v1/accounts/{north_client}/replay/?since=2026-01-01&until=2026-01-31",
        {"anon": 401, "platform": 200, "top": 200, "north": 403, "restricted": 403, "south": 403, "other": 404}),
]
ADMIN = [
    row("get", "/admin/", {"anon": 302, "platform": 200, "top": 200, "north": 200, "restricted": 200}, kind="admin"),
    row("get", "/admin/accounts/account/", {"anon": 302, "platform": 200, "top": 200, "north": 200,
                                            "restricted": 403, "south": 200, "other": 200}, kind="admin"),
    row("get", "/admin/accounts/account/{north}/change/", {"top": 200, "north": 200, "south": 404, "other": 404,
                                                           "restricted": 403}, kind="admin"),
    row("get", "/admin/accounts/account/{north_client}/payment/", {"top": 200, "north": 200, "south": 404,
                                                                   "restricted": 403, "other": 404}, kind="admin"),
    row("get", "/admin/accounts/account/{north}/payment/", {"top": 200, "north": 403}, kind="admin"),
    row("get", "/admin/accounts/account/{north_client}/block/", {"top": 200, "north": 403, "south": 404},
        kind="admin"),
    row("get", "/admin/accounts/ledgerentry/", {"top": 200, "north": 200, "restricted": 403}, kind="admin"),
    row("get", "/admin/accounts/ledgerentry/export.csv", {"top": 200, "north": 200, "restricted": 403},
        kind="admin"),
    row("get", "/admin/accounts/operator/", {"top": 200, "north": 200, "restricted": 403}, kind="admin"),
    row("get", "/admin/accounts/operator/{south_op}/change/", {"top": 200, "north": 404}, kind="admin"),
    row("get", "/admin/accounts/account/{north_client}/services/", {"top": 200, "north": 200, "south": 404,
                                                                    "other": 404}, kind="admin"),
    row("get", "/admin/services/check/", {"top": 200, "north": 200, "restricted": 403}, kind="admin"),
    row("get", "/admin/plans/plan/", {"top": 200, "north": 200, "restricted": 403}, kind="admin"),
    row("get", "/admin/plans/plan/{dealer_plan}/change/", {"top": 200, "other": 404}, kind="admin"),
    row("get", "/admin/units/unit/", {"top": 200, "north": 200, "restricted": 403}, kind="admin"),
    row("get", "/admin/units/unit/{south_unit}/change/", {"top": 200, "south": 200, "north": 404}, kind="admin"),
    row("get", "/admin/codes/activationcode/", {"top": 200, "north": 200, "restricted": 403}, kind="admin"),
    row("get", "/admin/codes/apply/", {"top": 200, "north": 200, "restricted": 200}, kind="admin"),
    row("get", "/admin/codes/generate/", {"top": 200, "north": 403, "restricted": 403}, kind="admin"),
    row("get", "/admin/codes/log/", {"top": 200, "north": 200, "restricted": 403}, kind="admin"),
    row("get", "/admin/discounts/module/", {"top": 200, "north": 404, "restricted": 404}, kind="admin"),
    row("get", "/admin/services/replay/", {"anon": 302, "platform": 200, "top": 200, "north": 403, "restricted": 403},
        kind="admin"),
    row("get", "/admin/services/replay/?since=2026-01-01&until=2026-01-31", {"top": 200, "north": 403},
        kind="admin"),
]


def _url(template, world):
    extra = getattr(world, "table_objects", {})
    return template.format(north=world.north.pk, north_client=world.north_client.pk, north_op=world.north_op.pk,
                           south_op=world.south_op.pk, south=world.south.pk, acme=world.acme.pk,
                           dealer_plan=world.dealer_plan.pk, **extra)


@pytest.fixture
def table_world(world):
    """The world plus what the domain rows address: Acme billed by codes with the discount on, a unit in
    North's and South's branches, and a code shared with North."""
    from apps.accounts import operations as account_ops
    from apps.codes import operations as code_ops
    from apps.units.models import Unit

    account_ops.update_account(actor=world.platform, account=world.acme, changes={"discount_enabled": True})
    code_ops.switch_billing_method(actor=world.platform, service=world.acme, method="activation_codes", confirm=True)
    units = {name: Unit.objects.create(service=world.acme, account=account, name=name, unique_id=f"IMEI-{name}")
             for name, account in (("north_unit", world.north_client), ("south_unit", world.south_client))}
    code = code_ops.generate_codes(actor=world.top, service=world.acme, quantity=1, validity_days=30,
                                   shared_with=world.north)[0]
    world.table_objects = {**{k: u.pk for k, u in units.items()}, "north_code": code.code}
    return world


CASES = [pytest.param(role, *case.values, id=f"{role}-{case.id}")
         for case in API + DOMAIN_API + ADMIN for role in ROLES if role in case.values[2]]


@pytest.mark.parametrize("role,method,url,expected,body,kind", CASES)
def test_permission_table(table_world, role, method, url, expected, body, kind):
    world = table_world
    actor = _actor(world, role)
    if kind == "api":
        client = APIClient()
        if actor is not None:
            client.force_authenticate(actor)
        response = getattr(client, method)(_url(url, world), body, format="json")
    else:
        client = Client()
        if actor is not None:
            client.force_login(actor)
        response = getattr(client, method)(_url(url, world), body or {})
    assert response.status_code == expected[role], (role, method, url, getattr(response, "content", b"")[:300])
