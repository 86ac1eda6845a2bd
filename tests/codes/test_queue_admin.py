"""The renewal queue in the codes window and pages: the state filter and column, the bulk action
"queue on selected units", the unit page, and Apply by hand offering to queue."""


import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from apps.codes import operations as ops
from apps.codes.models import ActivationCode
from apps.units.models import Unit

from tests.codes.helpers import T0

CHANGELIST = "/admin/codes/activationcode/"


pytestmark = pytest.mark.usefixtures("at_t0")


@pytest.fixture
def live(cw, new_code):
    return ops.assign_code(actor=cw.top, code=new_code(shared_with=cw.north), unit=cw.north_unit, now=T0)


def test_the_window_filters_and_shows_queued_codes(cw, new_code, live, logged):
    queued = ops.queue_code(actor=cw.top, code=new_code(shared_with=cw.north), unit=cw.north_unit, now=T0)
    fresh = new_code(shared_with=cw.north)
    client = logged(cw.north_op)
    page = client.get(CHANGELIST, {"state": "queued"})
    assert [c.code for c in page.context["cl"].result_list] == [queued.code]
    html = page.content.decode()
    assert "code-state-queued" in html and "North truck 1" in html and "queued, next after the live code" in html
    assert "Queued on a unit" in html  # the filter's choice
    new_only = client.get(CHANGELIST, {"state": "new"})
    assert [c.code for c in new_only.context["cl"].result_list] == [fresh.code]  # `new` excludes queued codes
    everything = client.get(CHANGELIST)
    assert {c.code for c in everything.context["cl"].result_list} == {live.code, queued.code, fresh.code}


def test_queue_on_selected_units_confirms_with_counts_then_queues(cw, new_code, live, logged):
    ops.assign_code(actor=cw.top, code=new_code(shared_with=cw.north), unit=cw.north_unit2, now=T0)
    codes = [new_code(shared_with=cw.north), new_code(shared_with=cw.north)]
    client = logged(cw.north_op)
    page = client.post(CHANGELIST, {"action": "queue_on_units", helpers.ACTION_CHECKBOX_NAME:
                                    [c.pk for c in [*codes, live]], "index": 0})
    assert page.status_code == 200
    assert (page.context["total"], page.context["acting"], page.context["refused"]) == (3, 2, 1)
    assert "not new: already started" in page.content.decode()
    choices = {u.pk for u in page.context["form"].fields["units"].queryset}
    assert choices == {cw.north_unit.pk, cw.north_unit2.pk}  # units with a live code, in North's branch
    response = client.post(CHANGELIST, {"action": "queue_on_units", helpers.ACTION_CHECKBOX_NAME:
                                        [c.pk for c in [*codes, live]], "confirm": "yes",
                                        "units": [cw.north_unit2.pk, cw.north_unit.pk]}, follow=True)
    assert "Queued: 2 done, 0 skipped" in response.content.decode()
    assert ActivationCode.objects.get(pk=codes[0].pk).queued_on_id == cw.north_unit.pk
    assert ActivationCode.objects.get(pk=codes[1].pk).queued_on_id == cw.north_unit2.pk
    again = client.post(CHANGELIST, {"action": "queue_on_units", helpers.ACTION_CHECKBOX_NAME: [codes[0].pk],
                                     "index": 0})
    assert not again.context["form"].fields["units"].queryset.exists()  # both units hold a queued code now


def test_the_unit_page_shows_the_live_and_the_queued_code_with_both_expiries(cw, new_code, live, logged):
    queued = ops.queue_code(actor=cw.top, code=new_code(validity_days=90), unit=cw.north_unit, now=T0)
    page = logged(cw.top).get(reverse("admin:units_unit_change", args=[cw.north_unit.pk]))
    html = page.content.decode()
    assert live.display in html and queued.display in html
    assert "2026-06-03" in html  # the live code's expiry (T0 + 30 days), when the queued one starts
    assert "2026-09-01" in html  # the queued code's expiry (+ 90 days)
    assert "Queued next:" in html


def test_apply_by_hand_offers_to_queue_when_the_unit_has_a_live_code(cw, new_code, live, logged):
    code = new_code(shared_with=cw.north)
    client = logged(cw.north_restricted)
    first = client.post(reverse("codes-apply"), {"code": code.display, "unit": cw.north_unit.pk})
    assert first.status_code == 200
    html = first.content.decode()
    assert 'type="checkbox" name="queue"' in html and "Tick to queue this code" in html
    assert ActivationCode.objects.get(pk=code.pk).status == "new"
    done = client.post(reverse("codes-apply"), {"code": code.display, "unit": cw.north_unit.pk, "queue": "on"},
                       follow=True)
    assert "Code queued on North truck 1" in done.content.decode()
    row = ActivationCode.objects.get(pk=code.pk)
    assert (row.status, row.queued_on_id) == ("queued", cw.north_unit.pk)
    blank = client.get(reverse("codes-apply")).content.decode()
    assert 'type="hidden" name="queue"' in blank  # not offered until a unit with a live code is chosen
    assert Unit.objects.get(pk=cw.north_unit.pk).active
