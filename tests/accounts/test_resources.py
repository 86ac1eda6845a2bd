"""Creating an account counts an ``avl_resource`` on its parent (SPEC §8.3): the parent's own count
is its direct children, every ancestor's subtree count is every account below it, and the limits
of the whole path apply."""

import io
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from apps.accounts import operations
from apps.accounts.models import Account, LedgerEntry
from apps.services.models import ObjectChange, ObjectCounter
from apps.services.operations import KernelDenied
from tests import factories
from tests.services.helpers import row

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def resources(*accounts) -> list[tuple[int, int]]:
    """The (own, subtree) ``avl_resource`` counts of ``accounts``, in order."""
    counts = {c.account_id: (c.own, c.subtree) for c in ObjectCounter.objects.filter(service="avl_resource")}
    return [counts.get(account.pk, (0, 0)) for account in accounts]


def test_creating_an_account_counts_it_on_the_parent_and_every_ancestor(world):
    assert resources(world.acme, world.north, world.north_east) == [(2, 6), (2, 3), (1, 1)]
    world.north.sub_plans.add(world.base_plan)
    created = operations.create_account(actor=world.north_op, name="NE Farms", parent=world.north_east,
                                        plan=world.base_plan, now=NOW)
    assert resources(world.acme, world.north, world.north_east, created) == [(2, 7), (2, 4), (2, 2), (0, 0)]
    journal = ObjectChange.objects.filter(service="avl_resource").latest("id")
    assert (journal.account_id, journal.delta, journal.at, journal.actor_name) == (
        world.north_east.pk, 1, NOW, "north")


def test_a_resource_limit_refuses_the_third_sub_account_and_writes_nothing(world, as_user):
    row(world.dealer_plan, "avl_resource", "2:0;-1")  # a dealer may have two accounts below it
    world.south.sub_plans.add(world.base_plan)
    client = as_user(world.south_op)
    second = client.post("/api/v1/accounts/", {"name": "South Rentals", "parent": world.south.pk,
                                               "plan": world.base_plan.pk}, format="json")
    assert second.status_code == 201, second.json()
    assert resources(world.south) == [(2, 2)]
    journal_before = ObjectChange.objects.count()
    third = client.post("/api/v1/accounts/", {"name": "South Taxi", "parent": world.south.pk,
                                              "plan": world.base_plan.pk, "payment": {"amount": "20"}},
                        format="json")
    assert third.status_code == 403
    assert third.json()["code"] == "limit_reached"
    assert not Account.objects.filter(name="South Taxi").exists()
    assert not LedgerEntry.objects.filter(description="Opening payment", account__parent=world.south).exists()
    assert resources(world.acme, world.south) == [(2, 7), (2, 2)]
    assert ObjectChange.objects.count() == journal_before


def test_a_service_without_plan_gets_accounts_only_once_the_platform_sets_one(world):
    service = factories.top_account(name="Newcomer", actor=world.platform)
    plan = factories.plan(service, name="Newcomer plan")
    with pytest.raises(KernelDenied) as denied:
        operations.create_account(actor=world.platform, name="First", parent=service, plan=plan, now=NOW)
    assert denied.value.reason == "no_plan"
    assert not Account.objects.filter(name="First").exists()
    assert not ObjectChange.objects.filter(account=service).exists()
    factories.free_resources(plan)
    operations.update_account(actor=world.platform, account=service, changes={"plan": plan}, now=NOW)
    service.refresh_from_db()
    operations.create_account(actor=world.platform, name="First", parent=service, plan=plan, now=NOW)
    assert resources(service) == [(1, 1)]


def test_the_demo_loads_and_counts_its_accounts(seeded):
    call_command("load_demo", stdout=io.StringIO())
    service = Account.objects.get(name="Demo Telematics", parent=None)
    north = Account.objects.get(service=service, name="North")
    # North, South below the service; North-East and five clients below them.
    assert resources(service, north) == [(2, 8), (3, 4)]
