"""Expiry notices: the rules, the job that sends them, their deliveries."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import BigIntegerField, DateTimeField, Exists, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import translation
from django.utils.translation import gettext

from apps.accounts import audit, rights
from apps.accounts.models import Account
from apps.accounts.operations import require_not_blocked
from apps.core import clock
from apps.core.errors import DoesNotExist, InvalidInput
from apps.core.languages import language_of
from apps.core.scoping import is_platform
from apps.plans.inheritance import effective_settings

from .. import bulk
from ..models import ActivationCode, CodeAction, CodeEvent, ExpiryNotice, NoticeDelivery, NoticeEmail
from ..queries import concerned_codes
from ._common import _require_window_role, _service


def _clean_notice_fields(actor, *, name, text, days_before, recipients) -> list:
    name, text = (name or "").strip(), (text or "").strip()
    if not 1 <= len(name) <= 50:
        raise InvalidInput.field("name", gettext("1 to %(maximum)d characters.") % {"maximum": 50})
    if not 1 <= len(text) <= 500:
        raise InvalidInput.field("text", gettext("1 to %(maximum)d characters.") % {"maximum": 500})
    if not isinstance(days_before, int) or isinstance(days_before, bool) or not 1 <= days_before <= 99:
        raise InvalidInput.field("days_before", gettext("A whole number of days from 1 to %(maximum)s.") % {"maximum": 99})
    recipients = list(recipients or [])
    if not recipients:
        raise InvalidInput.field("recipients", gettext("Choose at least one recipient."))
    root = actor.account.path if not is_platform(actor) else None
    for op in recipients:
        if op.account is None or (root is not None and not op.account.path.startswith(root)):
            raise DoesNotExist.field("recipients")
    return recipients


@transaction.atomic
def create_notice(*, actor, name: str, text: str, days_before: int, repeat: bool = False, send_email: bool = True,
                  recipients=(), service: Account | None = None, now: datetime | None = None) -> ExpiryNotice:
    """A notice by a top user, a distributor or the platform operator; recipients in its subtree."""
    now = now or clock.now()
    _require_window_role(actor)
    require_not_blocked(actor)
    recipients = _clean_notice_fields(actor, name=name, text=text, days_before=days_before, recipients=recipients)
    if is_platform(actor):
        if service is None or not service.is_top:
            raise InvalidInput.field("service", gettext("Choose the service."))
        author = service
    else:
        author = actor.account
    if any(op.account.service_id != author.service_id for op in recipients):
        raise DoesNotExist.field("recipients")
    notice = ExpiryNotice.objects.create(
        service_id=author.service_id, author_account=author, created_by=actor if actor.pk else None,
        name=name.strip(), text=text.strip(), days_before=days_before, repeat=bool(repeat),
        send_email=bool(send_email), created_at=now)
    notice.recipients.set(recipients)
    audit.record("expiry_notice_created", actor=actor, subject_type="expiry_notice", subject_id=notice.pk,
                 subject_name=notice.name, account=_service(notice.service_id), after=_notice_values(notice), now=now)
    return notice


def _notice_values(notice: ExpiryNotice) -> dict:
    return {"name": notice.name, "text": notice.text, "days_before": notice.days_before, "repeat": notice.repeat,
            "send_email": notice.send_email,
            "recipients": sorted(notice.recipients.values_list("username", flat=True))}


@transaction.atomic
def update_notice(*, actor, notice: ExpiryNotice, name: str, text: str, days_before: int, repeat: bool,
                  send_email: bool, recipients) -> ExpiryNotice:
    _require_window_role(actor)
    require_not_blocked(actor)
    recipients = _clean_notice_fields(actor, name=name, text=text, days_before=days_before, recipients=recipients)
    notice = ExpiryNotice.objects.select_for_update().get(pk=notice.pk)
    before = _notice_values(notice)
    if any(op.account.service_id != notice.service_id for op in recipients):
        raise DoesNotExist.field("recipients")
    notice.name, notice.text, notice.days_before = name.strip(), text.strip(), days_before
    notice.repeat, notice.send_email = bool(repeat), bool(send_email)
    notice.save(update_fields=["name", "text", "days_before", "repeat", "send_email"])
    notice.recipients.set(recipients)
    old, new = audit.changes(before, _notice_values(notice))
    if old or new:
        audit.record("expiry_notice_updated", actor=actor, subject_type="expiry_notice", subject_id=notice.pk,
                     subject_name=notice.name, account=_service(notice.service_id), before=old, after=new)
    return notice


def dismiss_delivery(*, actor, delivery_id: int, now: datetime | None = None) -> int:
    """A recipient dismisses a "once" notice about a code; conditional, so a repeat is harmless."""
    now = now or clock.now()
    return NoticeDelivery.objects.filter(pk=delivery_id, recipient=actor, dismissed_at__isnull=True).update(
        dismissed_at=now)


def _sender_for(service_id: int) -> str:
    service = Account.objects.select_related("plan").get(pk=service_id)
    email = effective_settings(service.plan)["email"].value if service.plan_id else None
    return email or settings.DEFAULT_FROM_EMAIL


def _notice_rows(codes: QuerySet) -> QuerySet:
    """The concerned codes with what a delivery records of them: the unit — the code's own, or for an
    expired code the daily clear took off its unit, the unit its ``expired`` event names — as a name
    and an account path (NULL for a code on no unit), and the holder's name."""
    at_expiry = CodeEvent.objects.filter(code_id=OuterRef("pk"), action=CodeAction.EXPIRED,
                                         unit_id__isnull=False).order_by()
    # A code whose unit holds its renewal (a code queued on that unit, or already started there, at the
    # very instant this one ends: SPEC §9.5) leaves no unit dark, so nobody is told of its expiry.
    renewal = ActivationCode.objects.filter(Q(queued_on_id=OuterRef("n_unit_id")) | Q(unit_id=OuterRef("n_unit_id")),
                                            activated_at=OuterRef("expires_at")).exclude(pk=OuterRef("pk"))
    return codes.annotate(
        n_unit_id=Coalesce(F("unit_id"), Subquery(at_expiry.values("unit_id")[:1])),
        n_unit_name=Coalesce(F("unit__name"), Subquery(at_expiry.values("unit_name")[:1])),
        n_account_path=Coalesce(F("unit__account__path"), Subquery(at_expiry.values("account_path")[:1])),
        n_holder_name=Coalesce(F("shared_with__name"), F("service__name"))).exclude(Exists(renewal))


