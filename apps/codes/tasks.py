"""Celery tasks of the codes app. Each calls one operation; each is also a management command.

The schedules are rows of django-celery-beat (``billing_site/beat.py``), editable in the admin.
"""

from celery import shared_task

from apps.accounts.audit import record_job_run
from apps.accounts.models import Account
from apps.core import clock

from . import operations


def _record_runs(job: str, per_service: dict, now) -> None:
    """One ``job_run`` event per service the run touched, with its count (SPEC §9.8)."""
    for service in Account.objects.filter(pk__in=sorted(per_service)).order_by("pk"):
        record_job_run(job, counts={"codes": per_service[service.pk]}, account=service, now=now)


@shared_task(name="apps.codes.tasks.expire_codes")
def expire_codes() -> int:
    """Every minute: expire due codes and deactivate their units (catches up after downtime)."""
    now, per_service = clock.now(), {}
    total = operations.expire_codes(now=now, counts=per_service)
    _record_runs("expire_codes", per_service, now)
    return total


@shared_task(name="apps.codes.tasks.clear_expired_codes")
def clear_expired_codes() -> int:
    """Daily: take expired codes off their units and out of the window's default view."""
    now, per_service = clock.now(), {}
    total = operations.clear_expired_codes(now=now, counts=per_service)
    _record_runs("clear_expired_codes", per_service, now)
    return total


@shared_task(name="apps.codes.tasks.send_expiry_notices")
def send_expiry_notices() -> dict:
    """Hourly: record concerned codes per notice and recipient; queue one e-mail task per recipient."""
    return operations.send_expiry_notices()


NOTICE_EMAIL_RETRIES = 5
NOTICE_EMAIL_RETRY_SECONDS = 300


@shared_task(bind=True, name="apps.codes.tasks.send_notice_email", max_retries=NOTICE_EMAIL_RETRIES,
             default_retry_delay=NOTICE_EMAIL_RETRY_SECONDS)
def send_notice_email(self, email_id: int) -> bool:
    """One notice e-mail to one recipient, claimed and sent once. A failed send is retried for this
    e-mail alone (five times, five minutes apart); past that the next hourly job queues it again."""
    try:
        return operations.send_notice_email(email_id)
    except Exception as exc:  # whatever the mail backend raised: the claim is released, try again later
        raise self.retry(exc=exc) from exc


@shared_task(name="apps.codes.tasks.run_generation_job", acks_late=True)
def run_generation_job(job_id: int) -> str:
    """A batch of codes too big for a request (``CodeGenerationJob``), chunk by chunk; safe to run twice."""
    return operations.run_generation_job(job_id)
