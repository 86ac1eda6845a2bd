"""Two imports of files naming the same plans at once (PostgreSQL, real threads): the plans' locks
serialise them, so each name is added once, with one event, and no import fails on the unique pair."""

import threading

import pytest
from django.db import connection

from apps.plans import operations
from apps.plans.models import PlanEvent, PlanService
from tests.helpers import requires_postgres

THREADS = 8
HEADERS = ["plan", "name", "type", "interval", "cost table", "description"]


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_imports_of_one_file_add_each_name_once(world):
    names = ["sms", "drivers", "jobs", "zones_library"]
    rows = [(n, dict(zip(HEADERS, [plan, name, "", "none", "", ""])))
            for n, (plan, name) in enumerate(((p, m) for p in ("Dealer", "Base") for m in names), 1)]
    barrier = threading.Barrier(THREADS)
    outcomes, lock = [], threading.Lock()

    def run():
        try:
            barrier.wait()
            check = operations.import_file_rows(actor=world.top, service=world.acme, rows=rows, mode="add")
            outcome = check.counts()["new"]
        except Exception as exc:  # noqa: BLE001 - any failure is the finding
            outcome = repr(exc)
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == [0] * (THREADS - 1) + [8], outcomes
    for plan in (world.dealer_plan, world.base_plan):
        assert sorted(PlanService.objects.filter(plan=plan, name__in=names).values_list("name", flat=True)) == \
            sorted(names)
    assert PlanEvent.objects.filter(action="service_added", details__by="file import").count() == 8