def _seen_by(recipient) -> Q:
    """A recipient is told of a code on a unit in its subtree, and of a code on no unit that it sees
    (held in its subtree: SPEC §9.8; restricted distributors see no codes)."""
    path = recipient.account.path
    seen = Q(n_account_path__startswith=path)
    if rights.may_use_codes_window(recipient):
        seen |= Q(n_account_path__isnull=True, holder_path__startswith=path)
    return seen


def _record_notice(notice: ExpiryNotice, now: datetime) -> tuple[int, list[int]]:
    """Record the (notice, recipient, code) deliveries now concerned and one e-mail per recipient with
    new ones, in the caller's transaction (the notice row locked). Returns (deliveries, e-mail ids)."""
    since = notice.last_run_at or notice.created_at
    rows = _notice_rows(concerned_codes(now, notice.days_before, since=since).filter(service_id=notice.service_id))
    created, emails = 0, []
    for recipient in notice.recipients.all():
        if not recipient.is_active or recipient.account is None:
            continue
        columns = {
            "notice_id": Value(notice.pk, output_field=BigIntegerField()),
            "recipient_id": Value(recipient.pk, output_field=BigIntegerField()),
            "code_id": F("id"), "created_at": Value(now, output_field=DateTimeField()),
            "unit_name": Coalesce(F("n_unit_name"), Value("")), "holder_name": F("n_holder_name"),
        }
        source = rows.filter(_seen_by(recipient)).order_by().annotate(
            **{f"{bulk.ALIAS_PREFIX}{name}": value for name, value in columns.items()})
        new = bulk.insert_select_new(NoticeDelivery, source.values(*(f"{bulk.ALIAS_PREFIX}{c}" for c in columns)))
        created += len(new)
        if new and notice.send_email and recipient.email:
            email = NoticeEmail.objects.create(notice=notice, recipient=recipient, created_at=now)
            NoticeDelivery.objects.filter(bulk.ids_condition(NoticeDelivery, new)).update(email=email)
            emails.append(email.pk)
    return created, emails


def _queue_notice_emails(email_ids: list[int]) -> None:
    """One Celery task per e-mail, once the transaction that recorded them commits (at once outside
    one). ``robust``: a broker that refuses one leaves it for the next job run, not the others."""
    from ..tasks import send_notice_email

    def queue(email_id: int):
        def send_notice_email_later():
            send_notice_email.delay(email_id)
        return send_notice_email_later

    for email_id in email_ids:
        transaction.on_commit(queue(email_id), robust=True)


