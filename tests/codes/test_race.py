"""No duplicate use under real concurrency: many requests race for one code on PostgreSQL."""

import pytest

from apps.codes import operations as ops
from apps.codes.models import ActivationCode, CodeEvent
from tests.helpers import requires_postgres
from tests.helpers import race

from tests.codes.helpers import T0, make_unit

THREADS = 50
ROUNDS = 20


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_requests_apply_one_code_and_exactly_one_wins(cw):
    units = [make_unit(cw.north_client, f"racer {i:02d}") for i in range(THREADS)]
    for round_no in range(ROUNDS):
        code = ops.generate_codes(actor=cw.top, service=cw.acme, quantity=1, validity_days=30, now=T0)[0]
        counts = race([lambda u=unit: ops.apply_code(actor=cw.top, code_text=code.code, unit=u, now=T0)
                       for unit in units])
        assert counts["ok"] == 1, (round_no, counts)
        assert set(counts) <= {"ok", "code_busy", "code_in_use"}, counts
        assert sum(counts.values()) == THREADS
        assert CodeEvent.objects.filter(code=code.code, action="applied").count() == 1
        row = ActivationCode.objects.get(pk=code.pk)
        assert row.unit_id is not None and row.status == "active"
        ops.unassign_code(actor=cw.top, code=row, now=T0)  # every unit is free again for the next round
    assert CodeEvent.objects.filter(action="applied").count() == ROUNDS
