"""Daily discount snapshots, and the stored account and unit tables the module page reads.

``DiscountSnapshot``: one row per service and local day, written by ``snapshot_discounts`` (kept for
ever: the month's value is their mean). ``DiscountCalculation``: one calculation of a service with
its account rows (``DiscountAccountRow``) and unit rows (``DiscountUnitRow``), written set-based.
The daily job keeps the table of the day it saved (``kind=daily``, the older days' tables are
dropped); "Recalculate" writes one of ``kind=recalculation`` from a Celery task, which is also its
job row (state and progress), and is never a day's snapshot. The page reads one page of a table.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

PERCENT = {"max_digits": 5, "decimal_places": 2}


class DiscountSnapshot(models.Model):
    service = models.ForeignKey("accounts.Account", verbose_name=_("service"), on_delete=models.PROTECT, related_name="discount_snapshots",
                                help_text=_("The top account (service)."))
    day = models.DateField(verbose_name=_("day"), help_text=_("The local day (service time zone) the values stand for."))
    current = models.DecimalField(verbose_name=_("current"), **PERCENT)
    maximum = models.DecimalField(verbose_name=_("maximum"), **PERCENT)
    applied = models.DecimalField(verbose_name=_("applied"), **PERCENT)
    purchased = models.PositiveIntegerField(verbose_name=_("purchased"))
    in_use = models.PositiveIntegerField(verbose_name=_("in use"))
    unused = models.PositiveIntegerField(verbose_name=_("unused"))
    full_cost = models.PositiveIntegerField(verbose_name=_("full cost"))
    estimated = models.BooleanField(verbose_name=_("estimated"),
        default=False, help_text=_("Taken on a later day, after the job missed this one: today's values stand in."))
    taken_at = models.DateTimeField(verbose_name=_("taken at"))

    class Meta:
        verbose_name_plural = _("discount snapshots")
        ordering = ["service", "-day"]
        verbose_name = _("discount snapshot")
        constraints = [
            models.UniqueConstraint(fields=["service", "day"], name="discount_snapshot_unique_service_day"),
            models.CheckConstraint(
                condition=models.Q(applied__lte=models.F("current")) & models.Q(applied__lte=models.F("maximum")),
                name="discount_snapshot_applied_is_the_smaller"),
        ]

    def __str__(self):
        return f"{self.service_id} {self.day}: {self.applied} %"


class DiscountModule(DiscountSnapshot):
    """Not a model of modules: a proxy over the snapshots that gives the discount module *page* its admin
    index entry (its changelist redirects there). The name is kept because the permission codenames
    (``view_discountmodule``) and the admin address derive from it.

    Its permissions (``discounts.view_discountmodule``) follow the role groups: top users have them,
    distributors never do.
    """

    class Meta:
        proxy = True
        verbose_name = _("discount module")
        verbose_name_plural = _("discount module")


class DiscountCalculation(models.Model):
    """One calculation of a service's discount and the header of its stored tables; for a
    recalculation also its background job (state and progress, like ``plans.PlanImportJob``)."""

    class Kind(models.TextChoices):
        DAILY = "daily", _("Daily snapshot")
        RECALCULATION = "recalculation", _("Recalculation")

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        CALCULATING = "calculating", _("Calculating")
        WRITING = "writing", _("Writing the tables")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    service = models.ForeignKey("accounts.Account", verbose_name=_("service"), on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(verbose_name=_("kind"), max_length=14, choices=Kind.choices)
    day = models.DateField(verbose_name=_("day"), null=True, blank=True, help_text=_("The local day saved (daily tables only)."))
    actor = models.ForeignKey("accounts.Operator", verbose_name=_("actor"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(verbose_name=_("state"), max_length=12, choices=State.choices, default=State.QUEUED)
    percent = models.PositiveSmallIntegerField(verbose_name=_("percent"), default=0)
    created_at = models.DateTimeField(verbose_name=_("created at"))
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)
    message = models.TextField(verbose_name=_("message"), blank=True, default="")
    current = models.DecimalField(verbose_name=_("current"), null=True, blank=True, **PERCENT)
    maximum = models.DecimalField(verbose_name=_("maximum"), null=True, blank=True, **PERCENT)
    applied = models.DecimalField(verbose_name=_("applied"), null=True, blank=True, **PERCENT)
    purchased = models.PositiveIntegerField(verbose_name=_("purchased"), default=0)
    in_use = models.PositiveIntegerField(verbose_name=_("in use"), default=0)
    unused = models.PositiveIntegerField(verbose_name=_("unused"), default=0)
    full_cost = models.PositiveIntegerField(verbose_name=_("full cost"), default=0)
    basic_package_units = models.PositiveIntegerField(verbose_name=_("basic package units"), default=0)
    after_top_current = models.DecimalField(verbose_name=_("after top current"), null=True, blank=True, **PERCENT)
    after_top_applied = models.DecimalField(verbose_name=_("after top applied"), null=True, blank=True, **PERCENT)
    accounts = models.PositiveIntegerField(verbose_name=_("accounts"), default=0, help_text=_("Account rows stored."))
    units = models.PositiveIntegerField(verbose_name=_("units"), default=0, help_text=_("Unit rows stored."))

    class Meta:
        verbose_name = _("discount calculation")
        verbose_name_plural = _("discount calculations")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["service", "day"], condition=models.Q(kind="daily"),
                                    name="discount_calculation_one_daily_table"),
        ]
        indexes = [models.Index(fields=["service", "kind", "-created_at"], name="discount_calc_service_kind")]

    def __str__(self):
        return f"{self.service_id} {self.kind} {self.created_at:%Y-%m-%d %H:%M} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)

    @property
    def stalled(self) -> bool:
        """Unfinished an hour after it was queued: its worker most likely stopped."""
        from datetime import timedelta

        from django.utils import timezone

        return not self.finished and self.created_at < timezone.now() - timedelta(hours=1)


class DiscountAccountRow(models.Model):
    """One account's line of a stored table (``position``: its place, by name)."""

    calculation = models.ForeignKey(DiscountCalculation, verbose_name=_("calculation"), on_delete=models.CASCADE, related_name="+", db_index=False)
    position = models.PositiveIntegerField(verbose_name=_("position"))
    account_id = models.BigIntegerField(verbose_name=_("account id"))
    name = models.CharField(verbose_name=_("name"), max_length=200)
    rank = models.IntegerField(verbose_name=_("rank"))
    discount = models.DecimalField(verbose_name=_("discount"), **PERCENT)
    units = models.PositiveIntegerField(verbose_name=_("units"))
    first_unit = models.PositiveIntegerField(verbose_name=_("first unit"), help_text=_("The position of its first unit row (its units are consecutive)."))
    reasons = models.JSONField(verbose_name=_("reasons"), default=list)
    advice = models.JSONField(verbose_name=_("advice"), default=list, help_text=_("The top suggestions, worded: [{feature, change, after, note}]."))

    class Meta:
        verbose_name = _("discount account row")
        verbose_name_plural = _("discount account rows")
        ordering = ["calculation", "position"]
        constraints = [models.UniqueConstraint(fields=["calculation", "position"],
                                               name="discount_account_row_position")]
        indexes = [models.Index(fields=["calculation", "account_id"], name="discount_account_row_account")]


