"""No duplicate use under real concurrency: many requests race for one code on PostgreSQL."""

import threading
from collections import Counter

import pytest
from django.db import connection

from apps.codes import operations as ops
from apps.codes.models import ActivationCode, CodeEvent
from apps.core.errors import DomainError
from tests.conftest import requires_postgres

from .conftest import T0, make_unit

THREADS = 50
ROUNDS = 20


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_requests_apply_one_code_and_exactly_one_wins(cw):
    units = [make_unit(cw.north_client, f"racer {i:02d}") for i in range(THREADS)]
    for round_no in range(ROUNDS):
        code = ops.generate_codes(actor=cw.top, service=cw.acme, quantity=1, validity_days=30, now=T0)[0]
        barrier = threading.Barrier(THREADS)
        outcomes: list[str] = []
        lock = threading.Lock()

        def apply(unit):
            try:
                barrier.wait()
                ops.apply_code(actor=cw.top, code_text=code.code, unit=unit, now=T0)
                outcome = "ok"
            except DomainError as exc:
                outcome = exc.code
            finally:
                connection.close()
            with lock:
                outcomes.append(outcome)

        threads = [threading.Thread(target=apply, args=(unit,)) for unit in units]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        counts = Counter(outcomes)
        assert counts["ok"] == 1, (round_no, counts)
        assert set(counts) <= {"ok", "code_busy", "code_in_use"}, counts
        assert sum(counts.values()) == THREADS
        assert CodeEvent.objects.filter(code=code.code, action="applied").count() == 1
        row = ActivationCode.objects.get(pk=code.pk)
        assert row.unit_id is not None and row.status == "active"
        ops.unassign_code(actor=cw.top, code=row, now=T0)  # every unit is free again for the next round
    assert CodeEvent.objects.filter(action="applied").count() == ROUNDS
