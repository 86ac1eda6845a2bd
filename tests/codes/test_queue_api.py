"""The renewal queue over the API (API.md Additions): queue/unqueue, apply with ``queue: true``, the new
fields, and the scenario of SPEC §9.5: a unit stays active across its first code's expiry, no second lost."""

from datetime import timedelta

import pytest
import time_machine

from apps.codes import operations as ops
from apps.codes import tasks
from apps.codes.models import ActivationCode, CodeEvent
from apps.units.models import Unit

from tests.codes.helpers import T0

ONE_SECOND = timedelta(seconds=1)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def _post(client, url, body=None):
    return client.post(url, body or {}, format="json")


def test_a_unit_stays_active_across_the_expiry_of_its_first_code(cw, as_user, clock):
    api = as_user(cw.top)
    unit = cw.north_unit.pk
    first, second = (c["code"] for c in _post(api, "/api/v1/codes/generate/",
                                                 {"quantity": 2, "validity_days": 30}).data)
    clock.move_to(T0 + timedelta(hours=5, microseconds=654321))  # an instant with microseconds
    assigned = _post(api, f"/api/v1/codes/{first}/assign/", {"unit": unit})
    assert assigned.status_code == 200, assigned.data
    first_expires = ActivationCode.objects.get(code=first).expires_at

    clock.move_to(T0 + timedelta(days=12))  # renewing early: nothing of the first code is lost
    queued = _post(api, f"/api/v1/codes/{second}/queue/", {"unit": unit})
    assert queued.status_code == 200, queued.data
    assert (queued.data["state"], queued.data["queued_on"], queued.data["unit"]) == ("queued", unit, None)
    body = api.get(f"/api/v1/units/{unit}/").data
    assert (body["active"], body["code"], body["queued_code"]) == (True, first, second)

    clock.move_to(first_expires - ONE_SECOND)
    tasks.expire_codes()
    assert api.get(f"/api/v1/codes/{second}/").data["state"] == "queued"
    assert api.get(f"/api/v1/units/{unit}/").data["active"] is True

    clock.move_to(first_expires)  # the instant: reads derive before the sweep runs
    assert api.get(f"/api/v1/codes/{first}/").data["state"] == "expired"
    now_second = api.get(f"/api/v1/codes/{second}/").data
    assert (now_second["state"], now_second["unit"], now_second["queued_on"]) == ("active", unit, None)
    body = api.get(f"/api/v1/units/{unit}/").data
    assert (body["active"], body["code"], body["queued_code"]) == (True, second, None)

    clock.move_to(first_expires + timedelta(minutes=3))  # the sweep comes a few minutes late
    tasks.expire_codes()
    assert Unit.objects.get(pk=unit).active
    row = ActivationCode.objects.get(code=second)
    assert row.activated_at == first_expires  # to the microsecond: no second lost
    assert row.expires_at == first_expires + timedelta(days=30)
    events = api.get("/api/v1/code-events/", {"unit": unit}).data["results"]
    assert [e["action"] for e in events] == ["renewed", "expired", "queued", "unit_activated", "assigned"]
    assert not CodeEvent.objects.filter(action="unit_deactivated", unit_id=unit).exists()
    assert events[0]["before"] == {"code": first}
    assert api.get(f"/api/v1/codes/{second}/").data["days_left"] == 30


def test_queue_answers_the_renewal_rules(cw, as_user, new_code):
    api = as_user(cw.top)
    code = new_code()
    response = _post(api, f"/api/v1/codes/{code.code}/queue/", {"unit": cw.north_unit.pk})
    assert response.status_code == 400 and response.data["code"] == "unit_has_no_code", response.data
    assert "unit" in response.data["fields"]
    live = ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit, now=T0)
    response = _post(api, f"/api/v1/codes/{live.code}/queue/", {"unit": cw.north_unit.pk})
    assert response.status_code == 400 and response.data["code"] == "code_not_new"
    response = _post(api, f"/api/v1/codes/{code.code}/queue/", {})
    assert response.status_code == 400 and "unit" in response.data["fields"]
    assert ActivationCode.objects.get(pk=code.pk).status == "new"
    assert _post(api, f"/api/v1/codes/{code.code}/queue/", {"unit": cw.north_unit.pk}).status_code == 200
    listed = api.get("/api/v1/codes/", {"state": "queued"}).data
    assert [c["code"] for c in listed["results"]] == [code.code]
    response = _post(api, f"/api/v1/codes/{code.code}/unqueue/")
    assert response.status_code == 200 and response.data["state"] == "new" and response.data["queued_on"] is None
    response = _post(api, f"/api/v1/codes/{code.code}/unqueue/")
    assert response.status_code == 400 and response.data["code"] == "code_not_queued"


def test_queue_is_forbidden_under_monthly_billing(cw, as_user, new_code):
    code = new_code()
    ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit, now=T0)
    ops.switch_billing_method(actor=cw.platform, service=cw.acme, method="monthly", confirm=True, now=T0)
    response = _post(as_user(cw.top), f"/api/v1/codes/{code.code}/queue/", {"unit": cw.north_unit.pk})
    assert response.status_code == 403 and response.data["code"] == "billing_by_codes_off"


def test_apply_queues_with_queue_true(cw, as_user, new_code):
    ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit, now=T0)
    code = new_code(shared_with=cw.north)
    api = as_user(cw.north_restricted)
    response = _post(api, "/api/v1/codes/apply/", {"code": code.code, "unit": cw.north_unit.pk})
    assert response.status_code == 400 and response.data["code"] == "unit_has_code"
    response = _post(api, "/api/v1/codes/apply/", {"code": code.code.upper(), "unit": cw.north_unit.pk,
                                                   "queue": True})
    assert response.status_code == 200, response.data
    assert (response.data["state"], response.data["queued_on"]) == ("queued", cw.north_unit.pk)


def test_the_schema_documents_queue_with_its_error_answers(cw, as_user):
    schema = as_user(cw.top).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    queue = schema["paths"]["/api/v1/codes/{code}/queue/"]["post"]
    assert {"200", "400", "403", "404", "409"} <= set(queue["responses"])
    assert "unit_has_no_code" in queue["responses"]["400"]["description"]
    assert "billing_by_codes_off" in queue["responses"]["403"]["description"]
    assert "/api/v1/codes/{code}/unqueue/" in schema["paths"]
    code_fields = schema["components"]["schemas"]["Code"]["properties"]
    assert "queued_on" in code_fields
    state_enum = [name for name, body in schema["components"]["schemas"].items()
                  if name.endswith("Enum") and body.get("enum") and "queued" in body["enum"] and "new" in body["enum"]]
    assert state_enum
    apply = schema["paths"]["/api/v1/codes/apply/"]["post"]
    body_ref = apply["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "queue" in schema["components"]["schemas"][body_ref]["properties"]
    assert "unit_has_code" in apply["responses"]["400"]["description"]
