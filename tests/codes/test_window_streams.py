"""The codes window's merged reads (issue 16, ``apps/codes/window.py``): the default view and the states with
a clock read new and live codes from two indexes and merge them. The rows, their order (``-created_at, id``,
ties included), the count and every page must be exactly the plain list's, due codes the sweep has not
reached yet hidden as expired, for each filter and role. Runs on SQLite and on PostgreSQL (where the live
codes come from the GiST index, nearest first)."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction

from apps.codes import operations as ops
from apps.codes import window
from apps.codes.queries import codes_visible_to
from apps.codes.admin import ActivationCodeAdmin
from apps.codes.models import ActivationCode, CodeStatus
from apps.core.admin import CappedPaginator

from tests.helpers import requires_postgres

from .helpers import T0, make_unit

CHANGELIST = "/admin/codes/activationcode/"
NOW = T0 + timedelta(days=2)
FILTERS = ["", "state=active", "state=active_assigned", "state=active_unassigned", "state=queued", "assigned=yes",
           "assigned=no", "validity_days=30", "validity_days=90", "shared_with=none", "expiring_within=30",
           "state=new", "state=expired", "state=all", "assigned=no&expiring_within=30", "state=expired&assigned=yes",
           "state=active_assigned&validity_days=30"]


@pytest.fixture
def mixed(cw):
    """Codes of every kind in batches sharing their creation instant (ties broken by id): new, live on a unit,
    live on no unit, due but not swept (stored active, expiry past), expired, queued; half shared."""
    units = [make_unit(cw.north_client, f"Streams {i}") for i in range(6)]
    codes = []
    for batch, hours in enumerate((30, 20, 10, 5)):
        codes += ops.generate_codes(actor=cw.top, service=cw.acme, quantity=12, validity_days=30 if batch % 2 else 90,
                                    shared_with=cw.north if batch % 2 else None, now=T0 - timedelta(hours=hours))
    for i, code in enumerate(codes):
        kind = i % 6
        if kind == 0 and i // 6 < len(units):  # live on a unit
            ops.assign_code(actor=cw.top, code=code, unit=units[i // 6], now=T0)
        elif kind == 1:  # running on no unit
            ActivationCode.objects.filter(pk=code.pk).update(status=CodeStatus.ACTIVE, activated_at=T0,
                                                             expires_at=NOW + timedelta(days=10))
        elif kind == 2:  # due: the sweep is late
            ActivationCode.objects.filter(pk=code.pk).update(status=CodeStatus.ACTIVE, activated_at=T0,
                                                             expires_at=NOW - timedelta(hours=1))
        elif kind == 3:  # expired and swept
            ActivationCode.objects.filter(pk=code.pk).update(status=CodeStatus.EXPIRED, activated_at=T0,
                                                             expires_at=NOW - timedelta(days=1))
    live_unit = ActivationCode.objects.filter(unit=units[0], status=CodeStatus.ACTIVE).get()
    queued = ActivationCode.objects.filter(status=CodeStatus.NEW, service=cw.acme).order_by("pk").last()
    ActivationCode.objects.filter(pk=live_unit.pk).update(expires_at=NOW + timedelta(days=3))
    ops.queue_code(actor=cw.top, code=queued, unit=units[0], now=T0)
    # A queued code whose planned start has passed before the sweep started it (active on its unit), and one
    # whose whole time has passed too (expired): the sweep is late for both.
    for unit, start, end in ((units[1], NOW - timedelta(hours=2), NOW + timedelta(days=20)),
                             (units[2], NOW - timedelta(days=40), NOW - timedelta(days=10))):
        live = ActivationCode.objects.filter(unit=unit, status=CodeStatus.ACTIVE).get()
        late = ActivationCode.objects.filter(status=CodeStatus.NEW, service=cw.acme).order_by("pk").last()
        ActivationCode.objects.filter(pk=live.pk).update(expires_at=T0 + timedelta(days=1))
        ops.queue_code(actor=cw.top, code=late, unit=unit, now=T0)
        ActivationCode.objects.filter(pk=late.pk).update(activated_at=start, expires_at=end)
    return cw


def _all_pages(client, query: str) -> tuple[int, list[int]]:
    rows, page = [], 1
    while True:
        response = client.get(f"{CHANGELIST}?{query}&p={page}" if query else f"{CHANGELIST}?p={page}")
        assert response.status_code == 200, (query, page, response.status_code)
        cl = response.context["cl"]
        rows += [code.pk for code in cl.result_list]
        if not cl.multi_page or page * cl.list_per_page >= cl.result_count:
            return cl.result_count, rows
        page += 1


@pytest.mark.parametrize("who", ["top", "north_op"])
def test_merged_pages_equal_the_plain_list(mixed, client, monkeypatch, who):
    monkeypatch.setattr(ActivationCodeAdmin, "list_per_page", 5)
    monkeypatch.setattr(CappedPaginator, "CAP", 1000)
    client.force_login(getattr(mixed, who))
    plain_streams = window.streams_for
    with time_machine.travel(NOW, tick=False):
        for query in FILTERS:
            merged = _all_pages(client, query)
            monkeypatch.setattr(window, "streams_for", lambda *args, **kwargs: None)
            plain = _all_pages(client, query)
            monkeypatch.setattr(window, "streams_for", plain_streams)
            assert merged == plain, query
            assert plain[0] == len(plain[1]) == len(set(plain[1])), query
    # The fixture has what the merge must get right: due codes (hidden by default), ties, queued codes.
    with time_machine.travel(NOW, tick=False):
        default = _all_pages(client, "")[1]
    due = set(ActivationCode.objects.filter(status=CodeStatus.ACTIVE, expires_at__lte=NOW).values_list("pk", flat=True))
    assert due and not (due & set(default))
    states = {code.state(at=NOW) for code in ActivationCode.objects.filter(status=CodeStatus.QUEUED)}
    assert states == {CodeStatus.QUEUED, CodeStatus.ACTIVE, CodeStatus.EXPIRED}


def test_the_streams_follow_the_filters():
    # Expired codes: the swept ones (a b-tree) and the due ones the sweep has not reached (nearest first).
    assert [nearest for _, nearest in window.streams_for({"state": "expired"}, T0, whole_service=True)] == [False, True]
    assert window.streams_for({"state": "bogus"}, T0, whole_service=True) is None
    # Not on a unit: new, active on no unit, queued; on a unit and not expired: active on a unit, one part.
    assert len(window.streams_for({"assigned": "no"}, T0, whole_service=True)) == 3
    assert len(window.streams_for({"state": "active_assigned"}, T0, whole_service=False)) == 2
    assert len(window.streams_for({"state": "new"}, T0, whole_service=True)) == 1
    assert window.streams_for({"q": "truck"}, T0, whole_service=True) is None
    assert window.streams_for({"o": "3"}, T0, whole_service=True) is None
    assert window.streams_for({"shared_with": "7"}, T0, whole_service=True) is None
    assert len(window.streams_for({}, T0, whole_service=True)) == 2
    # No new code can match a filter on the clock or on the unit: the new codes' index is not read.
    assert len(window.streams_for({"assigned": "yes"}, T0, whole_service=True)) == 1
    assert len(window.streams_for({"expiring_within": "7"}, T0, whole_service=True)) == 1


@requires_postgres
def test_a_branch_is_a_condition_of_the_gist_indexes(mixed):
    """The GiST indexes of ``btree_gist`` compare ``bigint`` with ``bigint`` only: the scope's service and branch
    are bound as ``bigint`` so that a distributor's nearest-first read is narrowed to its branch inside the index
    (bound as ``integer`` they were a filter on every live code of the service)."""
    part = codes_visible_to(mixed.north_op).filter(window.streams_for({}, NOW, whole_service=False)[1][0])
    sql, params = window.WindowPaginator._ordered(part, True).values_list("pk")[:10].query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "code_live_knn" in plan, plan
    condition = next(line for line in plan.splitlines() if "Index Cond" in line)
    assert "holder_branch" in condition and "service_id" in condition, plan
