"""The PostgreSQL one-statement paths of the sweep and of generation write exactly what the ORM paths
(the ones SQLite runs) write: both are run on the same data, each in a savepoint rolled back, and
their rows and events compared. Generated codes come back as the rows they are, on every backend."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import signals

from apps.accounts.models import AuditEvent
from apps.codes import operations as ops
from apps.codes.models import ActivationCode, CodeEvent
from apps.units.models import Unit
from tests.helpers import requires_postgres

from tests.codes.helpers import T0, make_unit

EVENT_FIELDS = [f.attname for f in CodeEvent._meta.concrete_fields if not f.primary_key]


def _values(code: ActivationCode) -> dict:
    return {f.attname: getattr(code, f.attname) for f in ActivationCode._meta.concrete_fields}


def _same_as_rows(codes: list[ActivationCode]) -> dict[int, ActivationCode]:
    """Each returned instance holds its row's values and the state of a row loaded from the database."""
    rows = ActivationCode.objects.in_bulk([c.pk for c in codes])
    assert len(rows) == len(codes)
    for code in codes:
        assert _values(code) == _values(rows[code.pk])
        assert (code._state.adding, code._state.db) == (False, "default")
    return rows


@pytest.fixture
def mixed(cw):
    """Due codes of every kind in two services, plus one not yet due."""
    due_days = 10
    assign = lambda code, unit: ops.assign_code(actor=cw.top, code=code, unit=unit, now=T0)  # noqa: E731
    new = lambda **kw: ops.generate_codes(actor=cw.top, service=cw.acme, quantity=1, now=T0, **kw)[0]  # noqa: E731
    for i in range(5):  # on active units
        assign(new(validity_days=1 + i), make_unit(cw.north_client, f"due {i}"))
    assign(new(validity_days=2, shared_with=cw.north), cw.north_unit)  # shared, on an active unit
    manual = make_unit(cw.south_client, "off by hand")
    assign(new(validity_days=3), manual)
    Unit.objects.filter(pk=manual.pk).update(active=False, deactivation_reason="manual")  # stays as it is
    ops.unassign_code(actor=cw.top, code=assign(new(validity_days=4), cw.south_unit), now=T0)  # active, no unit
    assign(new(validity_days=60), cw.north_unit2)  # not due
    # Another service, billed monthly when the sweep runs: its code expires, its unit stays active.
    other = cw.other_service
    ops.switch_billing_method(actor=cw.platform, service=other, method="activation_codes", confirm=True, now=T0)
    other_unit = make_unit(other.children.get(), "other truck")
    ops.assign_code(actor=cw.platform, unit=other_unit, now=T0, code=ops.generate_codes(
        actor=cw.platform, service=other, quantity=1, validity_days=5, now=T0)[0])
    ops.switch_billing_method(actor=cw.platform, service=other, method="monthly", confirm=True, now=T0)
    return T0 + timedelta(days=due_days)


def _orm_sweep():
    return ops.sweep._expire_batch_orm, ops.sweep.SWEEP_BATCH


def _sweep_outcome(at, **kwargs):
    """Run the sweep in a savepoint rolled back afterwards; return what it wrote."""
    last_event = CodeEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    last_audit = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    with transaction.atomic():
        count = ops.expire_codes(now=at, **kwargs)
        # The trail with its numbers and hashes: the PostgreSQL path derives it in the database
        # (``audit.record_select``), the ORM path in Python (``record_many``); the same chain either way.
        trail = list(AuditEvent.objects.filter(id__gt=last_audit).order_by("chain", "seq").values_list(
            "chain", "seq", "action", "account_id", "account_name", "account_path", "subject_type", "subject_id",
            "subject_name", "actor_id", "actor_name", "before", "after", "reason", "hash"))
        codes = list(ActivationCode.objects.order_by("id").values_list("id", "status", "unit_id"))
        units = list(Unit.objects.order_by("id").values_list("id", "active", "deactivated_at", "deactivation_reason"))
        events = list(CodeEvent.objects.filter(id__gt=last_event).order_by("id").values("id", *EVENT_FIELDS))
        transaction.set_rollback(True)
    for event in events:  # a code's events in id order: expired before its unit's deactivation
        if event["action"] == "unit_deactivated":
            assert any(e["action"] == "expired" and e["code_id"] == event["code_id"] and e["id"] < event["id"]
                       for e in events)
    rows = sorted(tuple(str(e[f]) for f in EVENT_FIELDS) for e in events)
    assert {row[2] for row in trail} <= {"code_expired", "code_renewed"} and trail
    return count, codes, units, rows, trail


