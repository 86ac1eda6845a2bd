"""The code log is append-only: the model refuses, and on PostgreSQL triggers refuse UPDATE, DELETE and
TRUNCATE too, outside the tests' one switch. An event's time and actor come from the operation."""

from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import ProgrammingError, connection, transaction

from apps.codes import queries
from apps.codes.models import CodeEvent
from apps.core import guards
from tests.helpers import requires_postgres

from tests.codes.helpers import T0


@pytest.fixture
def event(cw, new_code):
    new_code()
    return CodeEvent.objects.get(action="generated")


def test_the_model_refuses_changes_and_deletes(event):
    event.actor_name = "someone else"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        CodeEvent.objects.filter(pk=event.pk).update(actor_name="x")
    with pytest.raises(PermissionError):
        CodeEvent.objects.filter(pk=event.pk).delete()
    assert CodeEvent.objects.get(pk=event.pk).actor_name == "top"


GUARDED = ("UPDATE codes_codeevent SET actor_name = 'x' WHERE id = %s",
           "DELETE FROM codes_codeevent WHERE id = %s",
           "TRUNCATE codes_codeevent")


def _refused(sql: str, pk: int) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [pk] if "%s" in sql else None)
            raise _RolledBack  # it went through: undo it, the next statement needs the row
    except ProgrammingError as exc:
        assert "pgtrigger: Cannot" in str(exc)
        return True
    except _RolledBack:
        return False


class _RolledBack(Exception):
    pass


@requires_postgres
def test_the_database_refuses_raw_updates_deletes_and_truncate(event):
    assert [_refused(sql, event.pk) for sql in GUARDED] == [True, True, True]
    assert CodeEvent.objects.filter(pk=event.pk, actor_name="top").exists()


@requires_postgres
def test_the_one_switch_lifts_the_guards_for_its_block_only(event):
    assert set(guards.guard_uris()) >= {"codes.CodeEvent:code_event_append_only",
                                        "codes.CodeEvent:code_event_append_only_truncate"}
    with guards.lifted():
        assert [_refused(sql, event.pk) for sql in GUARDED] == [False, False, False]
    assert [_refused(sql, event.pk) for sql in GUARDED] == [True, True, True]


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_the_guards_hold_inside_transactional_tests_too(cw, new_code):
    """Only the flush after the test lifts them (tests/conftest.py); this test's own flush proves the
    switch works, as every transactional test's does now that TRUNCATE is refused."""
    new_code()
    event = CodeEvent.objects.get(action="generated")
    assert [_refused(sql, event.pk) for sql in GUARDED] == [True, True, True]


def test_an_events_time_and_actor_come_from_the_operation_not_the_request(cw, new_code, as_user):
    code = new_code()
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        response = as_user(cw.north_restricted).post(
            "/api/v1/codes/apply/", {"code": code.code, "unit": cw.north_unit.pk, "at": "2001-01-01T00:00:00Z",
                                     "actor": cw.top.pk, "actor_name": "top"}, format="json")
    assert response.status_code == 200, response.data
    event = CodeEvent.objects.get(code_id=code.pk, action="applied")
    assert (event.at, event.actor_id, event.actor_name) == (T0 + timedelta(hours=2), cw.north_restricted.pk,
                                                            "north_restricted")
    client = as_user(cw.top)
    assert client.post("/api/v1/code-events/", {"at": "2001-01-01T00:00:00Z", "action": "expired"},
                       format="json").status_code == 405


@pytest.mark.parametrize("job", ["expire_codes", "clear_expired_codes", "send_expiry_notices"])
def test_the_jobs_take_no_time_from_whoever_runs_them(cw, job):
    with pytest.raises(CommandError):
        call_command(job, "--now", "2001-01-01T00:00:00+00:00")


def test_distributors_see_events_of_their_subtree_only(cw, new_code):
    from apps.codes import operations as ops

    north_code = new_code(shared_with=cw.north)
    ops.assign_code(actor=cw.north_op, code=north_code, unit=cw.north_unit, now=T0)
    south_code = new_code(shared_with=cw.south)
    north_sees = set(queries.code_events_visible_to(cw.north_op).values_list("code", "action"))
    assert (north_code.code, "assigned") in north_sees and (north_code.code, "shared") in north_sees
    assert not any(code == south_code.code for code, _ in north_sees)
    assert not any(action == "generated" for _, action in north_sees)  # "generated" only at the top
    assert (south_code.code, "generated") in set(queries.code_events_visible_to(cw.top).values_list("code", "action"))
    assert not queries.code_events_visible_to(cw.other_top).exists()
    assert not queries.code_events_visible_to(cw.north_restricted).exists()


def test_a_unit_event_stays_visible_to_the_branch_that_held_the_unit(cw, new_code):
    from apps.codes import operations as ops

    code = ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit, now=T0)  # held by the top
    visible = set(queries.code_events_visible_to(cw.north_op).filter(code=code.code).values_list("action", flat=True))
    assert visible == {"assigned", "unit_activated"}
    assert not queries.code_events_visible_to(cw.south_op).filter(code=code.code).exists()


def test_the_log_filtered_by_a_loosely_typed_code_holds_that_codes_events_only(cw, new_code):
    from apps.codes import operations as ops

    code = ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit, now=T0)
    new_code()
    typed = "-".join(code.code[i:i + 8] for i in range(0, 32, 8)).upper()
    events = queries.events_of_code(CodeEvent.objects.all(), typed)
    assert list(events.order_by("id").values_list("code", "action")) == [
        (code.code, "generated"), (code.code, "assigned"), (code.code, "unit_activated")]
    assert not queries.events_of_code(CodeEvent.objects.all(), "not a code").exists()
