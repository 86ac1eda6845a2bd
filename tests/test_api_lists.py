"""The API's lists: the platform operator's service filter on every list, and the schema's word on which
answers are paginated and which are plain arrays (SPEC §8.7, §9.8 "Lists"), nullable fields and errors."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from apps.accounts.models import Account, Operator
from apps.codes import operations as code_ops
from apps.units.models import MonitoringUser, Unit

# Lists whose rows belong to one service; each gets rows in both services below.
SERVICE_LISTS = ["/api/v1/accounts/", "/api/v1/operators/", "/api/v1/plans/", "/api/v1/units/",
                 "/api/v1/monitoring-users/", "/api/v1/codes/", "/api/v1/code-events/", "/api/v1/expiry-notices/"]


@pytest.fixture
def two_services(world):
    for service in (world.acme, world.other_service):
        code_ops.switch_billing_method(actor=world.platform, service=service, method="activation_codes",
                                       confirm=True)
        service.refresh_from_db()
        client = service.children.first() or service
        Unit.objects.create(service=service, account=client, name=f"{service.name} truck", unique_id=f"U{service.pk}",
                            active=False, deactivation_reason="no_code")
        MonitoringUser.objects.create(service=service, account=client, name=f"{service.name} viewer")
        code_ops.generate_codes(actor=world.platform, service=service, quantity=2, validity_days=30)
        top = Operator.objects.filter(account=service).first()
        code_ops.create_notice(actor=world.platform, name=f"{service.name} notice", text="Renew", days_before=7,
                               recipients=[top], service=service)
    return world


def _keys(client, path, **query):
    rows = client.get(path, {"page_size": 500, **query}).json()["results"]
    return {row.get("id", row.get("code")) for row in rows}


@pytest.mark.parametrize("path", SERVICE_LISTS)
def test_platform_service_filter_works_on_every_list(two_services, as_user, path):
    client = as_user(two_services.platform)
    everything = _keys(client, path)
    acme = _keys(client, path, service=two_services.acme.pk)
    other = _keys(client, path, service=two_services.other_service.pk)
    assert acme and other, "rows in both services"
    assert not acme & other and acme | other <= everything


def test_service_filter_names_a_top_account_as_an_integer(two_services, as_user):
    response = as_user(two_services.platform).get("/api/v1/units/", {"service": "x"})
    assert response.status_code == 400 and "service" in response.json()["fields"]


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _ok_schema(schema, path, method, status):
    body = schema["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    if "$ref" in body:
        return schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    return body


PAGINATED = [("/api/v1/accounts/", "get"), ("/api/v1/units/", "get"), ("/api/v1/codes/", "get"),
             ("/api/v1/code-events/", "get"), ("/api/v1/discount/accounts/", "get"),
             ("/api/v1/discount/units/", "get")]
ARRAYS = [("/api/v1/codes/generate/", "post", "201"), ("/api/v1/accounts/{id}/services/", "get", "200"),
          ("/api/v1/plans/{id}/effective-services/", "get", "200")]


@pytest.mark.parametrize("path,method", PAGINATED)
def test_schema_says_paginated(schema, path, method):
    body = _ok_schema(schema, path, method, "200")
    assert set(body["properties"]) == {"count", "next", "previous", "results"}
    params = {p["name"]: p["schema"]["type"] for p in schema["paths"][path][method]["parameters"]}
    assert params["page"] == "integer" and params["page_size"] == "integer"


@pytest.mark.parametrize("path,method,status", ARRAYS)
def test_schema_says_plain_array(schema, path, method, status):
    assert _ok_schema(schema, path, method, status)["type"] == "array"


def test_schema_nullable_fields_and_integer_id_filters(schema):
    assert schema["components"]["schemas"]["Code"]["properties"]["days_left"].get("nullable") is True
    for path, name in (("/api/v1/units/", "account"), ("/api/v1/codes/", "unit"), ("/api/v1/code-events/", "account"),
                       ("/api/v1/accounts/", "parent"), ("/api/v1/operators/", "account")):
        params = {p["name"]: p["schema"] for p in schema["paths"][path]["get"]["parameters"]}
        assert params[name]["type"] == "integer", (path, name)
        assert params["service"]["type"] == "integer", path
    params = {p["name"] for p in schema["paths"]["/api/v1/codes/"]["get"]["parameters"]}
    assert {"state", "include_expired"} <= params


def test_schema_documents_every_error_status_in_the_error_shape(schema):
    error = schema["components"]["schemas"]["Error"]
    assert {"detail", "code", "fields"} <= set(error["properties"])
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            statuses = set(operation["responses"])
            expected = {"400", "401", "403", "404", "429"} | ({"409"} if method != "get" else set())
            assert expected <= statuses, (method, path, expected - statuses)


def test_account_services_answer_a_plain_array(world, as_user):
    """The answer matches the schema (SPEC §9.8): ``accounts/{id}/services`` is computed, not paged."""
    body = as_user(world.north_op).get(f"/api/v1/accounts/{world.north_client.pk}/services/").json()
    assert isinstance(body, list) and body and {"name", "source", "usage"} <= set(body[0])
    assert Account.objects.filter(pk=world.north_client.pk).exists()
