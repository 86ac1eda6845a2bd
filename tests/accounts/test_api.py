"""Accounts, payments, ledger and operators through the REST API: statuses, scoping, error shape."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from rest_framework.test import APIClient

from apps.accounts import operations
from apps.accounts.models import Account, LedgerEntry, Operator
from apps.services import ledger
from tests import factories


def test_unauthenticated_is_401(api_client, world):
    assert api_client.get("/api/v1/accounts/").status_code == 401


def test_token_authentication_and_rotation(world):
    key = operations.rotate_token(actor=world.top, operator=world.north_op)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/accounts/").status_code == 200
    new_key = operations.rotate_token(actor=world.top, operator=world.north_op)
    assert client.get("/api/v1/accounts/").status_code == 401  # the old key stops at once
    client.credentials(HTTP_AUTHORIZATION=f"Token {new_key}")
    assert client.get("/api/v1/accounts/").status_code == 200


def test_token_endpoint_shows_the_key_once(as_user, world):
    response = as_user(world.top).post(f"/api/v1/operators/{world.north_op.pk}/token/")
    assert response.status_code == 201 and len(response.json()["token"]) == 40
    assert as_user(world.south_op).post(f"/api/v1/operators/{world.north_op.pk}/token/").status_code == 404


def test_distributor_lists_only_its_subtree_and_gets_404_elsewhere(as_user, world):
    client = as_user(world.north_op)
    names = {a["name"] for a in client.get("/api/v1/accounts/?page_size=500").json()["results"]}
    assert names == {"North", "North-East", "North Client", "North-East Client"}
    assert client.get(f"/api/v1/accounts/{world.south.pk}/").status_code == 404
    assert client.get(f"/api/v1/accounts/{world.acme.pk}/").status_code == 404
    assert client.get("/api/v1/accounts/999999/").status_code == 404


def test_other_service_sees_nothing_of_acme(as_user, world):
    client = as_user(world.other_top)
    assert client.get(f"/api/v1/accounts/{world.north.pk}/").status_code == 404
    assert client.post(f"/api/v1/accounts/{world.north.pk}/payments/", {"amount": "1", "description": "x"},
                       format="json").status_code == 404


def test_create_account_with_opening_payment(as_user, world):
    body = {"name": "Fleet A", "parent": world.north.pk, "plan": world.base_plan.pk,
            "payment": {"amount": "50", "days": 10, "description": "welcome"}}
    refused = as_user(world.north_op).post("/api/v1/accounts/", body, format="json")
    assert refused.status_code == 400  # a distributor hands out only its own sub-plans
    assert refused.json()["fields"] == {"plan": ["A distributor may hand out only its own sub-plans."]}
    world.north.sub_plans.add(world.base_plan)
    response = as_user(world.north_op).post("/api/v1/accounts/", body, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["balance"] == "50.0000" and created["days"] == 10 and created["service"] == world.acme.pk
    assert LedgerEntry.objects.filter(account_id=created["id"]).count() == 1


def test_create_account_in_another_branch_is_400_does_not_exist(as_user, world):
    response = as_user(world.north_op).post("/api/v1/accounts/", {
        "name": "Sneaky", "parent": world.south.pk, "plan": world.base_plan.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"]["parent"] == ["No such object."]


@pytest.mark.parametrize("body,field", [
    ({"name": "", "plan": None}, "name"),
    ({"name": "X", "plan": "abc"}, "plan"),
    ({"name": "North client", "plan": 0}, "plan"),
])
def test_bad_account_bodies_answer_400_naming_the_field(as_user, world, body, field):
    response = as_user(world.top).post("/api/v1/accounts/", {"parent": world.north.pk, **body}, format="json")
    assert response.status_code == 400
    payload = response.json()
    assert payload["code"] == "invalid" and field in payload["fields"], payload


def test_duplicate_name_ignoring_case_is_refused(as_user, world):
    response = as_user(world.top).post("/api/v1/accounts/", {
        "name": "north client", "parent": world.north.pk, "plan": world.base_plan.pk}, format="json")
    assert response.status_code == 400 and "name" in response.json()["fields"]


def test_payment_and_ledger_endpoints(as_user, world):
    client = as_user(world.top)
    response = client.post(f"/api/v1/accounts/{world.north.pk}/payments/",
                           {"amount": "12.5", "days": 3, "description": "Invoice 7"}, format="json")
    assert response.status_code == 201
    assert response.json()["amount"] == "12.5000"
    ledger = client.get(f"/api/v1/accounts/{world.north.pk}/ledger/?kind=payment").json()
    assert ledger["count"] == 1 and ledger["results"][0]["actor"] == "top"
    assert client.get(f"/api/v1/accounts/{world.north.pk}/ledger/?since=yesterday").status_code == 400


@pytest.mark.parametrize("body,field", [
    ({"amount": "0", "days": 0, "description": "x"}, "amount"),
    ({"amount": "abc", "description": "x"}, "amount"),
    ({"amount": "1"}, "description"),
    ({"amount": "1.00001", "description": "x"}, "amount"),
    ({"days": 1.5, "description": "x"}, "days"),
])
def test_bad_payments_answer_400_and_write_nothing(as_user, world, body, field):
    response = as_user(world.top).post(f"/api/v1/accounts/{world.north.pk}/payments/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    assert not LedgerEntry.objects.exists()


def test_distributor_cannot_pay_into_its_own_account(as_user, world):
    response = as_user(world.north_op).post(f"/api/v1/accounts/{world.north.pk}/payments/",
                                            {"amount": "1", "description": "x"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "outside_branch"


def test_manual_block_and_unblock_through_patch(as_user, world):
    client = as_user(world.top)
    response = client.patch(f"/api/v1/accounts/{world.north.pk}/", {"blocked": True}, format="json")
    assert response.status_code == 400 and "blocked_reason" in response.json()["fields"]
    response = client.patch(f"/api/v1/accounts/{world.north.pk}/",
                            {"blocked": True, "blocked_reason": "Audit"}, format="json")
    assert response.status_code == 200 and response.json()["blocked_by"] == "manual"
    # its operators may read but not write
    north = as_user(world.north_op)
    assert north.get("/api/v1/accounts/").status_code == 200
    denied = north.post(f"/api/v1/accounts/{world.north_client.pk}/payments/", {"amount": "1", "description": "x"},
                        format="json")
    assert denied.status_code == 403 and denied.json()["code"] == "account_blocked"


def test_restricted_distributor_may_not_use_accounts_api(as_user, world):
    assert as_user(world.north_restricted).get("/api/v1/accounts/").status_code == 403


def test_operator_creation_respects_roles(as_user, world):
    client = as_user(world.north_op)
    response = client.post("/api/v1/operators/", {"username": "ne2", "password": "Long-enough-9",
                                                  "account": world.north_east.pk, "role": "top_user"}, format="json")
    assert response.status_code == 400 and "role" in response.json()["fields"]
    response = client.post("/api/v1/operators/", {"username": "ne2", "password": "Long-enough-9",
                                                  "account": world.north_east.pk, "role": "distributor"},
                           format="json")
    assert response.status_code == 201, response.json()
    assert Operator.objects.get(username="ne2").groups.filter(name="Distributors").exists()
    response = client.post("/api/v1/operators/", {"username": "s2", "password": "Long-enough-9",
                                                  "account": world.south.pk, "role": "distributor"}, format="json")
    assert response.status_code == 400 and response.json()["fields"]["account"] == ["No such object."]


def test_revoking_dealer_rights_deactivates_operators(world):
    # A dealer without child accounts (revoking from one with children is refused: test_children.py).
    west = factories.account(world.north, name="North-West", plan_=world.dealer_plan, dealer_rights=True,
                             actor=world.platform)
    operations.update_account(actor=world.top, account=west, changes={"sub_plans": [world.base_plan]})
    west_op = factories.operator(west, "distributor", username="northwest")
    operations.update_account(actor=world.top, account=west, changes={"dealer_rights": False})
    west_op.refresh_from_db()
    assert not west_op.is_active
    assert not Account.objects.get(pk=west.pk).sub_plans.exists()


def test_money_is_a_four_place_string(as_user, world):
    ledger.record_payment(actor=world.top, account=world.north, amount=Decimal("1.5"), description="x")
    body = as_user(world.top).get(f"/api/v1/accounts/{world.north.pk}/").json()
    assert body["balance"] == "1.5000"


def test_more_than_20_bad_tokens_in_a_minute_answer_429_for_the_rest_of_it(world):
    """SPEC §9.8 "Tokens": 20 failures from one address in a clock minute, then 429 to every token from
    that address (the right one too) until the minute ends; other addresses are not concerned."""
    good = operations.rotate_token(actor=world.top, operator=world.north_op)
    guesser, bystander = APIClient(REMOTE_ADDR="203.0.113.7"), APIClient(REMOTE_ADDR="203.0.113.8")
    bystander.credentials(HTTP_AUTHORIZATION=f"Token {good}")
    with time_machine.travel(datetime(2026, 6, 1, 12, 0, 5, tzinfo=UTC), tick=False) as clock:
        for n in range(20):
            guesser.credentials(HTTP_AUTHORIZATION=f"Token wrong{n}")
            assert guesser.get("/api/v1/accounts/").status_code == 401
        guesser.credentials(HTTP_AUTHORIZATION="Token wrong-again")
        refused = guesser.get("/api/v1/accounts/")
        assert refused.status_code == 429 and refused.json()["code"] == "throttled"
        assert refused["Retry-After"] == "55"
        guesser.credentials(HTTP_AUTHORIZATION=f"Token {good}")
        assert guesser.get("/api/v1/accounts/").status_code == 429  # a right key from that address too
        assert bystander.get("/api/v1/accounts/").status_code == 200
        clock.move_to(datetime(2026, 6, 1, 12, 0, 59, tzinfo=UTC))
        assert guesser.get("/api/v1/accounts/").status_code == 429  # the rest of that minute
        clock.move_to(datetime(2026, 6, 1, 12, 1, 0, tzinfo=UTC))
        assert guesser.get("/api/v1/accounts/").status_code == 200  # a new minute


def test_20_bad_tokens_spread_over_minutes_are_not_throttled(world):
    good = operations.rotate_token(actor=world.top, operator=world.north_op)
    client = APIClient(REMOTE_ADDR="203.0.113.9")
    start = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        for minute in range(3):
            clock.move_to(start + timedelta(minutes=minute, seconds=30))
            for n in range(15):
                client.credentials(HTTP_AUTHORIZATION=f"Token bad{n}")
                assert client.get("/api/v1/accounts/").status_code == 401
        client.credentials(HTTP_AUTHORIZATION=f"Token {good}")
        assert client.get("/api/v1/accounts/").status_code == 200


WEAK_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]


def test_the_api_applies_the_password_validators(world, as_user, settings):
    settings.AUTH_PASSWORD_VALIDATORS = WEAK_PASSWORD_VALIDATORS
    client = as_user(world.north_op)
    body = {"username": "fleetboss", "email": "boss@example.com", "account": world.north_east.pk,
            "role": "restricted_distributor", "password": "12345678"}
    refused = client.post("/api/v1/operators/", body, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "invalid"
    reasons = refused.json()["fields"]["password"]
    assert len(reasons) >= 2 and any("too short" in r for r in reasons) and any("numeric" in r for r in reasons)
    assert not Operator.objects.filter(username="fleetboss").exists()
    similar = client.post("/api/v1/operators/", {**body, "password": "fleetboss1"}, format="json")
    assert similar.status_code == 400 and "password" in similar.json()["fields"]
    accepted = client.post("/api/v1/operators/", {**body, "password": "long-and-unusual-9"}, format="json")
    assert accepted.status_code == 201, accepted.json()
