"""Concurrent writes on PostgreSQL: real threads, real row locks."""

import threading

import pytest
from django.db import connection

from apps.core.errors import DomainError
from apps.units import operations
from apps.units.models import Unit, UnitEvent
from tests.helpers import requires_postgres
from tests.units.helpers import counter


def run_together(*targets):
    """Start the callables at the same instant; return what each returned or raised."""
    barrier = threading.Barrier(len(targets))
    results = [None] * len(targets)

    def worker(index, target):
        try:
            barrier.wait()
            results[index] = target()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_units_racing_for_one_unique_id(world):
    def create(account, actor):
        return lambda: operations.create_unit(actor=actor, account=account, name="Racer", unique_id="RACE-1")

    results = run_together(create(world.north_client, world.north_op), create(world.south_client, world.south_op))
    units = [r for r in results if isinstance(r, Unit)]
    errors = [r for r in results if isinstance(r, DomainError)]
    assert len(units) == 1 and len(errors) == 1, results
    assert errors[0].fields == {"unique_id": ["A unit with this unique id already exists in this service."]}
    assert Unit.objects.filter(unique_id="RACE-1").count() == 1
    assert UnitEvent.objects.filter(action="created").count() == 1


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_archive_and_move_racing_leave_one_consistent_result(world, make_unit):
    unit = make_unit(world.north_client)

    results = run_together(
        lambda: operations.archive_unit(actor=world.top, unit=unit),
        lambda: operations.update_unit(actor=world.top, unit=unit, changes={"account": world.south_client}),
    )
    unit.refresh_from_db()
    assert unit.archived_at is not None, results
    # Whichever ran first, the archive released the unit where it was at that moment.
    assert counter(world.acme, "avl_unit") == (0, 0)
    assert counter(world.north_client, "avl_unit")[0] + counter(world.south_client, "avl_unit")[0] == 0
    archived, moved = results
    assert isinstance(archived, Unit)
    assert isinstance(moved, Unit) or (isinstance(moved, DomainError) and moved.status == 404)
