"""Rows of the core app: the last outcome of each scheduled job, for the "Scheduled jobs" page."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class JobOutcome(models.Model):
    """The last run of one Celery task that beat schedules: when it ended, whether it succeeded and what it
    answered (``apps.core.jobs`` writes it from Celery's ``task_postrun`` signal, in the worker)."""

    task = models.CharField(verbose_name=_("task"), max_length=200, unique=True)
    finished_at = models.DateTimeField(verbose_name=_("finished at"))
    state = models.CharField(verbose_name=_("state"), max_length=20)  # Celery's: SUCCESS, FAILURE, RETRY…
    summary = models.CharField(verbose_name=_("summary"), max_length=300, blank=True, default="")

    class Meta:
        verbose_name_plural = _("job outcomes")
        verbose_name = _("job outcome")

    def __str__(self):
        return f"{self.task}: {self.state}"
