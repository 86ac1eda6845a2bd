"""The codes window writes its rows in one pass (``apps/core/templatetags/fast_rows.py``): the same HTML Django's
``items_for_result`` writes, cell for cell, for codes in every state, with and without the list's filters, as a
top user and a distributor."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.admin.templatetags import admin_list
from django.test import Client
from django.utils import timezone

from apps.codes import operations as ops
from apps.core.templatetags import fast_rows

from tests.codes.helpers import T0

WINDOW = "/admin/codes/activationcode/"


@pytest.fixture
def codes_in_every_state(cw):
    new, live, queued, shared, short, unassigned, stock = ops.generate_codes(
        actor=cw.top, service=cw.acme, quantity=7, validity_days=30, now=T0)
    ops.share_code(actor=cw.top, code=stock, account=cw.north, now=T0)  # a new code in the distributor's stock
    ops.assign_code(actor=cw.top, code=live, unit=cw.north_unit, now=T0)
    ops.queue_code(actor=cw.top, code=queued, unit=cw.north_unit, now=T0)
    ops.share_code(actor=cw.top, code=shared, account=cw.north, now=T0)
    ops.assign_code(actor=cw.north_op, code=shared, unit=cw.north_east_unit, now=T0)
    ops.assign_code(actor=cw.top, code=short, unit=cw.south_unit, now=T0)
    ops.assign_code(actor=cw.top, code=unassigned, unit=cw.north_unit2, now=T0)
    ops.unassign_code(actor=cw.top, code=unassigned, now=T0 + timedelta(hours=1))
    return cw


@pytest.mark.parametrize("who", ["top", "north_op"])
@pytest.mark.parametrize("query", ["", "?state=all", "?state=new", "?validity_days=30",
                                   "?assigned=yes"])
def test_each_row_is_the_html_django_writes(codes_in_every_state, who, query):
    cw = codes_in_every_state
    client = Client()
    client.force_login(getattr(cw, who))
    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        response = client.get(WINDOW + query)
        assert response.status_code == 200
        cl = response.context["cl"]
        assert fast_rows._plain(cl), "every column of the window is an admin method: the fast rows apply"
        rows = list(cl.result_list)
        with timezone.override(ZoneInfo(cw.acme.timezone)):  # the page's zone (the viewer's service)
            fast = ["".join(row) for row in fast_rows.fast_results(cl)]
            django = ["".join(row) for row in admin_list.results(cl)]
    assert len(fast) == len(rows) > 0
    assert fast == django
    html = response.content.decode()
    missing = [row for row in fast if f"<tr>{row}</tr>" not in html]
    assert not missing, missing[:2]


def test_a_list_with_a_model_field_column_keeps_djangos_rows(cw, monkeypatch):
    from apps.codes.admin import ActivationCodeAdmin

    monkeypatch.setattr(ActivationCodeAdmin, "list_display", ("code", *ActivationCodeAdmin.list_display[1:]))
    client = Client()
    client.force_login(cw.top)
    ops.generate_codes(actor=cw.top, service=cw.acme, quantity=2, validity_days=30, now=T0)
    response = client.get(WINDOW)
    assert response.status_code == 200
    assert not fast_rows._plain(response.context["cl"])
