"""Malformed input on every API list and every write (issue 11 item 3): always below 500, in the API's
error shape, with the field named. The lists and their filters come from the OpenAPI schema itself, so a
new list or filter is probed without touching this file."""

import json

import pytest
from drf_spectacular.generators import SchemaGenerator

from apps.accounts.models import Account

MALFORMED = ["x", "\x00", "a\x00b", "１２", "١٢", "2026-01-01T00:00:00+16:00", "99999999999999999999999999", "-1"]


def _lists():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, methods in schema["paths"].items():
        get = methods.get("get")
        if get is None or "{" in path:
            continue
        params = [p["name"] for p in get.get("parameters", []) if p["in"] == "query"]
        if params:
            yield path, params


LISTS = list(_lists())


def _is_error_shape(body) -> bool:
    return isinstance(body, dict) and isinstance(body.get("detail"), str) and isinstance(body.get("code"), str)


@pytest.mark.parametrize("path,params", LISTS, ids=[p for p, _ in LISTS])
@pytest.mark.parametrize("role", ["platform", "top", "north_op"])
def test_malformed_filters_answer_400_naming_the_field(world, as_user, path, params, role):
    client = as_user(getattr(world, role))
    baseline = client.get(path, HTTP_ACCEPT="application/json").status_code
    for name in params:
        for value in MALFORMED:
            response = client.get(path, {name: value}, HTTP_ACCEPT="application/json")
            assert response.status_code < 500, (path, name, value)
            if response.status_code == 400:
                body = response.json()
                assert _is_error_shape(body), (path, name, value, body)
                if baseline == 200 and body["code"] == "invalid":
                    assert name in body.get("fields", {}), (path, name, value, body)


@pytest.mark.parametrize("name", ["account", "service", "unit", "parent", "shared_with", "device_type"])
def test_unicode_digits_are_not_ids(world, as_user, name):
    """'１２' and '١٢' are digits to Python's int(); as ids they are refused, not read as 12."""
    Account.objects.filter(pk=world.acme.pk).update(discount_enabled=True)
    for path, params in LISTS:
        if name not in params:
            continue
        for value in ("１２", "١٢", " 12 ", "12.0"):
            query = {name: value} if name == "service" else {name: value, "service": world.acme.pk}
            response = as_user(world.platform).get(path, query)
            assert response.status_code == 400, (path, name, value, response.status_code)
            assert name in response.json()["fields"]


def test_offset_postgresql_refuses_is_400(world, as_user):
    response = as_user(world.top).get("/api/v1/code-events/", {"since": "2026-01-01T00:00:00+16:00"})
    assert response.status_code == 400 and "since" in response.json()["fields"]
    fine = as_user(world.top).get("/api/v1/code-events/", {"since": "2026-01-01T00:00:00+14:00"})
    assert fine.status_code == 200


def test_json_nested_1000_deep_is_400_in_the_error_shape(world, as_user):
    body = "[" * 1000 + "]" * 1000
    response = as_user(world.top).generic("POST", "/api/v1/cost-tables/evaluate/", body,
                                          content_type="application/json")
    assert response.status_code == 400 and _is_error_shape(response.json())
    deep = '{"cost_table": "1", "count": ' + "[" * 1000 + "]" * 1000 + "}"
    response = as_user(world.top).generic("POST", "/api/v1/cost-tables/evaluate/", deep,
                                          content_type="application/json")
    assert response.status_code == 400 and _is_error_shape(response.json())


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_a_5mb_body_is_refused_in_the_error_shape(world, as_user, content_type):
    if content_type == "application/json":
        body = json.dumps({"cost_table": "1" * (5 * 1024 * 1024), "count": 1})
    else:
        body = "cost_table=" + "1" * (5 * 1024 * 1024) + "&count=1"
    response = as_user(world.top).generic("POST", "/api/v1/cost-tables/evaluate/", body, content_type=content_type)
    assert response.status_code == 413 and response.json()["code"] == "request_too_large"


def test_too_many_form_fields_is_400_in_the_error_shape(world, as_user):
    body = "&".join(f"f{i}=1" for i in range(2000))
    response = as_user(world.top).generic("POST", "/api/v1/cost-tables/evaluate/", body,
                                          content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and _is_error_shape(response.json())


@pytest.mark.parametrize("value", ["１２", "١٢", 2**64, "99999999999999999999", True])
def test_ids_in_bodies_are_ascii_bigints(world, as_user, value):
    """Ids in a body: never read '１２' as 12, never overflow (SQLite's integers are 64-bit): 400 naming
    the field, for plain id fields and for related fields alike."""
    client = as_user(world.top)
    cases = [
        ("/api/v1/monitoring-users/", {"name": "Viewer", "account": value}, "account"),
        ("/api/v1/expiry-notices/", {"name": "N", "text": "T", "days_before": 3, "recipients": [value]},
         "recipients"),
        ("/api/v1/accounts/", {"name": "Fleet", "parent": value}, "parent"),
        ("/api/v1/plans/", {"name": "P", "parent": value}, "parent"),
    ]
    for path, body, field in cases:
        response = client.post(path, body, format="json")
        assert response.status_code == 400, (path, value, response.status_code)
        assert field in response.json()["fields"], (path, value, response.json())


def test_ledger_filters_refuse_malformed_values(world, as_user):
    client = as_user(world.top)
    url = f"/api/v1/accounts/{world.north.pk}/ledger/"
    for name in ("kind", "service", "since", "until"):
        for value in MALFORMED:
            response = client.get(url, {name: value})
            assert response.status_code in (200, 400), (name, value, response.status_code)
            if response.status_code == 400:
                assert name in response.json()["fields"], (name, value)
    assert client.get(url, {"since": "2026-01-01T00:00:00+16:00"}).status_code == 400
