"""Child accounts (SPEC §9.1, §9.8 "Children"): only a top account or a dealer has them, and a dealer
with child accounts keeps its dealer rights. Through the operations, the API and the admin forms."""

import threading

import pytest
from django.db import connection
from django.urls import reverse

from apps.accounts import operations
from apps.accounts.models import Account, Operator
from apps.core.errors import DomainError, InvalidInput
from tests import factories
from tests.helpers import requires_postgres

# --- creating a child ------------------------------------------------------------------------------


def test_an_account_without_dealer_rights_gets_no_child_account(world):
    before = Account.objects.count()
    with pytest.raises(InvalidInput) as refused:
        operations.create_account(actor=world.top, name="Grandchild", parent=world.north_client,
                                  plan=world.base_plan)
    assert refused.value.code == "invalid"
    assert list(refused.value.fields) == ["parent"]
    assert "'North Client' has no dealer rights" in refused.value.fields["parent"][0]
    assert Account.objects.count() == before
    assert not Account.objects.filter(name="Grandchild").exists()


def test_even_the_platform_operator_cannot_put_a_child_under_a_non_dealer(world):
    with pytest.raises(InvalidInput) as refused:
        operations.create_account(actor=world.platform, name="Grandchild", parent=world.south_client,
                                  plan=world.base_plan)
    assert "parent" in refused.value.fields


def test_a_top_account_may_always_have_children_and_a_dealer_too(world):
    assert world.acme.dealer_rights is False and world.acme.is_top
    direct = operations.create_account(actor=world.top, name="Direct", parent=world.acme, plan=world.base_plan)
    below_dealer = operations.create_account(actor=world.top, name="Below North", parent=world.north,
                                             plan=world.base_plan)
    assert direct.parent_id == world.acme.pk and below_dealer.parent_id == world.north.pk


def test_the_api_refuses_a_child_under_a_non_dealer_with_the_reason(world, as_user):
    before = Account.objects.count()
    response = as_user(world.top).post("/api/v1/accounts/", {"name": "Grandchild", "parent": world.north_client.pk,
                                                             "plan": world.base_plan.pk}, format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "invalid"
    assert "has no dealer rights" in body["fields"]["parent"][0]
    assert Account.objects.count() == before


def test_the_admin_shows_the_refusal_on_the_parent_field(world, client):
    client.force_login(world.top)
    before = Account.objects.count()
    response = client.post(reverse("admin:accounts_account_add"), {
        "name": "Grandchild", "parent": world.north_client.pk, "plan": world.base_plan.pk,
        "block_by_balance": "", "limit_by_balance": "", "block_by_days": "", "allow_unknown_services": ""})
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert list(form.errors) == ["parent"]
    assert "has no dealer rights" in form.errors["parent"][0]
    assert Account.objects.count() == before


# --- revoking dealer rights ------------------------------------------------------------------------


def test_revoking_dealer_rights_from_an_account_with_children_is_refused_with_their_count(world):
    factories.account(world.north_east, name="Second NE Client", plan_=world.base_plan, actor=world.platform)
    with pytest.raises(InvalidInput) as refused:
        operations.set_dealer_rights(actor=world.top, account=world.north_east, dealer_rights=False)
    assert refused.value.code == "has_child_accounts"
    assert "2 child accounts" in refused.value.fields["dealer_rights"][0]
    account = Account.objects.get(pk=world.north_east.pk)
    assert account.dealer_rights is True
    assert Operator.objects.get(pk=world.north_east_op.pk).is_active  # nothing else happened either


def test_update_account_refuses_the_revocation_and_writes_nothing(world):
    with pytest.raises(InvalidInput) as refused:
        operations.update_account(actor=world.top, account=world.north_east,
                                  changes={"dealer_rights": False, "name": "Renamed"})
    assert refused.value.code == "has_child_accounts"
    assert "1 child account:" in refused.value.detail
    account = Account.objects.get(pk=world.north_east.pk)
    assert (account.name, account.dealer_rights) == ("North-East", True)


def test_the_api_answers_400_has_child_accounts(world, as_user):
    response = as_user(world.top).patch(f"/api/v1/accounts/{world.north_east.pk}/", {"dealer_rights": False},
                                        format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "has_child_accounts"
    assert "1 child account" in body["fields"]["dealer_rights"][0]
    assert Account.objects.get(pk=world.north_east.pk).dealer_rights is True


def test_the_admin_shows_the_revocation_refusal_on_the_field(world, client):
    client.force_login(world.top)
    url = reverse("admin:accounts_account_change", args=[world.north_east.pk])
    form = client.get(url).context["adminform"].form
    data = {name: ("" if value is None else value) for name, value in form.initial.items()
            if name in form.fields and not isinstance(value, list | bool)}
    data.update({"name": "North-East", "plan": world.dealer_plan.pk, "block_by_balance": "",
                 "limit_by_balance": "", "block_by_days": "", "allow_unknown_services": ""})
    data.pop("dealer_rights", None)  # an unticked checkbox: revoke
    response = client.post(url, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "1 child account" in errors["dealer_rights"][0]
    assert Account.objects.get(pk=world.north_east.pk).dealer_rights is True


# --- the race: a child created while the parent's dealer rights are revoked -------------------------


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_creating_a_child_and_revoking_the_parents_dealer_rights_never_both_win(world):
    rounds = 8
    for round_no in range(rounds):
        dealer = factories.account(world.north, name=f"Racing dealer {round_no}", plan_=world.dealer_plan,
                                   dealer_rights=True, actor=world.platform)
        barrier = threading.Barrier(2)
        outcomes: dict[str, str] = {}

        def create():
            try:
                barrier.wait()
                operations.create_account(actor=world.top, name=f"Racing child {round_no}", parent=dealer,
                                          plan=world.base_plan)
                outcomes["create"] = "ok"
            except DomainError as exc:
                outcomes["create"] = exc.code
            finally:
                connection.close()

        def revoke():
            try:
                barrier.wait()
                operations.set_dealer_rights(actor=world.top, account=dealer, dealer_rights=False)
                outcomes["revoke"] = "ok"
            except DomainError as exc:
                outcomes["revoke"] = exc.code
            finally:
                connection.close()

        threads = [threading.Thread(target=create), threading.Thread(target=revoke)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        dealer.refresh_from_db()
        children = Account.objects.filter(parent=dealer).count()
        assert sorted(outcomes.values()) in (["has_child_accounts", "ok"], ["invalid", "ok"]), outcomes
        assert (children == 1) == dealer.dealer_rights, (round_no, outcomes, children)
