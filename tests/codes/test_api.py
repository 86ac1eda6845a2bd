"""The codes API: paths, statuses and error codes of API.md and SPEC §8.7."""

from datetime import timedelta

import pytest
import time_machine

from apps.codes import operations as ops
from apps.codes.models import ActivationCode, CodeEvent

from tests.codes.helpers import T0


@pytest.fixture(autouse=True)
def _at_t0():
    with time_machine.travel(T0, tick=False):
        yield


def test_top_user_generates_codes(cw, as_user):
    response = as_user(cw.top).post("/api/v1/codes/generate/", {"quantity": 3, "validity_days": 90,
                                                               "shared_with": cw.north.pk}, format="json")
    assert response.status_code == 201, response.data
    assert len(response.data) == 3
    first = response.data[0]
    assert first["state"] == "new" and first["shared_with"] == cw.north.pk and first["days_left"] is None
    assert ActivationCode.objects.filter(shared_with=cw.north).count() == 3


def test_distributors_may_not_generate(cw, as_user):
    response = as_user(cw.north_op).post("/api/v1/codes/generate/", {"quantity": 1, "validity_days": 30},
                                         format="json")
    assert response.status_code == 403
    assert not ActivationCode.objects.exists()


def test_generate_validates_the_quantity(cw, as_user):
    response = as_user(cw.top).post("/api/v1/codes/generate/", {"quantity": 0, "validity_days": 30}, format="json")
    assert response.status_code == 400 and "quantity" in response.data["fields"]


def test_list_is_scoped_to_the_holder_subtree(cw, new_code, as_user):
    north = new_code(shared_with=cw.north)
    south = new_code(shared_with=cw.south)
    new_code()
    seen = {row["code"] for row in as_user(cw.north_op).get("/api/v1/codes/").data["results"]}
    assert seen == {north.code}
    assert len(as_user(cw.top).get("/api/v1/codes/").data["results"]) == 3
    assert as_user(cw.south_op).get(f"/api/v1/codes/{north.code}/").status_code == 404
    assert as_user(cw.south_op).get(f"/api/v1/codes/{south.code}/").status_code == 200
    assert as_user(cw.north_restricted).get("/api/v1/codes/").status_code == 403


def test_codes_are_addressed_ignoring_case_and_dashes(cw, new_code, as_user):
    code = new_code()
    response = as_user(cw.top).get(f"/api/v1/codes/{code.display.upper()}/")
    assert response.status_code == 200 and response.data["code"] == code.code


def test_assign_unassign_reassign_over_the_api(cw, new_code, as_user):
    code = new_code(shared_with=cw.north)
    client = as_user(cw.north_op)
    response = client.post(f"/api/v1/codes/{code.code}/assign/", {"unit": cw.north_unit.pk}, format="json")
    assert response.status_code == 200, response.data
    assert (response.data["state"], response.data["unit"], response.data["days_left"]) == ("active",
                                                                                         cw.north_unit.pk, 30)
    response = client.post(f"/api/v1/codes/{code.code}/reassign/", {"unit": cw.north_unit2.pk}, format="json")
    assert response.status_code == 200 and response.data["unit"] == cw.north_unit2.pk
    response = client.post(f"/api/v1/codes/{code.code}/unassign/")
    assert response.status_code == 200 and response.data["unit"] is None
    assert list(CodeEvent.objects.filter(code=code.code).values_list("action", flat=True).order_by("id")) == [
        "generated", "shared", "assigned", "unit_activated", "unit_deactivated", "reassigned", "unit_activated",
        "unassigned", "unit_deactivated"]


@pytest.mark.parametrize(("setup", "expected"), [
    ("on_unit", (400, "code_in_use")),
    ("unit_busy", (400, "unit_has_code")),
    ("expired", (400, "code_expired")),
    ("other_branch_unit", (403, "outside_branch")),
    ("unknown_unit", (400, "does_not_exist")),
])
def test_assign_refusals_answer_with_their_codes(cw, new_code, as_user, setup, expected):
    code = new_code(shared_with=cw.north)
    unit = cw.north_unit
    if setup == "on_unit":
        ops.assign_code(actor=cw.top, code=code, unit=cw.north_unit2, now=T0)
    elif setup == "unit_busy":
        ops.assign_code(actor=cw.top, code=new_code(), unit=unit, now=T0)
    elif setup == "expired":
        ops.assign_code(actor=cw.top, code=code, unit=cw.north_unit2, now=T0 - timedelta(days=31))
        ops.unassign_code(actor=cw.top, code=code, now=T0 - timedelta(days=30, hours=1))
    elif setup == "other_branch_unit":
        unit = cw.south_unit
    elif setup == "unknown_unit":
        unit = type(unit)(pk=999999)
    response = as_user(cw.top).post(f"/api/v1/codes/{code.code}/assign/", {"unit": unit.pk}, format="json")
    assert (response.status_code, response.data["code"]) == expected, response.data


def test_billing_by_codes_off_is_403(world, as_user):
    response = as_user(world.top).post("/api/v1/codes/generate/", {"quantity": 1, "validity_days": 30},
                                       format="json")
    assert (response.status_code, response.data["code"]) == (403, "billing_by_codes_off")


