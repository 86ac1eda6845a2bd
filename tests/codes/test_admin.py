"""The codes window and the codes admin pages: scoping, filters, bulk actions, query budget."""

from datetime import timedelta

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from apps.codes import operations as ops
from apps.codes.models import ActivationCode, CodeEvent
from apps.units.models import Unit

from tests.codes.helpers import T0, make_unit

CHANGELIST = "/admin/codes/activationcode/"


pytestmark = pytest.mark.usefixtures("at_t0")


def _codes_on_page(response) -> set[str]:
    return {c.code for c in response.context["cl"].result_list}


def test_the_window_shows_its_columns_and_hides_expired_codes(cw, new_code, logged):
    live = ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit, now=T0)
    gone = ops.assign_code(actor=cw.top, code=new_code(validity_days=1), unit=cw.north_unit2,
                           now=T0 - timedelta(days=2))
    response = logged(cw.top).get(CHANGELIST)
    assert response.status_code == 200
    assert _codes_on_page(response) == {live.code}
    html = response.content.decode()
    for column in ("Unit", "Account", "Shared with", "Validity (days)", "Activated", "Expires (estimated)", "State",
                   "Days left"):
        assert column.lower() in html.lower()
    assert _codes_on_page(logged(cw.top).get(CHANGELIST, {"state": "expired"})) == {gone.code}
    assert _codes_on_page(logged(cw.top).get(CHANGELIST, {"state": "all"})) == {live.code, gone.code}


def test_a_distributor_sees_only_codes_held_in_its_branch(cw, new_code, logged):
    north = new_code(shared_with=cw.north_east)
    new_code(shared_with=cw.south)
    new_code()
    assert _codes_on_page(logged(cw.north_op).get(CHANGELIST)) == {north.code}
    assert logged(cw.north_restricted).get(CHANGELIST).status_code == 403


def test_a_sub_dealer_sees_the_codes_held_in_its_subtree_not_those_of_its_branch_above(cw, new_code, logged):
    own = new_code(shared_with=cw.north_east)
    new_code(shared_with=cw.north)
    new_code(shared_with=cw.south)
    assert _codes_on_page(logged(cw.north_east_op).get(CHANGELIST)) == {own.code}
    assert _codes_on_page(logged(cw.north_east_op).get(CHANGELIST, {"state": "new"})) == {own.code}


@pytest.mark.parametrize("query", [{}, {"state": "new"}, {"assigned": "yes"}, {"validity_days": "30"},
                                   {"expiring_within": "7"}, {"activated_at__from": "2026-05-01"},
                                   {"expires_at__to": "2026-07-01"}, {"q": "truck"}])
def test_the_first_page_query_count_does_not_grow_with_the_data(cw, new_code, logged, query,
                                                                django_assert_max_num_queries):
    # One matching row from the start: an empty list reads no page of rows (one query fewer), which is not
    # the list growing with the data.
    ops.assign_code(actor=cw.top, code=new_code(shared_with=cw.north), unit=make_unit(cw.north_client, "truck 0"),
                    now=T0)
    new_code(shared_with=cw.north)
    for user in (cw.top, cw.north_op):
        client = logged(user)
        client.get(CHANGELIST, query)  # warm the session and the content types
        with django_assert_max_num_queries(20) as small:
            client.get(CHANGELIST, query)
        ops.generate_codes(actor=cw.top, service=cw.acme, quantity=60, validity_days=30, shared_with=cw.north,
                           now=T0)
        for i in range(15):
            ops.assign_code(actor=cw.top, code=new_code(shared_with=cw.north),
                            unit=make_unit(cw.north_client, f"truck {user.pk}-{i}"), now=T0)
        with django_assert_max_num_queries(len(small.captured_queries)):
            assert client.get(CHANGELIST, query).status_code == 200


def test_search_finds_a_code_typed_loosely_a_unit_name_or_an_imei(cw, new_code, logged):
    code = ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit, now=T0)
    new_code()
    client = logged(cw.top)
    assert _codes_on_page(client.get(CHANGELIST, {"q": code.display.upper()})) == {code.code}
    assert _codes_on_page(client.get(CHANGELIST, {"q": "truck 1"})) == {code.code}
    assert _codes_on_page(client.get(CHANGELIST, {"q": cw.north_unit.unique_id})) == {code.code}


def _post_action(client, action, codes, **extra):
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [c.pk for c in codes], "index": 0, **extra}
    return client.post(CHANGELIST, data)


