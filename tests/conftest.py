"""Shared fixtures: a named world of actors (SPEC's cast) and database helpers.

The world: service "Acme" with top user ``top``; dealer accounts North and South (each with a
distributor), a sub-dealer North-East below North, end-user accounts below each, and a restricted
distributor on North. South must never see anything of North, and the reverse.

Creating an account counts an ``avl_resource`` on its parent, so every plan chain an account is
created under lists that service: each top account has its own root plan ("Service plan", set by
the platform operator and so out of the top user's reach), and "Base" (the root of "Dealer") has
the row too. "Base" and "Dealer" stay ordinary plans the top user manages.
"""

import os
from dataclasses import dataclass

import pytest
from django.db import connection

from apps.accounts.models import Account, Operator, Role
from apps.core.seeds import ensure_seeds
from apps.plans.models import Plan
from tests import factories

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright runs an event loop


def pytest_sessionstart(session):
    """The French and Spanish catalogues compiled (``.mo`` is not committed; the install compiles them too)."""
    from tests.i18n.catalogues import compile_catalogues

    compile_catalogues()


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


requires_postgres = pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("sqlite") or not os.environ.get("DATABASE_URL"),
    reason="needs PostgreSQL (row locks, real concurrency): set DATABASE_URL=postgres://… (CI does)",
)


@pytest.fixture(scope="session", autouse=True)
def _guards_lifted_while_emptying_tables():
    """Transactional and browser tests empty every table after each test (Django's ``flush``: one
    TRUNCATE), which the append-only guards refuse. Only that flush runs with them lifted, through the
    one switch, ``apps.core.guards.lifted`` (docs/decisions.md, issue 11); the tests themselves run
    with the guards on (``tests/codes/test_log.py`` proves it)."""
    from django.test import TransactionTestCase

    from apps.core import guards

    original = TransactionTestCase._fixture_teardown

    def _fixture_teardown(self):
        with guards.lifted():
            original(self)

    TransactionTestCase._fixture_teardown = _fixture_teardown
    yield
    TransactionTestCase._fixture_teardown = original


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in English: a request leaves its language active in the thread that served it
    (Django's middleware does not undo it), and the test client serves requests in the test's thread."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache: throttle counters (DRF's, the failed-token count) must not
    carry from one test to the next."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def seeded(db):
    """Catalogue, role groups and beat rows: re-created because transactional tests truncate them."""
    ensure_seeds()


@dataclass
class World:
    platform: Operator
    acme: Account
    base_plan: Plan
    dealer_plan: Plan
    top: Operator
    north: Account
    north_east: Account
    south: Account
    north_client: Account
    north_east_client: Account
    south_client: Account
    north_op: Operator
    north_east_op: Operator
    south_op: Operator
    north_restricted: Operator
    other_service: Account
    other_top: Operator


@pytest.fixture
def world(seeded) -> World:
    return build_world()


def build_world() -> World:
    """The world's rows (the ``world`` fixture; module-scoped fixtures build it once with ``django_db_blocker``)."""
    platform = factories.platform_operator("root")
    acme = factories.top_account(name="Acme Telematics", actor=platform, timezone="Europe/Berlin")
    base_plan = factories.plan(acme, name="Base")
    dealer_plan = factories.plan(acme, name="Dealer", parent=base_plan)
    factories.free_resources(base_plan)
    factories.service_plan(acme, actor=platform)
    acme_plan_holder = Account.objects.get(pk=acme.pk)
    top = factories.operator(acme_plan_holder, Role.TOP_USER, username="top")
    north = factories.account(acme, name="North", plan_=dealer_plan, dealer_rights=True, actor=platform)
    south = factories.account(acme, name="South", plan_=dealer_plan, dealer_rights=True, actor=platform)
    north_east = factories.account(north, name="North-East", plan_=dealer_plan, dealer_rights=True, actor=platform)
    north_client = factories.account(north, name="North Client", plan_=base_plan, actor=platform)
    north_east_client = factories.account(north_east, name="North-East Client", plan_=base_plan, actor=platform)
    south_client = factories.account(south, name="South Client", plan_=base_plan, actor=platform)
    other_service = factories.top_account(name="Other Service", actor=platform)
    factories.service_plan(other_service, actor=platform)
    other_plan = factories.plan(other_service, name="Other base")
    factories.account(other_service, name="Other Client", plan_=other_plan, actor=platform)
    return World(
        platform=platform, acme=acme, base_plan=base_plan, dealer_plan=dealer_plan, top=top,
        north=north, north_east=north_east, south=south, north_client=north_client,
        north_east_client=north_east_client, south_client=south_client,
        north_op=factories.operator(north, Role.DISTRIBUTOR, username="north"),
        north_east_op=factories.operator(north_east, Role.DISTRIBUTOR, username="northeast"),
        south_op=factories.operator(south, Role.DISTRIBUTOR, username="south"),
        north_restricted=factories.operator(north, Role.RESTRICTED_DISTRIBUTOR, username="north_restricted"),
        other_service=other_service,
        other_top=factories.operator(other_service, Role.TOP_USER, username="othertop"),
    )


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def as_user(api_client):
    """``as_user(operator)`` → an API client authenticated as that operator."""

    def _as(user):
        api_client.force_authenticate(user=user)
        return api_client

    return _as