def test_share_and_unshare_over_the_api(cw, new_code, as_user):
    code = new_code()
    response = as_user(cw.top).post(f"/api/v1/codes/{code.code}/share/", {"account": cw.north.pk}, format="json")
    assert response.status_code == 200 and response.data["shared_with"] == cw.north.pk
    response = as_user(cw.north_op).post(f"/api/v1/codes/{code.code}/share/", {"account": cw.north_east.pk},
                                         format="json")
    assert response.status_code == 200 and response.data["shared_with"] == cw.north_east.pk
    response = as_user(cw.north_op).post(f"/api/v1/codes/{code.code}/unshare/", {"account": cw.north_east.pk},
                                         format="json")
    assert response.status_code == 200 and response.data["shared_with"] == cw.north.pk
    response = as_user(cw.north_op).post(f"/api/v1/codes/{code.code}/share/", {"account": cw.south.pk},
                                         format="json")
    assert (response.status_code, response.data["code"]) == (400, "does_not_exist")


def test_apply_is_open_to_restricted_distributors(cw, new_code, as_user):
    code = new_code()
    response = as_user(cw.north_restricted).post("/api/v1/codes/apply/", {"code": code.code.upper(),
                                                                          "unit": cw.north_unit.pk}, format="json")
    assert response.status_code == 200, response.data
    assert response.data["unit"] == cw.north_unit.pk


def test_apply_answers_the_same_for_unknown_and_foreign_codes(cw, new_code, as_user):
    south = new_code(shared_with=cw.south)
    client = as_user(cw.north_restricted)
    unknown = client.post("/api/v1/codes/apply/", {"code": "f" * 32, "unit": cw.north_unit.pk}, format="json")
    foreign = client.post("/api/v1/codes/apply/", {"code": south.code, "unit": cw.north_unit.pk}, format="json")
    assert unknown.status_code == foreign.status_code == 400
    assert unknown.data == foreign.data and unknown.data["code"] == "does_not_exist"


def test_apply_is_throttled_per_operator(cw, as_user, settings):
    from django.core.cache import cache
    from rest_framework.settings import api_settings
    from rest_framework.throttling import ScopedRateThrottle

    cache.clear()
    rates = {"apply_code": "2/min"}
    original = ScopedRateThrottle.THROTTLE_RATES
    ScopedRateThrottle.THROTTLE_RATES = rates
    try:
        client = as_user(cw.north_restricted)
        statuses = [client.post("/api/v1/codes/apply/", {"code": "0" * 32, "unit": cw.north_unit.pk},
                                format="json").status_code for _ in range(3)]
    finally:
        ScopedRateThrottle.THROTTLE_RATES = original
        cache.clear()
    assert statuses == [400, 400, 429]
    assert api_settings.DEFAULT_THROTTLE_RATES["apply_code"]


def test_code_events_are_read_only_and_filterable(cw, new_code, as_user):
    code = new_code(shared_with=cw.north)
    ops.assign_code(actor=cw.north_op, code=code, unit=cw.north_unit, now=T0)
    client = as_user(cw.north_op)
    response = client.get("/api/v1/code-events/", {"code": code.code, "action": "assigned"})
    assert response.status_code == 200
    [event] = response.data["results"]
    assert event["unit"] == {"id": cw.north_unit.pk, "name": "North truck 1"} and event["actor"] == "north"
    assert client.post("/api/v1/code-events/", {}).status_code == 405
    assert client.delete(f"/api/v1/code-events/{event['id']}/").status_code == 405
    assert client.put(f"/api/v1/code-events/{event['id']}/", {}).status_code == 405
    assert as_user(cw.south_op).get(f"/api/v1/code-events/{event['id']}/").status_code == 404


def test_expiry_notices_are_created_with_recipients_in_scope(cw, as_user):
    client = as_user(cw.north_op)
    body = {"name": "Renew soon", "text": "Codes are running out.", "days_before": 7, "repeat": False,
            "recipients": [cw.north_op.pk, cw.north_east_op.pk]}
    response = client.post("/api/v1/expiry-notices/", body, format="json")
    assert response.status_code == 201, response.data
    assert response.data["recipients"] == sorted([cw.north_op.pk, cw.north_east_op.pk])
    response = client.post("/api/v1/expiry-notices/", {**body, "recipients": [cw.south_op.pk]}, format="json")
    assert (response.status_code, response.data["code"]) == (400, "does_not_exist")
    response = client.post("/api/v1/expiry-notices/", {**body, "days_before": 100}, format="json")
    assert response.status_code == 400 and "days_before" in response.data["fields"]
    assert [n["name"] for n in as_user(cw.top).get("/api/v1/expiry-notices/").data["results"]] == ["Renew soon"]
    assert as_user(cw.south_op).get("/api/v1/expiry-notices/").data["results"] == []


def test_the_platform_operator_names_the_service_when_generating(cw, as_user):
    client = as_user(cw.platform)
    response = client.post("/api/v1/codes/generate/", {"quantity": 2, "validity_days": 30}, format="json")
    assert (response.status_code, response.data["code"]) == (400, "does_not_exist")
    response = client.post("/api/v1/codes/generate/", {"quantity": 2, "validity_days": 30, "service": cw.acme.pk},
                           format="json")
    assert response.status_code == 201
    assert ActivationCode.objects.filter(service=cw.acme).count() == 2


def test_code_list_hides_expired_codes_by_default(cw, new_code, as_user):
    """SPEC §9.1: like the window, ``GET /codes/`` hides expired codes unless ``state=expired`` or
    ``include_expired=1``."""
    fresh, running = new_code(validity_days=30), new_code(validity_days=1)
    ops.assign_code(actor=cw.top, code=running, unit=cw.north_unit, now=T0)
    client = as_user(cw.top)

    def listed(**query):
        return {row["code"] for row in client.get("/api/v1/codes/", query).json()["results"]}

    assert listed() == {fresh.code, running.code}
    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        assert listed() == {fresh.code}
        assert listed(include_expired=1) == {fresh.code, running.code}
        assert listed(state="expired") == {running.code}
        assert listed(include_expired=0) == {fresh.code}