def send_expiry_notices(*, now: datetime | None = None) -> dict:
    """The hourly job: record every (notice, recipient, code) concerned and queue the e-mails.

    1. Per notice, under its row lock (``SKIP LOCKED``: a second run at once leaves it to the first),
       codes whose expiry lies in (last run, now + N days] — so a code that expired while the job was
       down, and was swept or cleared since, is still noticed — become deliveries for the recipients
       who see them (``INSERT … SELECT … ON CONFLICT DO NOTHING``: the unique key makes them
       exactly-once). A recipient with new deliveries gets one ``NoticeEmail`` listing them.
    2. After that transaction commits, each new e-mail goes to its own task (``send_notice_email``).
    3. E-mails of earlier runs still unsent (a send that failed past its retries, a broker that was
       down, a worker that died mid-send) are queued again; their claim keeps them from going twice.
    Returns the numbers of deliveries recorded and of e-mails queued.
    """
    now = now or clock.now()
    created, queued = 0, []
    for notice_id in ExpiryNotice.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            notice = (ExpiryNotice.objects.select_for_update(skip_locked=True).filter(pk=notice_id)
                      .prefetch_related("recipients__account").first())
            if notice is None:
                continue
            count, emails = _record_notice(notice, now)
            ExpiryNotice.objects.filter(pk=notice.pk).update(
                last_run_at=max(now, notice.last_run_at) if notice.last_run_at else now)
            created += count
            queued += emails
            _queue_notice_emails(emails)
    stale = now - NoticeEmail.CLAIM_TIMEOUT
    earlier = list(NoticeEmail.objects.filter(sent_at__isnull=True, created_at__lt=now, recipient__is_active=True,
                                              notice__send_email=True)
                   .exclude(recipient__email="")
                   .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=stale))
                   .order_by("pk").values_list("pk", flat=True))
    _queue_notice_emails(earlier)
    return {"deliveries": created, "emails": len(queued) + len(earlier)}


def _notice_message(email: NoticeEmail, deliveries: list[NoticeDelivery]) -> EmailMessage:
    """The e-mail's text: the notice's own, then one line per code, times in the service's zone, worded
    in the recipient's own language (``language_of``: the job runs outside any request). The subject
    is the notice's name and the first paragraph its text, as their author wrote them."""
    zone = ZoneInfo(email.notice.service.timezone or "UTC")
    lines = []
    with translation.override(language_of(email.recipient)):
        for delivery in deliveries:
            code, expires = delivery.code, delivery.code.expires_at.astimezone(zone)
            values = {"code": code.display, "unit": delivery.unit_name, "holder": delivery.holder_name,
                      "expires": f"{expires:%Y-%m-%d %H:%M} {zone.key}"}
            if delivery.unit_name:
                lines.append(gettext("- %(unit)s: code %(code)s expires %(expires)s") % values)
            else:
                lines.append(gettext("- code %(code)s, on no unit, held by %(holder)s, expires %(expires)s")
                             % values)
    return EmailMessage(subject=email.notice.name, body=f"{email.notice.text}\n\n" + "\n".join(lines),
                        from_email=_sender_for(email.notice.service_id), to=[email.recipient.email])


def send_notice_email(email_id: int, *, now: datetime | None = None) -> bool:
    """Send one notice e-mail to its recipient, once unless a worker dies mid-send.

    The claim (``claimed_at``, under the row lock, ``SKIP LOCKED``) commits before the message leaves,
    so two live workers never both send it. A worker that dies after the message left but before
    ``sent_at`` is stamped leaves a claim that expires, and the e-mail may then go a second time: at
    least once, not exactly once (a mail server gives no transaction to share). On success ``sent_at`` is stamped; on failure the claim is
    released, the error kept and the exception raised, so the task retries this e-mail alone. A claim
    older than ``NoticeEmail.CLAIM_TIMEOUT`` (its worker died) may be taken again, as said above. Returns whether it
    sent; False when sent already, held by another worker, or the recipient has no address any more.
    """
    now = now or clock.now()
    with transaction.atomic():
        email = (NoticeEmail.objects.select_for_update(skip_locked=True, of=("self",))
                 .select_related("notice__service", "recipient")
                 .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - NoticeEmail.CLAIM_TIMEOUT),
                         pk=email_id, sent_at__isnull=True).first())
        if email is None:
            return False
        # ``last_error`` is a stored diagnostic, like the mail server's own error text below: plain English.
        if not (email.recipient.is_active and email.recipient.email):
            NoticeEmail.objects.filter(pk=email.pk).update(claimed_at=None, last_error="no e-mail address")
            return False
        if not email.notice.send_email:  # e-mail turned off on the notice since: the banner still shows it
            NoticeEmail.objects.filter(pk=email.pk).update(claimed_at=None, last_error="notice not e-mailed")
            return False
        NoticeEmail.objects.filter(pk=email.pk).update(claimed_at=now, attempts=F("attempts") + 1)
    claimed = NoticeEmail.objects.filter(pk=email.pk, claimed_at=now, sent_at__isnull=True)
    deliveries = list(email.deliveries.select_related("code").order_by("code__expires_at", "id"))
    try:
        _notice_message(email, deliveries).send()
    except Exception as exc:
        claimed.update(claimed_at=None, last_error=f"{type(exc).__name__}: {exc}"[:500])
        raise
    claimed.update(sent_at=clock.now(), last_error="")
    return True
