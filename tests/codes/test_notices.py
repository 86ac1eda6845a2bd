"""Expiry notices: concerned codes (on a unit or not, cleared or not), banner, one e-mail per recipient
sent after the recording commits, retried alone, never lost while the site was down, never twice."""

import smtplib
import threading
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from apps.accounts.models import Operator
from apps.codes import operations as ops
from apps.codes import queries, tasks
from apps.codes.models import NoticeDelivery, NoticeEmail
from apps.core.errors import DoesNotExist, InvalidInput
from apps.plans.models import Plan
from tests.helpers import requires_postgres

from tests.codes.helpers import T0, make_unit


@pytest.fixture
def notice(cw):
    return ops.create_notice(actor=cw.north_op, name="Renew soon", text="These units need a new code.",
                             days_before=7, recipients=[cw.north_op, cw.north_east_op], now=T0)


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """``run(now)``: the job, with the e-mail tasks it queues on commit run (eagerly) as they would be."""

    def _run(now=None):
        with django_capture_on_commit_callbacks(execute=True):
            return ops.send_expiry_notices(now=now)

    return _run


def _own_addresses(*operators):
    for op in operators:
        Operator.objects.filter(pk=op.pk).update(email=f"{op.username}@example.com")
        op.email = f"{op.username}@example.com"


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


def test_notices_are_mailed_once_from_the_plan_email(cw, notice, run):
    Plan.objects.filter(pk=cw.base_plan.pk).update(email="billing@acme.example")
    from apps.accounts.models import Account

    Account.objects.filter(pk=cw.acme.pk).update(plan=cw.base_plan)
    code = _running(cw, cw.north_unit, 5)
    first = run(T0)
    second = run(T0 + timedelta(hours=1))
    assert (first["emails"], second["emails"]) == (1, 0)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].from_email == "billing@acme.example"
    assert mail.outbox[0].to == ["op@example.com"] and "North truck 1" in mail.outbox[0].body
    # The expiry in the service's zone, with the zone named (Acme runs on Europe/Berlin: UTC+2 in May).
    assert f"{code.display} expires 2026-05-09 12:00 Europe/Berlin" in mail.outbox[0].body
    assert not NoticeEmail.objects.filter(sent_at__isnull=True).exists()


def test_each_recipient_reads_the_email_in_their_own_language(cw, notice, run):
    """The job runs outside any request: each e-mail is worded in its recipient's setting, else English,
    whatever language the worker happens to run in; the notice's own name and text stay as written."""
    _own_addresses(cw.north_op, cw.north_east_op)
    Operator.objects.filter(pk=cw.north_op.pk).update(language="fr")  # north_east_op: no setting
    code = _running(cw, cw.north_east_unit, 5)
    with translation.override("es"):
        run(T0)
    mails = {m.to[0]: m for m in mail.outbox}
    french, english = mails[f"{cw.north_op.username}@example.com"], mails[f"{cw.north_east_op.username}@example.com"]
    assert f"le code {code.display} expire le 2026-05-09 12:00 Europe/Berlin" in french.body
    assert f"code {code.display} expires 2026-05-09 12:00 Europe/Berlin" in english.body
    assert french.subject == english.subject == "Renew soon"
    assert french.body.startswith("These units need a new code.") and english.body.startswith("These units")


def test_the_sender_falls_back_to_the_default(cw, notice, settings, run):
    settings.DEFAULT_FROM_EMAIL = "fallback@example.com"
    _running(cw, cw.north_unit, 5)
    run(T0)
    assert mail.outbox[0].from_email == "fallback@example.com"


def test_a_code_that_expired_while_the_site_was_down_is_still_noticed(cw, notice, run):
    run(T0)  # nothing concerned yet: the 20-day code is outside the 7-day window
    code = _running(cw, cw.north_unit, 20)
    ops.expire_codes(now=T0 + timedelta(days=21))  # the sweep ran; the notices job was down for 21 days
    run(T0 + timedelta(days=21))
    assert NoticeDelivery.objects.filter(code=code, recipient=cw.north_op).exists()