def test_share_action_confirms_with_counts_then_shares(cw, new_code, logged):
    free = [new_code(), new_code()]
    busy = ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit, now=T0)
    client = logged(cw.top)
    page = _post_action(client, "share", [*free, busy])
    assert page.status_code == 200
    assert (page.context["total"], page.context["acting"], page.context["refused"]) == (3, 2, 1)
    assert "on unit North truck 1" in page.content.decode()
    done = client.post(CHANGELIST, {"action": "share", helpers.ACTION_CHECKBOX_NAME: [c.pk for c in [*free, busy]],
                                    "confirm": "yes", "account": cw.north.pk}, follow=True)
    assert "2 done, 1 skipped" in done.content.decode()
    assert ActivationCode.objects.filter(shared_with=cw.north).count() == 2
    assert CodeEvent.objects.filter(action="shared").count() == 2


def test_select_all_acts_on_every_filtered_row(cw, logged):
    ops.generate_codes(actor=cw.top, service=cw.acme, quantity=120, validity_days=30, now=T0)
    client = logged(cw.top)
    first_page = [c.pk for c in ActivationCode.objects.order_by("-created_at", "id")[:100]]
    response = client.post(CHANGELIST, {"action": "share", helpers.ACTION_CHECKBOX_NAME: first_page,
                                        "select_across": "1", "confirm": "yes", "account": cw.south.pk}, follow=True)
    assert "120 done, 0 skipped" in response.content.decode()
    assert ActivationCode.objects.filter(shared_with=cw.south).count() == 120


def test_assign_to_selected_units_pairs_codes_with_units_in_name_order(cw, new_code, logged):
    codes = [new_code(shared_with=cw.north), new_code(shared_with=cw.north)]
    client = logged(cw.north_op)
    page = _post_action(client, "assign_to_units", codes)
    assert page.status_code == 200
    choices = {u.pk for u in page.context["form"].fields["units"].queryset}
    assert choices == {cw.north_unit.pk, cw.north_unit2.pk, cw.north_east_unit.pk}  # never South's units
    response = client.post(CHANGELIST, {"action": "assign_to_units", helpers.ACTION_CHECKBOX_NAME:
                                        [c.pk for c in codes], "confirm": "yes",
                                        "units": [cw.north_unit2.pk, cw.north_unit.pk]}, follow=True)
    assert "2 done, 0 skipped" in response.content.decode()
    assert ActivationCode.objects.get(pk=codes[0].pk).unit_id == cw.north_unit.pk
    assert ActivationCode.objects.get(pk=codes[1].pk).unit_id == cw.north_unit2.pk
    assert Unit.objects.filter(pk__in=[cw.north_unit.pk, cw.north_unit2.pk], active=True).count() == 2


def test_unassign_and_unshare_actions(cw, new_code, logged):
    code = ops.assign_code(actor=cw.top, code=new_code(shared_with=cw.north), unit=cw.north_unit, now=T0)
    client = logged(cw.top)
    response = client.post(CHANGELIST, {"action": "unassign", helpers.ACTION_CHECKBOX_NAME: [code.pk],
                                        "confirm": "yes"}, follow=True)
    assert "1 done" in response.content.decode()
    response = client.post(CHANGELIST, {"action": "unshare", helpers.ACTION_CHECKBOX_NAME: [code.pk],
                                        "confirm": "yes"}, follow=True)
    assert "1 done" in response.content.decode()
    code.refresh_from_db()
    assert (code.unit_id, code.shared_with_id) == (None, None)


def test_export_csv_streams_the_selected_codes(cw, new_code, logged):
    code = new_code()
    response = _post_action(logged(cw.top), "export_csv", [code])
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0].startswith("code,state")
    assert code.code in body


def test_no_delete_add_or_change_on_codes(cw, new_code, logged):
    code = new_code()
    client = logged(cw.top)
    assert client.get(f"{CHANGELIST}add/").status_code == 403
    assert client.post(f"{CHANGELIST}{code.pk}/delete/").status_code == 403
    response = client.post(CHANGELIST, {"action": "delete_selected", helpers.ACTION_CHECKBOX_NAME: [code.pk],
                                        "index": 0, "post": "yes"})
    assert ActivationCode.objects.filter(pk=code.pk).exists() and response.status_code in (200, 302)


def test_generate_page_shows_the_codes_and_their_csv(cw, logged):
    client = logged(cw.top)
    assert client.get(reverse("codes-generate")).status_code == 200
    response = client.post(reverse("codes-generate"), {"quantity": 3, "validity_preset": 90,
                                                       "shared_with": cw.north.pk})
    assert response.status_code == 200
    codes = ActivationCode.objects.filter(shared_with=cw.north)
    assert codes.count() == 3
    html = response.content.decode()
    assert all(c.code in html for c in codes)
    csv = b"".join(client.get(response.context["csv_url"]).streaming_content).decode()
    assert all(c.code in csv for c in codes)
    assert logged(cw.north_op).get(reverse("codes-generate")).status_code == 403


