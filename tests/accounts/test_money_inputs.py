"""Every money input of accounts goes through the one strict parser (SPEC §8.4, §9.1): payments, opening
payments and the block/deny balance overrides, in the operations, the API and the admin forms. A bad
amount answers 400 naming the field and writes nothing."""

from decimal import Decimal

import pytest
from django.urls import reverse

from apps.accounts import operations
from apps.accounts.models import Account, LedgerEntry
from apps.core.errors import InvalidInput
from apps.services import ledger

BAD_TEXTS = ["1e3", "NaN", "Infinity", "-Infinity", "+1", " 1", "1 ", "١٢", "１٢", "١٢.٥", "1,5", ".5", "1.00001",
             "1000000000000"]
BAD_JSON = [*BAD_TEXTS, 12.5, 1e3, True, "", [1], {"a": 1}]


# --- operations ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["1e3", "NaN", "١٢", "+1", " 1", 1.5])
def test_record_payment_refuses_what_is_not_an_amount(world, amount):
    with pytest.raises(InvalidInput) as refused:
        ledger.record_payment(actor=world.top, account=world.north, amount=amount, description="x")
    assert list(refused.value.fields) == ["amount"]
    assert not LedgerEntry.objects.filter(account=world.north).exists()


@pytest.mark.parametrize("field", ["block_balance", "deny_balance"])
def test_update_account_refuses_a_bad_threshold(world, field):
    with pytest.raises(InvalidInput) as refused:
        operations.update_account(actor=world.top, account=world.north, changes={field: "1e3"})
    assert list(refused.value.fields) == [field]
    assert getattr(Account.objects.get(pk=world.north.pk), field) is None


# --- API ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", BAD_JSON)
def test_payment_api_refuses_what_is_not_an_amount(world, as_user, amount):
    response = as_user(world.top).post(f"/api/v1/accounts/{world.north.pk}/payments/",
                                       {"amount": amount, "days": 1, "description": "x"}, format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "invalid" and list(body["fields"]) == ["amount"]
    assert body["detail"].startswith("amount: ")
    assert not LedgerEntry.objects.filter(account=world.north).exists()
    assert Account.objects.get(pk=world.north.pk).balance == 0


def test_payment_api_takes_a_plain_amount(world, as_user):
    response = as_user(world.top).post(f"/api/v1/accounts/{world.north.pk}/payments/",
                                       {"amount": "-12.5", "description": "x"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["amount"] == "-12.5000"


@pytest.mark.parametrize("amount", ["1e3", "١٢", "NaN", 7.5])
def test_opening_payment_refuses_what_is_not_an_amount_and_creates_no_account(world, as_user, amount):
    before = Account.objects.count()
    response = as_user(world.top).post("/api/v1/accounts/", {
        "name": "Fleet A", "parent": world.north.pk, "plan": world.base_plan.pk,
        "payment": {"amount": amount, "days": 1, "description": "welcome"}}, format="json")
    assert response.status_code == 400, response.json()
    assert "amount" in response.json()["fields"]["payment"][0]
    assert Account.objects.count() == before


@pytest.mark.parametrize("field", ["block_balance", "deny_balance"])
@pytest.mark.parametrize("value", ["1e3", "١٢", "+5", " -5", "NaN", -5.5])
def test_account_thresholds_refuse_what_is_not_an_amount(world, as_user, field, value):
    response = as_user(world.top).patch(f"/api/v1/accounts/{world.north.pk}/", {field: value}, format="json")
    assert response.status_code == 400, response.json()
    assert list(response.json()["fields"]) == [field]
    assert getattr(Account.objects.get(pk=world.north.pk), field) is None


def test_account_thresholds_take_amounts_and_null(world, as_user):
    client = as_user(world.top)
    response = client.patch(f"/api/v1/accounts/{world.north.pk}/", {"block_balance": "-5.25"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["block_balance"] == "-5.2500"
    response = client.patch(f"/api/v1/accounts/{world.north.pk}/", {"block_balance": None}, format="json")
    assert response.status_code == 200 and response.json()["block_balance"] is None


def test_the_schema_describes_amounts_with_ascii_digits(as_user, world):
    schema = as_user(world.top).get("/api/schema/?format=json").json()
    schemas = schema["components"]["schemas"]
    for name, field in (("PaymentInRequest", "amount"), ("PatchedAccountRequest", "block_balance"),
                        ("PlanRequest", "deny_balance")):
        amount = schemas[name]["properties"][field]
        assert amount["type"] == "string" and "[0-9]" in amount["pattern"] and "\\d" not in amount["pattern"]
    assert schemas["PlanRequest"]["properties"]["deny_balance"]["nullable"] is True


# --- admin forms --------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["1e3", "NaN", "١٢", "+1", " 1", "1.00001"])
def test_admin_payment_form_refuses_what_is_not_an_amount(world, client, amount):
    client.force_login(world.top)
    url = reverse("admin:accounts_account_payment", args=[world.north.pk])
    response = client.post(url, {"amount": amount, "days": "0", "description": "x", "confirm": "yes"})
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["amount"]
    assert not LedgerEntry.objects.filter(account=world.north).exists()


def test_admin_payment_form_records_a_plain_amount(world, client):
    client.force_login(world.top)
    url = reverse("admin:accounts_account_payment", args=[world.north.pk])
    response = client.post(url, {"amount": "12.5", "days": "0", "description": "x", "confirm": "yes"})
    assert response.status_code == 302
    assert Account.objects.get(pk=world.north.pk).balance == Decimal("12.5")


def _account_post(world, **values):
    return {"name": "Fleet B", "parent": world.north.pk, "plan": world.base_plan.pk, "block_by_balance": "",
            "limit_by_balance": "", "block_by_days": "", "allow_unknown_services": "", **values}


@pytest.mark.parametrize(("field", "value"), [
    ("payment_amount", "1e3"), ("payment_amount", "١٢"), ("block_balance", "NaN"), ("deny_balance", "+1"),
    ("block_balance", "-Infinity"), ("deny_balance", " 5"),
])
def test_admin_account_form_refuses_bad_amounts_on_the_field(world, client, field, value):
    client.force_login(world.top)
    before = Account.objects.count()
    response = client.post(reverse("admin:accounts_account_add"), _account_post(world, **{field: value}))
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == [field]
    assert Account.objects.count() == before


def test_admin_account_form_takes_plain_amounts(world, client):
    client.force_login(world.top)
    response = client.post(reverse("admin:accounts_account_add"), _account_post(
        world, payment_amount="20.5", block_balance="-10", deny_balance=""))
    assert response.status_code == 302, response.context["adminform"].form.errors
    created = Account.objects.get(name="Fleet B")
    assert (created.balance, created.block_balance, created.deny_balance) == (Decimal("20.5"), Decimal("-10"), None)