def test_a_clear_before_the_notice_job_loses_no_notice(cw, notice, run):
    """An outage: the notices job last ran at T0; when the site comes back 21 days later the daily clear
    runs first and takes the expired code off its unit. The notice still goes out, naming the unit."""
    with time_machine.travel(T0, tick=False):
        run()
        code = _running(cw, cw.north_unit, 20)  # concerned from day 13, expired on day 20
    with time_machine.travel(T0 + timedelta(days=21), tick=False):
        assert tasks.clear_expired_codes.delay().get() == 1
        code.refresh_from_db()
        assert (code.status, code.unit_id) == ("expired", None)
        assert run()["deliveries"] == 1
    delivery = NoticeDelivery.objects.get(code=code)
    assert (delivery.recipient_id, delivery.unit_name) == (cw.north_op.pk, "North truck 1")
    assert len(mail.outbox) == 1 and "North truck 1" in mail.outbox[0].body


def test_the_first_run_reaches_back_to_the_notices_creation_and_no_further(cw, run):
    before = _running(cw, cw.north_unit, 1)  # expired on day 1, before the notice existed
    after = _running(cw, cw.north_unit2, 3)  # expired on day 3, after it was set up on day 2
    ops.create_notice(actor=cw.north_op, name="Late", text="t", days_before=7, recipients=[cw.north_op],
                      now=T0 + timedelta(days=2))
    run(T0 + timedelta(days=10))  # the first run, after an outage
    assert list(NoticeDelivery.objects.values_list("code_id", flat=True)) == [after.pk]
    assert not NoticeDelivery.objects.filter(code=before).exists()


def test_running_codes_without_a_unit_are_noticed_to_those_who_see_them(cw, notice, run):
    """SPEC §9.8: a code on no unit is listed itself, with its holder, to the recipients who see it."""
    restricted = ops.create_notice(actor=cw.north_op, name="Restricted", text="t", days_before=7,
                                   recipients=[cw.north_restricted], now=T0)

    def unit_less(shared_with, unit):
        code = _running(cw, unit, 5) if shared_with is None else ops.assign_code(
            actor=cw.top, code=ops.generate_codes(actor=cw.top, service=cw.acme, quantity=1, validity_days=5,
                                                  shared_with=shared_with, now=T0)[0], unit=unit, now=T0)
        return ops.unassign_code(actor=cw.top, code=code, now=T0)

    _own_addresses(cw.north_op, cw.north_east_op)
    north_east_held = unit_less(cw.north_east, cw.north_east_unit)
    north_held = unit_less(cw.north, cw.north_unit)
    top_held = unit_less(None, cw.north_unit2)  # on no unit and held by the top: no distributor sees it
    assert north_east_held.unit_id is None and north_east_held.status == "active"
    run(T0 + timedelta(hours=1))
    seen = set(NoticeDelivery.objects.filter(notice=notice).values_list("recipient_id", "code_id"))
    assert seen == {(cw.north_op.pk, north_east_held.pk), (cw.north_east_op.pk, north_east_held.pk),
                    (cw.north_op.pk, north_held.pk)}
    assert not NoticeDelivery.objects.filter(code=top_held).exists()
    assert not NoticeDelivery.objects.filter(notice=restricted).exists()  # sees units, never codes
    delivery = NoticeDelivery.objects.get(recipient=cw.north_east_op)
    assert (delivery.unit_name, delivery.holder_name) == ("", "North-East")
    [north_east_mail] = [m for m in mail.outbox if m.to == ["northeast@example.com"]]
    assert f"code {north_east_held.display}, on no unit, held by North-East" in north_east_mail.body


