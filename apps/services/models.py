"""The service catalogue (every service name a plan row may use) and, later, the kernel's counters."""

from django.db import models

from apps.plans.models import ServiceType


class CatalogueService(models.Model):
    """A service name with its type. ``Apps: <name>`` entries belong to one service (top account)."""

    name = models.CharField(max_length=100)
    type = models.CharField(max_length=10, choices=ServiceType.choices)
    description = models.CharField(max_length=500, blank=True, default="")
    service = models.ForeignKey("accounts.Account", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="app_services", help_text="Set only for 'Apps: …' entries.")

    class Meta:
        ordering = ["name"]
        verbose_name = "catalogue service"
        constraints = [
            models.UniqueConstraint(fields=["name"], condition=models.Q(service__isnull=True),
                                    name="catalogue_global_name_unique"),
            models.UniqueConstraint(fields=["name", "service"], name="catalogue_app_name_unique_in_service"),
        ]

    def __str__(self):
        return self.name