@requires_postgres
@pytest.mark.parametrize("batch", [None, 2], ids=["one batch", "batches of two"])
def test_the_sweep_statement_writes_what_the_orm_path_writes(mixed, monkeypatch, batch):
    if batch:
        monkeypatch.setattr(ops.sweep, "EXPIRE_BATCH_PG", batch)
        monkeypatch.setattr(ops.sweep, "SWEEP_BATCH", batch)
    pg = _sweep_outcome(mixed)
    monkeypatch.setattr(ops.sweep, "_sweep_batches", _orm_sweep)
    orm = _sweep_outcome(mixed)
    assert pg == orm
    count, codes, units, events, _ = pg
    assert count == 9
    assert sum(row[EVENT_FIELDS.index("action")] == "unit_deactivated" for row in events) == 6


@requires_postgres
def test_a_sweep_of_one_service_matches_too(mixed, cw, monkeypatch):
    pg = _sweep_outcome(mixed, service_id=cw.acme.pk)
    monkeypatch.setattr(ops.sweep, "_sweep_batches", _orm_sweep)
    assert pg == _sweep_outcome(mixed, service_id=cw.acme.pk)
    assert pg[0] == 8


@requires_postgres
def test_the_sweep_is_one_statement_per_batch(mixed, django_assert_num_queries):
    # A batch and the last pass, each: its savepoint, SET LOCAL work_mem, the statement, the release. The
    # batch's statement also writes its audit trail (locks both services' chain heads, hashes and inserts
    # the events); one more statement moves the heads (``audit.move_heads``). Fixed, whatever the number of
    # codes or services.
    with django_assert_num_queries(9):
        assert ops.expire_codes(now=mixed) == 9


def _generation_outcome(cw, shared_with):
    """Generate in a savepoint rolled back afterwards; return the rows and events, with the codes'
    random text and ids replaced by their rank among the returned codes."""
    last_event = CodeEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    with transaction.atomic():
        codes = ops.generate_codes(actor=cw.top, service=cw.acme, quantity=7, validity_days=90,
                                   shared_with=shared_with, now=T0)
        rows = _same_as_rows(codes)
        rank = {code.pk: i for i, code in enumerate(sorted(codes, key=lambda c: c.pk))}
        events = list(CodeEvent.objects.filter(id__gt=last_event).order_by("id").values("id", *EVENT_FIELDS))
        transaction.set_rollback(True)
    for event in events:
        assert event.pop("code") == rows[event["code_id"]].code
        event["code_id"] = rank[event["code_id"]]
    actions = [e["action"] for e in events]
    for event in events:
        event.pop("id")
    stored = sorted((rank[pk], {k: v for k, v in _values(row).items() if k not in ("id", "code")})
                    for pk, row in rows.items())
    return len(codes), stored, actions, sorted(events, key=lambda e: (e["code_id"], e["action"]))


@requires_postgres
@pytest.mark.parametrize("shared", [False, True], ids=["held by the top", "shared"])
def test_the_generation_statement_writes_what_the_orm_path_writes(cw, monkeypatch, shared):
    monkeypatch.setattr(ops.generation, "GENERATE_BATCH", 3)  # 7 codes: three batches
    shared_with = cw.north if shared else None
    pg = _generation_outcome(cw, shared_with)
    monkeypatch.setattr(ops.generation, "_generate_batch", lambda: ops.generation._insert_generated_orm)
    orm = _generation_outcome(cw, shared_with)
    assert pg == orm
    count, stored, actions, events = pg
    assert count == 7 and len(events) == (14 if shared else 7)
    per_batch = ["generated"] * 3 + (["shared"] * 3 if shared else [])
    assert actions[:len(per_batch)] == per_batch  # per batch: every code's generated event, then shared


def test_generated_codes_go_through_from_db_when_something_listens_to_post_init(cw):
    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance)

    signals.post_init.connect(listener, sender=ActivationCode)
    try:
        codes = ops.generate_codes(actor=cw.top, service=cw.acme, quantity=3, validity_days=30, now=T0)
    finally:
        signals.post_init.disconnect(listener, sender=ActivationCode)
    assert seen == codes
    _same_as_rows(codes)


