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

import pytest

from apps.core.seeds import ensure_seeds
from tests.helpers import World, build_world

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright runs an event loop


def pytest_sessionstart(session):
    """The French and Spanish catalogues compiled (``.mo`` is not committed; the install compiles them too)."""
    from tests.i18n.catalogues import compile_catalogues

    compile_catalogues()


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


@pytest.fixture
def world(seeded) -> World:
    return build_world()


@pytest.fixture(scope="module")
def shared_world(django_db_setup, django_db_blocker) -> World:
    """The world built once for a module whose tests only read it (the ``world`` fixture costs 174
    statements a test): written in a transaction held for the module and rolled back at its end. Each
    test runs in its own savepoint (ask for ``db`` as well), so what a test writes (a session, say)
    never shows in the next."""
    from django.db import transaction

    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            ensure_seeds()
            yield build_world()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


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


@pytest.fixture
def admin_as(client):
    """``admin_as(operator)``: the test client signed in as ``operator`` (admin pages)."""
    def _as(operator):
        client.force_login(operator)
        return client

    return _as
