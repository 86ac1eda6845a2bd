"""The "Scheduled jobs" page (issue 15): one table of beat's jobs for top users and distributors (name,
schedule, last run, next run, result, times in the page's zone), instead of django-celery-beat's five
scheduler models, which only the platform operator keeps (``hide_beat_models``).

A job's result is its last ``JobOutcome``, written when the task ends (Celery's ``task_postrun``)."""

from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from . import clock, rights
from .scoping import is_platform

BEAT_MODELS = ("periodictask", "intervalschedule", "crontabschedule", "solarschedule", "clockedschedule")


def may_see_jobs(user) -> bool:
    """Who sees the page: a named check the accounts app registers (``core.rights``)."""
    return rights.allows(rights.SEE_JOBS, user)


def record_outcome(sender=None, task_id=None, task=None, retval=None, state=None, **kwargs):
    """``task_postrun``: keep the last outcome of a task that beat schedules (others are ignored)."""
    from django_celery_beat.models import PeriodicTask

    from .models import JobOutcome

    name = getattr(task, "name", None) or getattr(sender, "name", None)
    if not name or not PeriodicTask.objects.filter(task=name).exists():
        return
    summary = str(retval)[:300] if retval is not None else ""
    values = {"finished_at": clock.now(), "state": state or "", "summary": summary}
    try:
        with transaction.atomic():
            JobOutcome.objects.update_or_create(task=name, defaults=values)
    except IntegrityError:  # another worker wrote the first row at the same instant: keep the later write
        JobOutcome.objects.filter(task=name).update(**values)


def describe_schedule(task) -> str:
    """The schedule in words (UTC for crontabs, as beat runs them)."""
    if task.interval_id:
        every, period = task.interval.every, task.interval.period
        names = {"days": _("day(s)"), "hours": _("hour(s)"), "minutes": _("minute(s)"), "seconds": _("second(s)"),
                 "microseconds": _("microsecond(s)")}
        return _("Every %(every)s %(period)s") % {"every": every, "period": names.get(period, period)}
    if task.crontab_id:
        c = task.crontab
        return _("Cron “%(minute)s %(hour)s %(dom)s %(month)s %(dow)s” (%(zone)s)") % {
            "minute": c.minute, "hour": c.hour, "dom": c.day_of_month, "month": c.month_of_year,
            "dow": c.day_of_week, "zone": c.timezone}
    if task.clocked_id:
        return _("Once, at %(at)s") % {"at": f"{timezone.localtime(task.clocked.clocked_time):%Y-%m-%d %H:%M}"}
    if task.solar_id:
        return _("At %(event)s") % {"event": task.solar.get_event_display()}
    return "—"


def next_run(task, now):
    """When beat will next send the task (None when disabled or not computable)."""
    if not task.enabled:
        return None
    try:
        schedule = task.schedule
        last = task.last_run_at or now
        remaining = schedule.remaining_estimate(last)
    except Exception:  # a schedule celery cannot evaluate (e.g. a clocked time passed): shown as unknown
        return None
    return max(now, now + remaining) if isinstance(remaining, timedelta) else None


def scheduled_jobs_view(request):
    from django_celery_beat.models import PeriodicTask

    from .models import JobOutcome

    if not may_see_jobs(request.user):
        raise PermissionDenied
    from django.contrib import admin

    now = clock.now()
    outcomes = {o.task: o for o in JobOutcome.objects.all()}
    rows = []
    for task in PeriodicTask.objects.select_related("interval", "crontab", "solar", "clocked").order_by("name"):
        if task.name.startswith("celery."):  # celery's own housekeeping (backend cleanup)
            continue
        outcome = outcomes.get(task.task)
        rows.append({"name": task.name, "schedule": describe_schedule(task), "enabled": task.enabled,
                     "last_run": outcome.finished_at if outcome else task.last_run_at,
                     "next_run": next_run(task, now), "outcome": outcome, "runs": task.total_run_count})
    context = {**admin.site.each_context(request), "title": _("Scheduled jobs"), "rows": rows,
               "tz_name": timezone.get_current_timezone_name(), "may_edit": is_platform(request.user)}
    return TemplateResponse(request, "admin/jobs.html", context)


def hide_beat_models(site) -> None:
    """django-celery-beat's scheduler models for the platform operator only: everyone else reads the jobs on
    the "Scheduled jobs" page."""
    from django.contrib.admin.sites import NotRegistered
    from django_celery_beat import models as beat

    for name in BEAT_MODELS:
        model = getattr(beat, {"periodictask": "PeriodicTask", "intervalschedule": "IntervalSchedule",
                               "crontabschedule": "CrontabSchedule", "solarschedule": "SolarSchedule",
                               "clockedschedule": "ClockedSchedule"}[name])
        try:
            model_admin = site.get_model_admin(model)
        except NotRegistered:
            continue
        base = type(model_admin)
        site.unregister(model)
        site.register(model, type(base.__name__, (_PlatformOnly, base), {}))


class _PlatformOnly:
    def has_module_permission(self, request):
        return is_platform(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return is_platform(request.user) and super().has_view_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return is_platform(request.user) and super().has_change_permission(request, obj)

    def has_add_permission(self, request):
        return is_platform(request.user) and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None):
        return is_platform(request.user) and super().has_delete_permission(request, obj)
