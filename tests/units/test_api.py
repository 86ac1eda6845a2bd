"""Units and monitoring users through the REST API: statuses, scoping, error shape, query counts."""

import pytest

from apps.accounts import operations as account_ops
from apps.accounts.models import Account
from apps.units import operations
from apps.plans.models import PlanService
from apps.units.models import AccessGrant, MonitoringUser, Unit, UnitEvent


def test_unauthenticated_is_401(api_client, world):
    assert api_client.get("/api/v1/units/").status_code == 401
    assert api_client.get("/api/v1/monitoring-users/").status_code == 401


def test_restricted_distributor_is_403(as_user, world):
    client = as_user(world.north_restricted)
    assert client.get("/api/v1/units/").status_code == 403
    assert client.post("/api/v1/monitoring-users/", {"name": "x", "account": world.north.pk},
                       format="json").status_code == 403


def test_create_unit_answers_the_documented_fields(as_user, world, tracker):
    response = as_user(world.north_op).post("/api/v1/units/", {
        "name": "Truck 7", "account": world.north_client.pk, "unique_id": "356938035643809",
        "device_type": tracker.pk, "sensors": [{"name": "Fuel", "type": "fuel_level"}],
        "commands": [{"name": "Stop"}], "eco_criteria": ["turn"], "eco_driving": True}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {"id", "active", "deactivated_at", "deactivation_reason", "code", "code_expires_at"} <= body.keys()
    assert (body["account"], body["device_type"], body["active"], body["code"]) == (
        world.north_client.pk, tracker.pk, True, None)
    assert body["sensors"] == [{"name": "Fuel", "type": "fuel_level"}]
    assert body["commands"] == [{"name": "Stop"}] and body["service_intervals"] == []
    assert (body["eco_driving"], body["road_limits_speeding"], body["eco_criteria"]) == (True, False, ["turn"])
    unit = Unit.objects.get(pk=body["id"])
    assert UnitEvent.objects.filter(unit_id_snapshot=unit.pk, action="created", actor_name="north").exists()


def test_north_cannot_see_souths_units(as_user, world, make_unit):
    north_unit = make_unit(world.north_client)
    south_unit = make_unit(world.south_client)
    client = as_user(world.north_op)
    ids = [u["id"] for u in client.get("/api/v1/units/").json()["results"]]
    assert ids == [north_unit.pk]
    for method in ("get", "patch", "delete"):
        assert getattr(client, method)(f"/api/v1/units/{south_unit.pk}/", format="json").status_code == 404
    assert Unit.objects.get(pk=south_unit.pk).archived_at is None
    assert as_user(world.other_top).get(f"/api/v1/units/{north_unit.pk}/").status_code == 404
    top_ids = {u["id"] for u in as_user(world.top).get("/api/v1/units/").json()["results"]}
    assert top_ids == {north_unit.pk, south_unit.pk}


@pytest.mark.parametrize("field", ["account", "device_type", "modem"])
def test_out_of_scope_or_absent_ids_in_body_are_400_does_not_exist(as_user, world, field):
    values = {"account": world.south_client.pk, "device_type": 999999, "modem": 999999}
    body = {"name": "T", "account": world.north_client.pk, "unique_id": "A1", field: values[field]}
    response = as_user(world.north_op).post("/api/v1/units/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": f"{field}: no such object.", "code": "does_not_exist",
                               "fields": {field: ["No such object."]}}
    assert not Unit.objects.exists()


@pytest.mark.parametrize("body,field", [
    ({"name": ""}, "name"),
    ({"unique_id": "no spaces please"}, "unique_id"),
    ({"account": "abc"}, "account"),
    ({"sensors": [{"name": "S", "type": "flux"}]}, "sensors"),
    ({"sensors": "not a list"}, "sensors"),
    ({"eco_criteria": ["nope"]}, "eco_criteria"),
    ({"eco_driving": "maybe"}, "eco_driving"),
    ({"account": None}, "account"),
])
def test_bad_unit_bodies_answer_400_naming_the_field(as_user, world, body, field):
    data = {"name": "T", "account": world.north_client.pk, "unique_id": "A1", **body}
    response = as_user(world.top).post("/api/v1/units/", data, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["fields"]
    assert not Unit.objects.exists()


def test_unit_in_top_account_is_400(as_user, world):
    response = as_user(world.top).post("/api/v1/units/", {"name": "T", "account": world.acme.pk, "unique_id": "A1"},
                                       format="json")
    assert response.status_code == 400 and response.json()["fields"] == {
        "account": ["Units cannot be created in a top account."]}


def test_patch_replaces_given_lists_and_moves(as_user, world, make_unit):
    unit = make_unit(world.north_client, sensors=[{"name": "A", "type": "ignition"}], commands=[{"name": "C"}])
    client = as_user(world.north_op)
    response = client.patch(f"/api/v1/units/{unit.pk}/", {
        "sensors": [{"name": "B", "type": "voltage"}], "account": world.north_east_client.pk}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["sensors"] == [{"name": "B", "type": "voltage"}] and body["commands"] == [{"name": "C"}]
    assert body["account"] == world.north_east_client.pk
    response = client.patch(f"/api/v1/units/{unit.pk}/", {"account": world.south_client.pk}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "does_not_exist"


def test_patch_active_by_hand(as_user, world, make_unit):
    unit = make_unit(world.north_client)
    client = as_user(world.north_op)
    body = client.patch(f"/api/v1/units/{unit.pk}/", {"active": False}, format="json").json()
    assert (body["active"], body["deactivation_reason"]) == (False, "manual") and body["deactivated_at"]
    Account.objects.filter(pk=world.acme.pk).update(billing_method="activation_codes")
    response = client.patch(f"/api/v1/units/{unit.pk}/", {"active": True}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "billing_by_codes" and "active" in response.json()["fields"]
    assert Unit.objects.get(pk=unit.pk).active is False


def test_delete_archives(as_user, world, make_unit):
    unit = make_unit(world.north_client)
    client = as_user(world.north_op)
    assert client.delete(f"/api/v1/units/{unit.pk}/").status_code == 204
    unit.refresh_from_db()
    assert unit.archived_at is not None and unit.deactivation_reason == "archived"
    assert client.get(f"/api/v1/units/{unit.pk}/").status_code == 404
    assert client.get("/api/v1/units/").json()["count"] == 0


def test_blocked_operator_reads_but_cannot_write(as_user, world, make_unit):
    unit = make_unit(world.north_client)
    account_ops.block_account(actor=world.top, account=world.north, reason="unpaid")
    client = as_user(world.north_op)
    assert client.get(f"/api/v1/units/{unit.pk}/").status_code == 200
    response = client.patch(f"/api/v1/units/{unit.pk}/", {"name": "x"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "account_blocked"


def test_unit_filters(as_user, world, make_unit, tracker):
    a = make_unit(world.north_client, name="Alpha", unique_id="AAA111", device_type=tracker)
    b = make_unit(world.north_east_client, name="Bravo", unique_id="BBB222")
    operations.set_unit_active(actor=world.top, unit=b, active=False)
    client = as_user(world.top)

    def ids(query):
        return [u["id"] for u in client.get(f"/api/v1/units/?{query}").json()["results"]]

    assert ids(f"account={world.north_east_client.pk}") == [b.pk]
    assert ids("active=false") == [b.pk]
    assert ids(f"device_type={tracker.pk}") == [a.pk]
    assert ids("search=alp") == [a.pk]
    assert ids("search=BBB") == [b.pk]
    assert ids("search=222") == []  # the unique id matches by prefix


def test_unit_list_query_count_does_not_grow(as_user, world, make_unit, django_assert_max_num_queries):
    client = as_user(world.top)
    make_unit(world.north_client, sensors=[{"name": "A", "type": "ignition"}], commands=[{"name": "C"}])
    with django_assert_max_num_queries(12) as few:
        assert client.get("/api/v1/units/").status_code == 200
    for _ in range(15):
        make_unit(world.south_client, sensors=[{"name": "A", "type": "ignition"}], service_intervals=[{"name": "I"}])
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get("/api/v1/units/").json()["count"] == 16


# --- monitoring users and grants ------------------------------------------------------------------------

def test_monitoring_users_and_grants(as_user, world, make_unit):
    unit = make_unit(world.north_east_client)
    client = as_user(world.north_op)
    response = client.post("/api/v1/monitoring-users/", {"name": "dispatch", "account": world.north.pk},
                           format="json")
    assert response.status_code == 201, response.json()
    user_id = response.json()["id"]
    assert response.json()["account"] == world.north.pk
    grants_url = f"/api/v1/monitoring-users/{user_id}/grants/"
    unit_grant = client.post(grants_url, {"unit": unit.pk}, format="json")
    assert unit_grant.status_code == 201 and unit_grant.json() == {"id": unit_grant.json()["id"], "unit": unit.pk,
                                                                   "account": None}
    account_grant = client.post(grants_url, {"account": world.north_east.pk}, format="json")
    assert account_grant.status_code == 201
    assert client.get(grants_url).json()["count"] == 2
    assert client.delete(f"{grants_url}{unit_grant.json()['id']}/").status_code == 204
    assert list(AccessGrant.objects.values_list("account_id", flat=True)) == [world.north_east.pk]


def test_monitoring_user_scoping(as_user, world, make_unit):
    south_unit = make_unit(world.south_client)
    user = operations.create_monitoring_user(actor=world.top, account=world.north, name="ops")
    south_user = operations.create_monitoring_user(actor=world.top, account=world.south, name="south ops")
    north = as_user(world.north_op)
    assert [u["id"] for u in north.get("/api/v1/monitoring-users/").json()["results"]] == [user.pk]
    assert north.get(f"/api/v1/monitoring-users/{south_user.pk}/").status_code == 404
    assert north.get(f"/api/v1/monitoring-users/{south_user.pk}/grants/").status_code == 404
    assert north.post(f"/api/v1/monitoring-users/{south_user.pk}/grants/", {"unit": south_unit.pk},
                      format="json").status_code == 404
    response = north.post(f"/api/v1/monitoring-users/{user.pk}/grants/", {"unit": south_unit.pk}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "does_not_exist"
    response = north.post("/api/v1/monitoring-users/", {"name": "spy", "account": world.south.pk}, format="json")
    assert response.status_code == 400 and response.json()["fields"] == {"account": ["No such object."]}
    south_grant = operations.grant_access(actor=world.top, user=south_user, unit=south_unit)
    assert north.delete(f"/api/v1/monitoring-users/{south_user.pk}/grants/{south_grant.pk}/").status_code == 404
    assert north.delete(f"/api/v1/monitoring-users/{user.pk}/grants/{south_grant.pk}/").status_code == 404
    assert AccessGrant.objects.filter(pk=south_grant.pk).exists()


@pytest.mark.parametrize("body", [{}, {"unit": 1, "account": 1}, {"unit": "x"}])
def test_bad_grant_bodies_are_400(as_user, world, body):
    user = operations.create_monitoring_user(actor=world.top, account=world.north, name="ops")
    response = as_user(world.top).post(f"/api/v1/monitoring-users/{user.pk}/grants/", body, format="json")
    assert response.status_code == 400 and "unit" in response.json()["fields"]


def test_duplicate_monitoring_user_name_is_400(as_user, world):
    operations.create_monitoring_user(actor=world.top, account=world.north, name="ops")
    response = as_user(world.top).post("/api/v1/monitoring-users/", {"name": "ops", "account": world.south.pk},
                                       format="json")
    assert response.status_code == 400 and list(response.json()["fields"]) == ["name"]
    assert MonitoringUser.objects.count() == 1


def test_kernel_limit_answers_403_and_creates_nothing(as_user, world, make_unit):
    PlanService.objects.create(plan=world.dealer_plan, name="avl_unit", type="periodic", interval="monthly",
                               cost_table="1:0;2:-1")
    make_unit(world.north_client)
    response = as_user(world.north_op).post("/api/v1/units/", {
        "name": "One too many", "account": world.north_client.pk, "unique_id": "X-2"}, format="json")
    assert response.status_code == 403
    body = response.json()
    assert (body["allowed"], body["reason"], body["limiting_account"]) == (False, "limit_reached", world.north.pk)
    assert not Unit.objects.filter(unique_id="X-2").exists()


def test_per_unit_sensor_limit_refusal_names_the_field(as_user, world, make_unit):
    PlanService.objects.create(plan=world.dealer_plan, name="unit_sensors", type="periodic", interval="monthly",
                               cost_table="5:0;-1")
    unit = make_unit(world.north_client, sensors=[{"name": f"S{i}", "type": "ignition"} for i in range(5)])
    response = as_user(world.north_op).patch(f"/api/v1/units/{unit.pk}/", {
        "sensors": [{"name": f"S{i}", "type": "ignition"} for i in range(6)]}, format="json")
    assert response.status_code == 403
    body = response.json()
    assert (body["reason"], body["limiting_account"], list(body["fields"])) == ("limit_reached", world.north.pk,
                                                                                  ["sensors"])
    assert unit.sensors.count() == 5
