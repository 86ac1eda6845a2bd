"""A plan's block and deny balances go through the one strict amount parser (SPEC §8.4, §9.1): the API,
the admin form and the operation refuse ``1e3``, ``NaN``, ``+1``, `` 1`` and non-ASCII digits, naming the
field, and write nothing."""

from decimal import Decimal

import pytest
from django.urls import reverse

from apps.core.errors import InvalidInput
from apps.plans import operations
from apps.plans.models import Plan, PlanEvent

BAD = ["1e3", "NaN", "Infinity", "+1", " 1", "١٢", "１２", "1,5", ".5", "1.00001", "1000000000000", 2.5]


@pytest.mark.parametrize("field", ["block_balance", "deny_balance"])
@pytest.mark.parametrize("value", BAD)
def test_plan_api_refuses_what_is_not_an_amount(world, as_user, field, value):
    before = Plan.objects.count()
    response = as_user(world.top).post("/api/v1/plans/", {"name": "X", "parent": world.base_plan.pk, field: value},
                                       format="json")
    assert response.status_code == 400, response.json()
    assert list(response.json()["fields"]) == [field]
    assert Plan.objects.count() == before and not PlanEvent.objects.exists()


def test_plan_api_update_refuses_and_keeps_the_old_value(world, as_user):
    Plan.objects.filter(pk=world.dealer_plan.pk).update(block_balance=Decimal("-5"))
    response = as_user(world.top).patch(f"/api/v1/plans/{world.dealer_plan.pk}/", {"block_balance": "-1e1"},
                                        format="json")
    assert response.status_code == 400, response.json()
    assert Plan.objects.get(pk=world.dealer_plan.pk).block_balance == Decimal("-5")


def test_the_operation_refuses_text_that_is_not_an_amount(world):
    with pytest.raises(InvalidInput) as refused:
        operations.update_plan(actor=world.top, plan=world.dealer_plan, changes={"deny_balance": "١٢"})
    assert list(refused.value.fields) == ["deny_balance"]
    assert Plan.objects.get(pk=world.dealer_plan.pk).deny_balance is None


@pytest.mark.parametrize("value", ["1e3", "١٢", "+1", "NaN"])
def test_the_plan_admin_form_shows_the_refusal_on_the_field(world, client, value):
    from tests.plans.test_admin import _plan_post

    client.force_login(world.top)
    url = reverse("admin:plans_plan_change", args=[world.dealer_plan.pk])
    response = client.post(url, _plan_post(world.dealer_plan, [], block_balance=value))
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["block_balance"]
    assert Plan.objects.get(pk=world.dealer_plan.pk).block_balance is None


def test_the_plan_admin_form_takes_a_plain_amount(world, client):
    from tests.plans.test_admin import _plan_post

    client.force_login(world.top)
    url = reverse("admin:plans_plan_change", args=[world.dealer_plan.pk])
    response = client.post(url, _plan_post(world.dealer_plan, [], block_balance="-7.5"))
    assert response.status_code == 302
    assert Plan.objects.get(pk=world.dealer_plan.pk).block_balance == Decimal("-7.5")
