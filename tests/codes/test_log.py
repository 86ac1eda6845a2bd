"""The code log is append-only: the model refuses, and on PostgreSQL a trigger refuses too."""

import pytest
from django.db import ProgrammingError, connection, transaction

from apps.codes import queries
from apps.codes.models import CodeEvent

from .conftest import T0


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


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")
def test_the_database_refuses_raw_updates_and_deletes(event):
    for sql in ("UPDATE codes_codeevent SET actor_name = 'x' WHERE id = %s",
                "DELETE FROM codes_codeevent WHERE id = %s"):
        with pytest.raises(ProgrammingError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])
    assert CodeEvent.objects.filter(pk=event.pk, actor_name="top").exists()


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