class DiscountUnitRow(models.Model):
    """One counted unit's line of a stored table (``position``: its place in the whole table: accounts
    by name, then their units by name, as the API lists them)."""

    calculation = models.ForeignKey(DiscountCalculation, verbose_name=_("calculation"), on_delete=models.CASCADE, related_name="+", db_index=False)
    account_id = models.BigIntegerField(verbose_name=_("account id"))
    position = models.PositiveIntegerField(verbose_name=_("position"))
    unit_id = models.BigIntegerField(verbose_name=_("unit id"))
    name = models.CharField(verbose_name=_("name"), max_length=200)
    unit_points = models.IntegerField(verbose_name=_("unit points"))
    account_points = models.IntegerField(verbose_name=_("account points"))
    discount = models.SmallIntegerField(verbose_name=_("discount"))
    eligible = models.BooleanField(verbose_name=_("eligible"))
    reasons = models.JSONField(verbose_name=_("reasons"), default=list)
    advice = models.JSONField(verbose_name=_("advice"), default=list)

    class Meta:
        verbose_name = _("discount unit row")
        verbose_name_plural = _("discount unit rows")
        ordering = ["calculation", "position"]
        constraints = [models.UniqueConstraint(fields=["calculation", "position"], name="discount_unit_row_position")]
        indexes = [models.Index(fields=["calculation", "account_id", "position"], name="discount_unit_row_account")]

    @property
    def rank(self) -> int:
        return self.unit_points + self.account_points