def test_apply_page_is_the_restricted_distributors_page(cw, new_code, logged):
    code = new_code()
    client = logged(cw.north_restricted)
    index = client.get("/admin/")  # its home is the Apply page (issue 15)
    assert index.status_code == 302 and index.url == reverse("codes-apply")
    page = client.get(reverse("codes-apply"))
    units = {u.pk for u in page.context["form"].fields["unit"].queryset}
    assert cw.south_unit.pk not in units and cw.north_unit.pk in units
    response = client.post(reverse("codes-apply"), {"code": code.display, "unit": cw.north_unit.pk}, follow=True)
    assert "Code applied to North truck 1" in response.content.decode()
    assert ActivationCode.objects.get(pk=code.pk).unit_id == cw.north_unit.pk
    refused = client.post(reverse("codes-apply"), {"code": "a" * 32, "unit": cw.north_unit2.pk})
    assert refused.status_code == 200 and "no such object" in refused.content.decode().lower()


def test_code_log_report_defaults_to_today_and_exports_csv(cw, new_code, logged):
    code = new_code(shared_with=cw.north)
    ops.assign_code(actor=cw.north_op, code=code, unit=cw.north_unit, now=T0)
    ops.generate_codes(actor=cw.top, service=cw.acme, quantity=1, validity_days=30, now=T0 - timedelta(days=3))
    client = logged(cw.north_op)
    response = client.get(reverse("codes-log"))
    actions = [e.action for e in response.context["page"]]
    assert "assigned" in actions and "generated" not in actions
    assert all(e.at.date() == T0.date() for e in response.context["page"])
    filtered = client.get(reverse("codes-log"), {"action": "assigned"})
    assert [e.action for e in filtered.context["page"]] == ["assigned"]
    csv = b"".join(client.get(reverse("codes-log"), {"action": "assigned", "format": "csv"})
                   .streaming_content).decode()
    assert csv.splitlines()[0].startswith("at,action") and code.code in csv
    assert logged(cw.north_restricted).get(reverse("codes-log")).status_code == 403


def test_unit_code_panel_shows_the_current_code_and_history(cw, new_code):
    from apps.codes.admin import unit_code_panel

    code = ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit, now=T0)
    html = unit_code_panel(Unit.objects.select_related("account__service").get(pk=cw.north_unit.pk))
    assert code.display in html and "30</strong> days left" in html and "Assigned" in html


def test_current_codes_for_units_reads_in_one_query(cw, new_code, django_assert_num_queries):
    from apps.codes.queries import current_codes_for_units

    live = ops.assign_code(actor=cw.top, code=new_code(), unit=cw.north_unit, now=T0)
    old = ops.assign_code(actor=cw.top, code=new_code(validity_days=1), unit=cw.north_unit2,
                          now=T0 - timedelta(days=3))
    ops.expire_codes(now=T0)
    with django_assert_num_queries(1):
        current = current_codes_for_units([cw.north_unit.pk, cw.north_unit2.pk, cw.south_unit.pk])
    assert {unit: code.pk for unit, code in current.items()} == {cw.north_unit.pk: live.pk,
                                                                 cw.north_unit2.pk: old.pk}


def test_a_distributor_sets_up_an_expiry_notice_in_the_admin(cw, logged):
    from apps.codes.models import ExpiryNotice

    client = logged(cw.north_op)
    form = client.get("/admin/codes/expirynotice/add/")
    recipients = {op.pk for op in form.context["adminform"].form.fields["recipients"].queryset}
    assert recipients == {cw.north_op.pk, cw.north_east_op.pk, cw.north_restricted.pk}
    response = client.post("/admin/codes/expirynotice/add/", {
        "name": "Renew", "text": "Codes run out soon.", "days_before": 7, "send_email": "on",
        "recipients": [cw.north_restricted.pk]})
    assert response.status_code == 302, response.context["adminform"].form.errors
    notice = ExpiryNotice.objects.get()
    assert (notice.author_account_id, notice.service_id, list(notice.recipients.all())) == (
        cw.north.pk, cw.acme.pk, [cw.north_restricted])
    assert logged(cw.south_op).get(f"/admin/codes/expirynotice/{notice.pk}/change/").status_code in (302, 404)