def test_the_banner_names_a_unit_less_code_and_its_holder(cw, notice, client, run):
    code = ops.unassign_code(actor=cw.top, code=ops.assign_code(
        actor=cw.top, code=ops.generate_codes(actor=cw.top, service=cw.acme, quantity=1, validity_days=5,
                                              shared_with=cw.north, now=T0)[0], unit=cw.north_unit, now=T0), now=T0)
    run(T0)
    client.force_login(cw.north_op)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        html = client.get("/admin/").content.decode()
    assert code.display in html and "on no unit, held by North" in html


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


def test_the_email_leaves_only_after_the_recording_commits(cw, notice, django_capture_on_commit_callbacks):
    _running(cw, cw.north_unit, 5)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        ops.send_expiry_notices(now=T0)
    assert len(queued) == 1 and mail.outbox == []  # recorded and queued, not sent inside the transaction
    queued[0]()
    assert len(mail.outbox) == 1
    assert ops.send_notice_email(NoticeEmail.objects.get().pk) is False  # sent: a second task does nothing


class _FailsOnce(EmailBackend):
    """The locmem backend, refusing the ``fail_on``-th message once (as an SMTP server might)."""

    calls = 0
    fail_on = 3

    def send_messages(self, messages):
        type(self).calls += 1
        if type(self).calls == type(self).fail_on:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)


@pytest.fixture
def retries_inline(monkeypatch):
    """Eager tasks that retry as a worker would, at once: with ``task_eager_propagates`` (the test
    settings) an eager task's retry raises instead of running again."""
    from billing_site.celery import app

    monkeypatch.setitem(app.conf, "task_eager_propagates", False)


@pytest.fixture
def three_recipients(cw):
    _own_addresses(cw.top, cw.north_op, cw.north_east_op)
    notice = ops.create_notice(actor=cw.top, name="Renew", text="Renew these.", days_before=7,
                               recipients=[cw.top, cw.north_op, cw.north_east_op], now=T0)
    _running(cw, cw.north_east_unit, 5)  # in every recipient's subtree
    return notice


def test_a_failed_send_to_the_third_recipient_is_retried_for_that_one_only(cw, three_recipients, run, settings,
                                                                           retries_inline):
    settings.EMAIL_BACKEND = f"{__name__}._FailsOnce"
    _FailsOnce.calls = 0
    run(T0)
    assert _FailsOnce.calls == 4  # three sends, the third refused once, and its task's retry
    assert sorted(m.to[0] for m in mail.outbox) == ["north@example.com", "northeast@example.com", "top@example.com"]
    emails = list(NoticeEmail.objects.order_by("pk").values_list("attempts", "sent_at", "last_error"))
    assert [attempts for attempts, _, _ in emails] == [1, 1, 2]
    assert all(sent_at is not None and error == "" for _, sent_at, error in emails)


def test_an_email_that_failed_past_its_retries_goes_with_the_next_run_alone(cw, three_recipients, run, settings,
                                                                           retries_inline):
    """The mail server refuses the third recipient through all the task's retries: the job's next run
    sends that e-mail, and only that one."""
    settings.EMAIL_BACKEND = f"{__name__}._FailsOnce"
    _FailsOnce.calls, _FailsOnce.fail_on = 0, 3
    failing = {"calls": 0}
    original = _FailsOnce.send_messages

    def refuse_the_third(self, messages):
        if messages[0].to == ["northeast@example.com"]:
            failing["calls"] += 1
            raise smtplib.SMTPRecipientsRefused({"northeast@example.com": (451, b"try later")})
        return EmailBackend.send_messages(self, messages)

    _FailsOnce.send_messages = refuse_the_third
    try:
        run(T0)
    finally:
        _FailsOnce.send_messages = original
    assert failing["calls"] == tasks.NOTICE_EMAIL_RETRIES + 1
    assert sorted(m.to[0] for m in mail.outbox) == ["north@example.com", "top@example.com"]
    pending = NoticeEmail.objects.get(sent_at__isnull=True)
    assert (pending.recipient_id, pending.claimed_at) == (cw.north_east_op.pk, None)
    assert "SMTPRecipientsRefused" in pending.last_error
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox.clear()
    assert run(T0 + timedelta(hours=1)) == {"deliveries": 0, "emails": 1}
    assert [m.to for m in mail.outbox] == [["northeast@example.com"]]
    assert not NoticeEmail.objects.filter(sent_at__isnull=True).exists()


