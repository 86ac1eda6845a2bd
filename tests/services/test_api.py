"""The kernel's REST endpoints: statuses, scoping, the denial body, idempotent replays."""

from decimal import Decimal

from apps.accounts import operations as account_ops
from apps.accounts.models import Account, IdempotencyKey, LedgerEntry
from apps.services.models import ObjectCounter, UsageCounter
from apps.services import ledger
from tests.services.helpers import row


def url(account, tail):
    return f"/api/v1/accounts/{account.pk}/{tail}/"


def test_check_answers_200_with_the_reason(billed, as_user):
    row(billed.base_plan, "sms", "1:0;-1", interval="daily")
    client = as_user(billed.north_op)
    ok = client.post(url(billed.north_client, "check"), {"service": "sms"}, format="json")
    assert ok.status_code == 200 and ok.json() == {"allowed": True, "reason": None, "detail": "Allowed.",
                                                   "cost": "0.0000"}
    over = client.post(url(billed.north_client, "check"), {"service": "sms", "quantity": 2}, format="json")
    assert over.status_code == 200 and over.json()["reason"] == "limit_reached"


def test_consume_answers_403_with_allowed_false_and_replays_a_key(billed, as_user):
    row(billed.base_plan, "sms", "1:0.5;-1", interval="daily")
    client = as_user(billed.north_op)
    body = {"service": "sms", "idempotency_key": "req-1"}
    first = client.post(url(billed.north_client, "consume"), body, format="json")
    assert first.status_code == 200 and first.json()["cost"] == "0.5000"
    assert client.post(url(billed.north_client, "consume"), body, format="json").json() == first.json()
    denied = client.post(url(billed.north_client, "consume"), {"service": "sms", "idempotency_key": "req-2"},
                         format="json")
    assert denied.status_code == 403
    assert denied.json()["allowed"] is False and denied.json()["reason"] == "limit_reached"
    reused = client.post(url(billed.north_client, "consume"), {**body, "quantity": 2}, format="json")
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"
    assert LedgerEntry.objects.filter(account=billed.north_client, kind="charge").count() == 1


def test_bad_input_names_the_field(billed, as_user):
    client = as_user(billed.top)
    for body, field in (({"service": "zones_library", "idempotency_key": "x"}, "service"),
                        ({"service": "sms", "quantity": 0, "idempotency_key": "x"}, "quantity"),
                        ({"service": "sms"}, "idempotency_key")):
        response = client.post(url(billed.north_client, "consume"), body, format="json")
        assert response.status_code == 400 and field in response.json()["fields"], response.json()
    objects = client.post(url(billed.north_client, "objects"), {"service": "avl_unit", "delta": 1}, format="json")
    assert objects.status_code == 400 and "service" in objects.json()["fields"]


def test_objects_moves_the_counter(billed, as_user):
    row(billed.base_plan, "drivers", "2:0;-1")
    client = as_user(billed.north_op)
    assert client.post(url(billed.north_client, "objects"), {"service": "drivers", "delta": 2},
                       format="json").json() == {"service": "drivers", "usage": 2}
    denied = client.post(url(billed.north_client, "objects"), {"service": "drivers", "delta": 1}, format="json")
    assert denied.status_code == 403 and denied.json()["reason"] == "limit_reached"
    assert ObjectCounter.objects.get(account=billed.north_client, service="drivers").own == 2


def test_out_of_scope_account_is_404_and_restricted_role_is_403(billed, as_user):
    south = as_user(billed.south_op)
    assert south.post(url(billed.north_client, "check"), {"service": "sms"}, format="json").status_code == 404
    assert south.get(url(billed.north_client, "services")).status_code == 404
    restricted = as_user(billed.north_restricted)
    assert restricted.post(url(billed.north_client, "check"), {"service": "sms"}, format="json").status_code == 403


