"""The kernel's state (the catalogue itself lives in ``apps.plans``, which prices it): usage counters, the object journal, charges.

Every row here is written by ``operations.py`` (the kernel) and the jobs in ``charging.py`` and
``days.py``; the unique constraints are what makes a double count or a double charge impossible
even when two workers run at once.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _



class UsageCounter(models.Model):
    """On-demand usage of one account in one reset window.

    ``total`` is the account's usage including its whole subtree (what its table prices and
    limits); ``own`` is the part used by the account itself. A window is never reset: the next
    window is simply another row, so no job has to run at a boundary.
    """

    # No index of its own: the unique window key leads with the account.
    account = models.ForeignKey("accounts.Account", verbose_name=_("account"), on_delete=models.CASCADE, related_name="+", db_index=False)
    service = models.CharField(verbose_name=_("service"), max_length=100)
    window_start = models.DateTimeField(verbose_name=_("window start"))
    window_end = models.DateTimeField(verbose_name=_("window end"))
    own = models.BigIntegerField(verbose_name=_("own"), default=0)
    total = models.BigIntegerField(verbose_name=_("total"), default=0)

    class Meta:
        verbose_name = _("usage counter")
        verbose_name_plural = _("usage counters")
        constraints = [
            models.UniqueConstraint(fields=["account", "service", "window_start"], name="usage_counter_unique_window"),
        ]
        permissions = [("check_service", "Can use the check-a-service tool")]


class ObjectCounter(models.Model):
    """Current number of objects of a periodic service: the account's own and its subtree's.

    Every ancestor of an account that creates an object gets its ``subtree`` moved in the same
    statement, so a dealer's limit is checked without counting its subtree.
    """

    account = models.ForeignKey("accounts.Account", verbose_name=_("account"), on_delete=models.CASCADE, related_name="+")
    service = models.CharField(verbose_name=_("service"), max_length=100)
    own = models.BigIntegerField(verbose_name=_("own"), default=0)
    subtree = models.BigIntegerField(verbose_name=_("subtree"), default=0)

    class Meta:
        verbose_name = _("object counter")
        verbose_name_plural = _("object counters")
        constraints = [
            models.UniqueConstraint(fields=["account", "service"], name="object_counter_unique"),
            models.CheckConstraint(condition=models.Q(own__gte=0, subtree__gte=models.F("own")),
                                   name="object_counter_not_negative"),
        ]


class ObjectChange(models.Model):
    """The journal of object counts: a periodic window is charged on the count rebuilt from it.

    ``path`` is the account's materialised path at the time, so a charge run can attribute a
    change to every ancestor without joining the account tree.
    """

    account = models.ForeignKey("accounts.Account", verbose_name=_("account"), on_delete=models.CASCADE, related_name="+")
    path = models.CharField(verbose_name=_("path"), max_length=512)
    service = models.CharField(verbose_name=_("service"), max_length=100)
    delta = models.IntegerField(verbose_name=_("delta"))
    at = models.DateTimeField(verbose_name=_("at"))
    actor_name = models.CharField(verbose_name=_("actor name"), max_length=150, default="system")

    class Meta:
        verbose_name = _("object change")
        verbose_name_plural = _("object changes")
        indexes = [models.Index(fields=["at"], name="object_change_at")]


class ChargeWatermark(models.Model):
    """Up to which instant (a window end) an account's periodic service has been charged.

    Zero-amount windows write no charge row; moving this watermark is what marks them done.
    """

    # db_index=False: the unique key (account, service) serves queries by account.
    account = models.ForeignKey("accounts.Account", verbose_name=_("account"), on_delete=models.CASCADE, related_name="+", db_index=False)
    service = models.CharField(verbose_name=_("service"), max_length=100)
    charged_until = models.DateTimeField(verbose_name=_("charged until"))

    class Meta:
        verbose_name = _("charge watermark")
        verbose_name_plural = _("charge watermarks")
        constraints = [models.UniqueConstraint(fields=["account", "service"], name="charge_watermark_unique")]


class DayCount(models.Model):
    """One local day taken off an account's days counter (block by days)."""

    account = models.ForeignKey("accounts.Account", verbose_name=_("account"), on_delete=models.PROTECT, related_name="+")
    day = models.DateField(verbose_name=_("day"))
    ledger_entry = models.OneToOneField("accounts.LedgerEntry", verbose_name=_("ledger entry"), on_delete=models.PROTECT, related_name="+")
    counted_at = models.DateTimeField(verbose_name=_("counted at"))

    class Meta:
        verbose_name = _("day count")
        verbose_name_plural = _("day counts")
        constraints = [models.UniqueConstraint(fields=["account", "day"], name="day_count_unique_day")]


class JobRun(models.Model):
    """When a kernel job last started: where a newly seen (account, service) pair begins."""

    job = models.CharField(verbose_name=_("job"), max_length=50, unique=True)
    last_started_at = models.DateTimeField(verbose_name=_("last started at"))

    class Meta:
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
