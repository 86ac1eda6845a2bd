"""Helpers the tests import (fixtures stay in the ``conftest`` modules; pytest finds those by itself).

The world (SPEC's cast): see ``tests/conftest.py`` for who is who; ``build_world`` writes its rows.
"""

import os
import threading
import weakref
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from django.db import connection

from apps.accounts.models import Account, Operator, Role
from apps.core.errors import DomainError
from apps.plans.models import Plan
from tests import factories


def connected(signal, receiver) -> bool:
    """Whether ``receiver`` is connected to ``signal`` (a weak reference, as ``Signal.connect`` keeps it)."""
    return any((ref() if isinstance(ref, weakref.ref) else ref) is receiver for _key, ref, *_rest in signal.receivers)


@contextmanager
def receiving(signal, receiver):
    """``receiver`` connected to ``signal`` for the block only."""
    signal.connect(receiver, weak=False)
    try:
        yield
    finally:
        signal.disconnect(receiver)


def race(calls) -> Counter:
    """Run every call at once, one thread and database connection each (PostgreSQL race tests); count
    the outcomes: ``ok`` or the ``DomainError`` code."""
    barrier = threading.Barrier(len(calls))
    outcomes, lock = [], threading.Lock()

    def run(call):
        try:
            barrier.wait()
            call()
            outcome = "ok"
        except DomainError as exc:
            outcome = exc.code
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Counter(outcomes)


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


requires_postgres = pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("sqlite") or not os.environ.get("DATABASE_URL"),
    reason="needs PostgreSQL (row locks, real concurrency): set DATABASE_URL=postgres://… (CI does)",
)


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