def test_consume_out_of_scope_or_of_no_account_is_404_and_writes_nothing(billed, as_user):
    """Consume reads the account with its chain (no scoped read before): the scope still holds."""
    row(billed.base_plan, "sms", "0.5", interval="daily")
    body = {"service": "sms", "idempotency_key": "scoped"}
    other_client = Account.objects.get(name="Other Client")
    for user, account_id in ((billed.south_op, billed.north_client.pk), (billed.north_op, billed.south_client.pk),
                             (billed.top, other_client.pk), (billed.north_op, 10**9)):
        response = as_user(user).post(f"/api/v1/accounts/{account_id}/consume/", body, format="json")
        assert response.status_code == 404 and response.json() == {"detail": "Not found.", "code": "not_found"}
    assert not LedgerEntry.objects.filter(kind="charge").exists()
    assert not IdempotencyKey.objects.exists() and not UsageCounter.objects.exists()
    assert as_user(billed.north_op).post(url(billed.north_client, "consume"), body, format="json").status_code == 200


def test_services_list_and_override_put_delete(billed, as_user):
    row(billed.base_plan, "sms", "1:0;10:1.5;-1", interval="daily")
    client = as_user(billed.north_op)
    put = client.put(url(billed.north_client, "services") + "sms/", {"interval": "hourly", "cost_table": "2:0;-1"},
                     format="json")
    assert put.status_code == 200 and put.json()["cost_table"] == "2:0;-1"
    answer = client.get(url(billed.north_client, "services")).json()
    assert isinstance(answer, list)  # a computed answer of a known size: a plain array (SPEC §9.8 "Lists")
    listed = {r["name"]: r for r in answer}
    assert listed["sms"]["source"] == "override" and listed["sms"]["usage"] == {"own": 0, "subtree": 0}
    assert listed["drivers"]["reason"] == "service_unknown"
    bad = client.put(url(billed.north_client, "services") + "sms/", {"cost_table": "1:-"}, format="json")
    assert bad.status_code == 400 and "cost_table" in bad.json()["fields"]
    assert client.delete(url(billed.north_client, "services") + "sms/").status_code == 204
    own = client.put(url(billed.north, "services") + "sms/", {"cost_table": ""}, format="json")
    assert own.status_code == 403  # nobody changes its own account's services


def test_payment_in_the_api_and_balance_after_consume(billed, as_user):
    row(billed.base_plan, "sms", "0.25", interval="none")
    ledger.record_payment(actor=billed.north_op, account=billed.north_client, amount="1", description="x")
    response = as_user(billed.north_op).post(url(billed.north_client, "consume"),
                                             {"service": "sms", "quantity": 2, "idempotency_key": "a"}, format="json")
    assert response.json() == {"allowed": True, "cost": "0.5000", "usage": 2, "balance": "0.5000"}
    assert Decimal(response.json()["balance"]) == Decimal("0.5")


def test_a_blocked_operators_consume_is_a_kernel_denial(billed, as_user):
    row(billed.base_plan, "sms", "0.5", interval="daily")
    account_ops.block_account(actor=billed.top, account=billed.north, reason="unpaid")
    body = {"service": "sms", "idempotency_key": "blocked"}
    for user, account, reason in ((billed.north_op, billed.north_client, "ancestor_blocked"),
                                  (billed.north_op, billed.north, "account_blocked"),
                                  (billed.north_east_op, billed.north_east_client, "ancestor_blocked")):
        denied = as_user(user).post(url(account, "consume"), body, format="json")
        assert denied.status_code == 403, denied.json()
        assert denied.json()["allowed"] is False and denied.json()["reason"] == reason
    assert not LedgerEntry.objects.filter(kind="charge").exists() and not UsageCounter.objects.exists()
    # Other writes of a blocked operator keep IsOperator's answer.
    objects = as_user(billed.north_op).post(url(billed.north_client, "objects"), {"service": "drivers", "delta": 1},
                                            format="json")
    assert objects.status_code == 403 and objects.json()["code"] == "account_blocked"