def test_a_claim_held_by_a_worker_is_not_taken_until_it_is_stale(cw, three_recipients,
                                                                django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        ops.send_expiry_notices(now=T0)
    email = NoticeEmail.objects.order_by("pk").first()
    NoticeEmail.objects.filter(pk=email.pk).update(claimed_at=T0)  # a worker claimed it and died mid-send
    assert ops.send_notice_email(email.pk, now=T0 + timedelta(minutes=5)) is False
    assert ops.send_notice_email(email.pk, now=T0 + NoticeEmail.CLAIM_TIMEOUT + timedelta(seconds=1)) is True
    assert len(mail.outbox) == 1


def test_the_job_counts_the_same_queries_for_3_or_30_codes(cw, notice, run):
    def codes(n, offset):
        for i in range(n):
            _running(cw, make_unit(cw.north_east_client, f"q{offset + i}"), 3)

    codes(3, 0)
    with CaptureQueriesContext(connection) as small:
        run(T0)
    codes(30, 100)
    with CaptureQueriesContext(connection) as large:
        run(T0 + timedelta(hours=1))
    assert len(large) == len(small), (len(small), len(large))
    assert NoticeDelivery.objects.count() == 2 * 33 and len(mail.outbox) == 4


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_job_runs_at_once_send_each_email_once(cw):
    """Two workers run the job at the same instant, five times over: every (notice, recipient, code) is
    recorded once and every recipient gets one e-mail per round, whichever worker sent it."""
    _own_addresses(cw.north_op, cw.north_east_op)
    notice = ops.create_notice(actor=cw.north_op, name="Renew soon", text="Renew.", days_before=7,
                               recipients=[cw.north_op, cw.north_east_op], now=T0)
    errors = []
    for round_no in range(5):
        _running(cw, make_unit(cw.north_east_client, f"race {round_no}"), 5)
        now = T0 + timedelta(minutes=round_no)
        barrier = threading.Barrier(2)

        def job(now=now, barrier=barrier):
            try:
                barrier.wait()
                ops.send_expiry_notices(now=now)
            except Exception as exc:  # noqa: BLE001 — reported below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=job) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert NoticeDelivery.objects.filter(notice=notice).count() == 10
    assert Counter(m.to[0] for m in mail.outbox) == {"north@example.com": 5, "northeast@example.com": 5}
    assert not NoticeEmail.objects.filter(sent_at__isnull=True).exists()


def test_a_code_with_a_queued_renewal_is_not_noticed_but_its_renewal_is(cw, notice, run):
    """SPEC §9.5: a code queued behind the live one starts the instant it ends, so no unit goes dark and
    nobody is told; the renewal itself is told of when its own end comes near, and after an outage in
    which the sweep started it and the daily clear took the old code off its unit, the old code is still
    not noticed."""
    live = _running(cw, cw.north_unit, 5)
    renewal = ops.queue_code(actor=cw.top, code=ops.generate_codes(
        actor=cw.top, service=cw.acme, quantity=1, validity_days=3, now=T0)[0], unit=cw.north_unit, now=T0)
    unrenewed = _running(cw, cw.north_unit2, 5)
    run(T0)
    assert set(NoticeDelivery.objects.values_list("code_id", flat=True)) == {unrenewed.pk}
    with time_machine.travel(T0 + timedelta(days=6), tick=False):
        assert ops.expire_codes() >= 1
        tasks.clear_expired_codes.delay().get()
        live.refresh_from_db()
        assert live.status == "expired"
        run(T0 + timedelta(days=6))
    noticed = set(NoticeDelivery.objects.values_list("code_id", flat=True))
    assert live.pk not in noticed and renewal.pk in noticed
