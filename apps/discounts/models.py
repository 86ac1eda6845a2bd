"""Daily discount snapshots: one row per service and local day, written by ``snapshot_discounts``.

The per-account and per-unit detail is not stored: it is recalculated on demand (see
``docs/decisions.md``), so a day costs one row, not one row per unit.
"""

from django.db import models

PERCENT = {"max_digits": 5, "decimal_places": 2}


class DiscountSnapshot(models.Model):
    service = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="discount_snapshots",
                                help_text="The top account (service).")
    day = models.DateField(help_text="The local day (service time zone) the values stand for.")
    current = models.DecimalField(**PERCENT)
    maximum = models.DecimalField(**PERCENT)
    applied = models.DecimalField(**PERCENT)
    purchased = models.PositiveIntegerField()
    in_use = models.PositiveIntegerField()
    unused = models.PositiveIntegerField()
    full_cost = models.PositiveIntegerField()
    estimated = models.BooleanField(
        default=False, help_text="Taken on a later day, after the job missed this one: today's values stand in.")
    taken_at = models.DateTimeField()

    class Meta:
        ordering = ["service", "-day"]
        verbose_name = "discount snapshot"
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
        verbose_name = "discount module"
        verbose_name_plural = "discount module"
