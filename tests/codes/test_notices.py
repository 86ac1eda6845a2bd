"""Expiry notices: concerned codes, banner, e-mail once, never lost while the site was down."""

from datetime import timedelta

import pytest
from django.core import mail

from apps.codes import operations as ops
from apps.codes import queries
from apps.codes.models import NoticeDelivery
from apps.core.errors import DoesNotExist, InvalidInput
from apps.plans.models import Plan

from .conftest import T0, make_unit


@pytest.fixture
def notice(cw):
    return ops.create_notice(actor=cw.north_op, name="Renew soon", text="These units need a new code.",
                             days_before=7, recipients=[cw.north_op, cw.north_east_op], now=T0)


def _running(cw, unit, days, shared_with=None):
    code = ops.generate_codes(actor=cw.top, service=cw.acme, quantity=1, validity_days=days, shared_with=shared_with,
                              now=T0)[0]
    return ops.assign_code(actor=cw.top, code=code, unit=unit, now=T0)


def test_a_code_is_concerned_only_inside_the_window(cw, notice):
    inside = _running(cw, cw.north_unit, 5)
    _running(cw, cw.north_unit2, 30)
    ops.send_expiry_notices(now=T0)
    assert set(NoticeDelivery.objects.values_list("code_id", "recipient_id")) == {(inside.pk, cw.north_op.pk)}


def test_each_recipient_sees_only_units_in_its_scope(cw, notice):
    north = _running(cw, cw.north_unit, 5)
    north_east = _running(cw, cw.north_east_unit, 5)
    _running(cw, cw.south_unit, 5)
    ops.send_expiry_notices(now=T0)
    pairs = set(NoticeDelivery.objects.values_list("recipient_id", "code_id"))
    assert pairs == {(cw.north_op.pk, north.pk), (cw.north_op.pk, north_east.pk), (cw.north_east_op.pk, north_east.pk)}


def test_notices_are_mailed_once_from_the_plan_email(cw, notice):
    Plan.objects.filter(pk=cw.base_plan.pk).update(email="billing@acme.example")
    from apps.accounts.models import Account

    Account.objects.filter(pk=cw.acme.pk).update(plan=cw.base_plan)
    _running(cw, cw.north_unit, 5)
    first = ops.send_expiry_notices(now=T0)
    second = ops.send_expiry_notices(now=T0 + timedelta(hours=1))
    assert (first["emails"], second["emails"]) == (1, 0)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].from_email == "billing@acme.example"
    assert mail.outbox[0].to == ["op@example.com"] and "North truck 1" in mail.outbox[0].body
    assert NoticeDelivery.objects.filter(emailed_at__isnull=True).count() == 0


def test_the_sender_falls_back_to_the_default(cw, notice, settings):
    settings.DEFAULT_FROM_EMAIL = "fallback@example.com"
    _running(cw, cw.north_unit, 5)
    ops.send_expiry_notices(now=T0)
    assert mail.outbox[0].from_email == "fallback@example.com"


def test_a_code_that_expired_while_the_site_was_down_is_still_noticed(cw, notice):
    ops.send_expiry_notices(now=T0)  # nothing concerned yet: the 20-day code is outside the 7-day window
    code = _running(cw, cw.north_unit, 20)
    ops.expire_codes(now=T0 + timedelta(days=21))  # the sweep ran; the notices job was down for 21 days
    ops.send_expiry_notices(now=T0 + timedelta(days=21))
    assert NoticeDelivery.objects.filter(code=code, recipient=cw.north_op).exists()


def test_once_notices_show_until_dismissed_and_repeat_notices_while_concerned(cw, notice):
    _running(cw, cw.north_unit, 5)
    ops.send_expiry_notices(now=T0)
    [delivery] = queries.open_deliveries_for(cw.north_op, T0)
    ops.dismiss_delivery(actor=cw.north_op, delivery_id=delivery.pk, now=T0)
    assert not queries.open_deliveries_for(cw.north_op, T0).exists()
    ops.update_notice(actor=cw.north_op, notice=notice, name=notice.name, text=notice.text, days_before=7,
                      repeat=True, send_email=True, recipients=[cw.north_op])
    assert queries.open_deliveries_for(cw.north_op, T0).count() == 1
    assert not queries.open_deliveries_for(cw.north_op, T0 + timedelta(days=6)).exists()  # the code expired


def test_the_banner_lists_the_units_on_the_admin_index(cw, notice, client):
    import time_machine

    _running(cw, cw.north_unit, 5)
    ops.send_expiry_notices(now=T0)
    client.force_login(cw.north_op)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        html = client.get("/admin/").content.decode()
    assert "Renew soon" in html and "North truck 1" in html


def test_notice_fields_and_recipients_are_validated(cw):
    with pytest.raises(InvalidInput):
        ops.create_notice(actor=cw.top, name="x", text="y", days_before=0, recipients=[cw.north_op], now=T0)
    with pytest.raises(DoesNotExist):
        ops.create_notice(actor=cw.north_op, name="x", text="y", days_before=3, recipients=[cw.south_op], now=T0)


def test_two_runs_never_duplicate_a_delivery(cw, notice):
    for i in range(3):
        _running(cw, make_unit(cw.north_client, f"n{i}"), 3)
    ops.send_expiry_notices(now=T0)
    ops.send_expiry_notices(now=T0)
    assert NoticeDelivery.objects.count() == 3
