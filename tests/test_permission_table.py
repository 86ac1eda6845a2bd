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
]


def _url(template, world):
    return template.format(north=world.north.pk, north_client=world.north_client.pk, north_op=world.north_op.pk,
                           south_op=world.south_op.pk, south=world.south.pk, acme=world.acme.pk)


CASES = [pytest.param(role, *case.values, id=f"{role}-{case.id}")
         for case in API + ADMIN for role in ROLES if role in case.values[2]]


@pytest.mark.parametrize("role,method,url,expected,body,kind", CASES)
def test_permission_table(world, role, method, url, expected, body, kind):
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
