"""Property-based tests of the whole API, generated from its OpenAPI schema (issue 11, SPEC §9.1).

Schemathesis reads the schema the site serves (``/api/schema/``) and, for every operation, sends
requests generated from it (valid and invalid bodies, queries and path ids) through the WSGI app,
in process, on the Django test database, as a top user and as a distributor. Every answer must be
below 500, have a status the schema documents for the operation, and match that status's
documented body.

Bounds: ``MAX_EXAMPLES`` examples per operation and role, derandomized (the same cases every run,
so CI is deterministic), no deadline (the machine is slow and shared). Each example runs in a
savepoint that is rolled back, so examples do not pile state on each other and no example can lock
the acting operator out for the next one (blocking its account, deactivating it, rotating its token).
``codes/generate`` is capped at a few codes a call; token rotation is tested apart.
"""

import hashlib
from collections import Counter
import os
import time

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from apps.accounts import operations as account_operations
from apps.codes import operations as code_operations
from apps.plans.models import PlanService
from apps.units import operations as unit_operations

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "20"))
MAX_GENERATED_CODES = 3
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
TOKEN_ROTATION = "/api/v1/operators/{id}/token/"


@pytest.fixture
def api_world(world):
    """The shared world plus a unit, a monitoring user with a grant, codes and a notice in North's branch,
    so generated ids sometimes hit real objects (see ``_known_ids``). The unit services are free in
    "Base" (as in the units tests) so the kernel allows the units the runs create."""
    PlanService.objects.bulk_create([PlanService(plan=world.base_plan, name=name, type="periodic", interval="monthly")
                                     for name in ("avl_unit", "unit_sensors", "unit_alias", "storage_user")])
    code_operations.switch_billing_method(actor=world.platform, service=world.acme, method="activation_codes",
                                          confirm=True)
    world.acme.refresh_from_db()
    unit = unit_operations.create_unit(actor=world.top, account=world.north_client, name="North truck",
                                       unique_id="356000000000001")
    user = unit_operations.create_monitoring_user(actor=world.top, account=world.north_client, name="North viewer")
    grant = unit_operations.grant_access(actor=world.top, user=user, unit=unit, account=None)
    codes = code_operations.generate_codes(actor=world.top, service=world.acme, quantity=2, validity_days=30,
                                           shared_with=world.north)
    notice = code_operations.create_notice(actor=world.top, name="North notice", text="Renew", days_before=7,
                                           recipients=[world.north_op])
    world.ids = {
        "id": [world.north_client.pk, world.north.pk, unit.pk, world.base_plan.pk, world.north_op.pk, notice.pk],
        "pk": [world.north_client.pk, world.north.pk],
        "plan_id": [world.base_plan.pk, world.dealer_plan.pk],
        "user_id": [user.pk],
        "code": [c.code for c in codes],
        "grant_id": [grant.pk],
    }
    return world


def _operator_key(operator) -> str:
    return account_operations.rotate_token(actor=operator, operator=operator)


@pytest.fixture
def api_schema(api_world):
    """The schema as the site serves it. The WSGI handler closes the connection at the end of every
    request, which would end the test's transaction: as Django's test client does, those signal
    receivers are off while the app runs in process."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        key = _operator_key(api_world.top)
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application(),
                                             headers={"Authorization": f"Token {key}"})
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _known_ids(case, ids):
    """Point about half of the generated path ids at real objects (chosen from the generated value, so
    the choice is as deterministic as the generation), the rest stay as generated (mostly absent)."""
    for name, value in list((case.path_parameters or {}).items()):
        choices = ids.get(name)
        if not choices:
            continue
        digest = int(hashlib.sha256(repr(value).encode()).hexdigest(), 16)
        if digest % 2 == 0:
            case.path_parameters[name] = choices[digest // 2 % len(choices)]


def _cap_generated_codes(case):
    if case.operation.path == "/api/v1/codes/generate/" and isinstance(case.body, dict):
        quantity = case.body.get("quantity")
        if isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > MAX_GENERATED_CODES:
            case.body["quantity"] = MAX_GENERATED_CODES


SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


def _explore(schema, operator, ids, keep) -> tuple[int, Counter, list[str]]:
    """The operations ``keep`` accepts, positive and negative cases, as ``operator``; each case in a
    savepoint rolled back after its checks. Returns (operations, statuses answered, failures)."""
    key = _operator_key(operator)
    operations, statuses, failures = 0, Counter(), []
    for result in schema.get_all_operations():
        operation = result.ok()
        if not keep(operation):
            continue
        operations += 1
        strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                             operation.as_strategy(GenerationMode.NEGATIVE))

        @SETTINGS
        @given(case=strategy)
        def explore(case):
            _known_ids(case, ids)
            _cap_generated_codes(case)
            with transaction.atomic():
                response = case.call(headers={"Authorization": f"Token {key}"})
                statuses[response.status_code] += 1
                try:
                    case.validate_response(response, checks=CHECKS)
                finally:
                    transaction.set_rollback(True)

        try:
            explore()
        except (Exception, BaseExceptionGroup) as error:  # every operation is tried; all failures are reported
            failures.append(f"{operation.label}: {error}")
    return operations, statuses, failures


@pytest.mark.parametrize("role", ["top", "north_op"])
def test_api_conforms_to_its_schema(api_schema, api_world, role):
    """Every operation but token rotation (below), as a top user and as a distributor."""
    started = time.monotonic()
    operations, statuses, failures = _explore(api_schema, getattr(api_world, role), api_world.ids,
                                              keep=lambda operation: operation.path != TOKEN_ROTATION)
    print(f"\nschemathesis as {role}: {operations} operations, {statuses.total()} cases "
          f"({dict(sorted(statuses.items()))}), {time.monotonic() - started:.0f} s")
    assert operations > 60 and statuses.total() >= operations * MAX_EXAMPLES // 2
    assert statuses[200] + statuses[201] + statuses[204] >= operations * MAX_EXAMPLES // 15  # not only refusals
    assert not failures, "\n\n".join(failures)


def test_token_rotation_conforms_to_its_schema(api_schema, api_world):
    """Token rotation apart: the top user rotates other operators' tokens (never its own, which
    would end its run), and absent or out-of-scope ids."""
    ids = {"id": [api_world.north_op.pk, api_world.north_east_op.pk, api_world.other_top.pk]}
    operations, statuses, failures = _explore(api_schema, api_world.top, ids,
                                              keep=lambda operation: operation.path == TOKEN_ROTATION)
    assert operations == 1 and statuses[201] and statuses[404]
    assert not failures, "\n\n".join(failures)
