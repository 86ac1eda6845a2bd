"""The whole beat schedule, owned by the database.

Each job's default schedule is created once (get-or-create by name after ``migrate``) and never
overwritten afterwards, so an edit made in the admin (django-celery-beat's "Periodic tasks") sticks.
Nothing is declared in ``CELERY_BEAT_SCHEDULE``: beat would overwrite the rows on every start.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class DefaultJob:
    name: str
    task: str
    every_minutes: int | None = None  # an interval schedule
    crontab_minute: str | None = None  # or a crontab (UTC)
    crontab_hour: str = "*"


DEFAULT_JOBS = (
    DefaultJob("Expire activation codes", "apps.codes.tasks.expire_codes", every_minutes=1),
    DefaultJob("Clear expired codes", "apps.codes.tasks.clear_expired_codes", crontab_minute="15", crontab_hour="3"),
    DefaultJob("Charge periodic services", "apps.services.tasks.charge_periodic_services", crontab_minute="1"),
    DefaultJob("Count days and block", "apps.services.tasks.count_days", crontab_minute="2"),
    DefaultJob("Snapshot discounts", "apps.discounts.tasks.snapshot_discounts", crontab_minute="5"),
    DefaultJob("Send expiry notices", "apps.codes.tasks.send_expiry_notices", crontab_minute="10"),
    DefaultJob("Verify the audit trail", "apps.accounts.tasks.verify_audit", crontab_minute="40", crontab_hour="4"),
)


def ensure_beat_schedules(apps=None):
    """Create the default periodic tasks that do not exist yet (idempotent)."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    for job in DEFAULT_JOBS:
        if PeriodicTask.objects.filter(name=job.name).exists():
            continue
        if job.every_minutes:
            interval, _ = IntervalSchedule.objects.get_or_create(every=job.every_minutes, period="minutes")
            PeriodicTask.objects.create(name=job.name, task=job.task, interval=interval)
        else:
            crontab, _ = CrontabSchedule.objects.get_or_create(
                minute=job.crontab_minute, hour=job.crontab_hour, day_of_week="*",
                day_of_month="*", month_of_year="*", timezone="UTC",
            )
            PeriodicTask.objects.create(name=job.name, task=job.task, crontab=crontab)