def test_generated_codes_are_their_rows(cw):
    codes = ops.generate_codes(actor=cw.top, service=cw.acme, quantity=4, validity_days=30, shared_with=cw.north,
                               now=T0)
    _same_as_rows(codes)
    codes[0].refresh_from_db()  # and behave like any loaded instance
    assert codes[0].shared_with == cw.north and codes[0].service_id == cw.acme.pk


@pytest.fixture
def queued_mixed(cw, mixed):
    """``mixed`` plus the renewal queue (SPEC §9.5): due codes with a queued code (long, and short enough
    to be due itself by the sweep), a queued code behind a code not due, one on a unit switched off by
    hand, and one in the service billed monthly when the sweep runs."""
    at = mixed
    new = lambda **kw: ops.generate_codes(actor=cw.top, service=cw.acme, quantity=1, now=T0, **kw)[0]  # noqa: E731
    queue = lambda code, unit: ops.queue_code(actor=cw.top, code=code, unit=unit, now=T0)  # noqa: E731
    units = Unit.objects.filter(name__startswith="due ").order_by("name")
    queue(new(validity_days=30), units[0])  # renewed, runs on
    queue(new(validity_days=2, shared_with=cw.north), units[1])  # renewed, then due itself: expired too
    queue(new(validity_days=30), units[2])
    queue(new(validity_days=30), cw.north_unit2)  # behind a code not due: untouched
    queue(new(validity_days=30), Unit.objects.get(name="off by hand"))  # renewed; the unit stays off
    other = cw.other_service
    ops.switch_billing_method(actor=cw.platform, service=other, method="activation_codes", confirm=True, now=T0)
    ops.queue_code(actor=cw.platform, code=ops.generate_codes(actor=cw.platform, service=other, quantity=1,
                                                              validity_days=30, now=T0)[0],
                   unit=Unit.objects.get(name="other truck"), now=T0)
    ops.switch_billing_method(actor=cw.platform, service=other, method="monthly", confirm=True, now=T0)
    return at




@requires_postgres
@pytest.mark.parametrize("batch", [None, 2], ids=["one batch", "batches of two"])
def test_the_sweep_statement_renews_what_the_orm_path_renews(queued_mixed, monkeypatch, batch):
    if batch:
        monkeypatch.setattr(ops.sweep, "EXPIRE_BATCH_PG", batch)
        monkeypatch.setattr(ops.sweep, "SWEEP_BATCH", batch)
    pg = _sweep_outcome(queued_mixed)
    # the renewed rows themselves (clock to the microsecond), read before the savepoint is rolled back
    monkeypatch.setattr(ops.sweep, "_sweep_batches", _orm_sweep)
    orm = _sweep_outcome(queued_mixed)
    assert pg == orm
    count, codes, units, events, _ = pg
    actions = [row[EVENT_FIELDS.index("action")] for row in events]
    assert actions.count("renewed") == 5
    assert count == 10  # the nine of ``mixed`` and the short renewal, due by then
    assert actions.count("unit_deactivated") == 4  # six of ``mixed`` less the two renewed units still on


@requires_postgres
def test_a_sweep_of_one_service_renews_the_same_on_both_paths(queued_mixed, cw, monkeypatch):
    pg = _sweep_outcome(queued_mixed, service_id=cw.acme.pk)
    monkeypatch.setattr(ops.sweep, "_sweep_batches", _orm_sweep)
    assert pg == _sweep_outcome(queued_mixed, service_id=cw.acme.pk)
    assert sum(row[EVENT_FIELDS.index("action")] == "renewed" for row in pg[3]) == 4  # not the other service's


@requires_postgres
def test_both_sweep_paths_start_renewals_at_the_old_expiry(queued_mixed, monkeypatch):
    for path in ("pg", "orm"):
        if path == "orm":
            monkeypatch.setattr(ops.sweep, "_sweep_batches", _orm_sweep)
        with transaction.atomic():
            ops.expire_codes(now=queued_mixed)
            renewed = CodeEvent.objects.filter(action="renewed")
            assert renewed.count() == 5
            for event in renewed:
                code = ActivationCode.objects.get(pk=event.code_id)
                old = ActivationCode.objects.get(code=event.before["code"])
                assert code.activated_at == old.expires_at, path
                assert code.expires_at == old.expires_at + timedelta(days=code.validity_days), path
                assert code.unit_id == old.unit_id and code.queued_on_id is None
            transaction.set_rollback(True)
