"""Billing plans, their service rows, and accounts' own service overrides.

Every plan setting left null is inherited from the parent plan, recursively (see ``inheritance.py``).
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import money_field

from . import cost_table
from .inheritance import plan_chain
from .validators import (MAX_HISTORY_DAYS, MAX_MIN_DAYS, AtMost, Between, validate_cost_table, validate_currency_format,
                         validate_http_url, validate_plan_email, validate_report_color, validate_retranslator_mask,
                         validate_sender)


class ServiceType(models.TextChoices):
    PERIODIC = "periodic", _("Periodic")
    ON_DEMAND = "on_demand", _("On demand")


class ResetInterval(models.TextChoices):
    NONE = "none", _("None")
    HOURLY = "hourly", _("Hourly")
    DAILY = "daily", _("Daily")
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")


class CatalogueService(models.Model):
    """A service name with its type: what plan rows price (here, below the kernel that counts it). ``Apps: <name>`` entries belong to one service (top account)."""

    name = models.CharField(verbose_name=_("name"), max_length=100)
    type = models.CharField(verbose_name=_("type"), max_length=10, choices=ServiceType.choices)
    description = models.CharField(verbose_name=_("description"), max_length=500, blank=True, default="")
    service = models.ForeignKey("accounts.Account", verbose_name=_("service"), null=True, blank=True, on_delete=models.CASCADE,
                                related_name="app_services", help_text=_("Set only for 'Apps: …' entries."))

    class Meta:
        verbose_name_plural = _("catalogue services")
        app_label = "services"  # its table, content type, permissions and admin pages stay the services app's
        ordering = ["name"]
        verbose_name = _("catalogue service")
        constraints = [
            models.UniqueConstraint(fields=["name"], condition=models.Q(service__isnull=True),
                                    name="catalogue_global_name_unique"),
            models.UniqueConstraint(fields=["name", "service"], name="catalogue_app_name_unique_in_service"),
        ]

    def __str__(self):
        return self.name


# --- the catalogues plans limit ----------------------------------------------------------------------
# Device types and modems are what a plan limits (SPEC §8.2), so they live here, where the plans see them
# without importing units (docs/architecture.md, "Layers"). They keep the app label "units": the tables,
# rows, content types, permissions, migrations and admin addresses are those they always had.

class DeviceType(models.Model):
    """A kind of tracker. Plans limit which a service's units may use (``Plan.device_types``)."""

    name = models.CharField(verbose_name=_("name"), max_length=100, unique=True)

    class Meta:
        verbose_name = _("device type")
        verbose_name_plural = _("device types")
        app_label = "units"  # its table, content type, permissions and admin pages stay the units app's
        ordering = ["name"]

    def __str__(self):
        return self.name


class Modem(models.Model):
    """A modem a unit may carry; ``limit_by_plans``: only the plans listed may use it."""

    name = models.CharField(verbose_name=_("name"), max_length=100, unique=True)
    limit_by_plans = models.BooleanField(verbose_name=_("limit by plans"), default=False, help_text=_("Usable only by the plans listed."))
    plans = models.ManyToManyField("plans.Plan", verbose_name=_("plans"), blank=True, related_name="modems")

    class Meta:
        verbose_name = _("modem")
        verbose_name_plural = _("modems")
        app_label = "units"  # its table, content type, permissions and admin pages stay the units app's
        ordering = ["name"]

    def __str__(self):
        return self.name


class DeviceTypeLimit(models.TextChoices):
    NONE = "none", _("No limit")
    ONLY = "only", _("Only the listed types")
    EXCEPT = "except", _("All but the listed types")


class PlanEmailField(models.EmailField):
    """An e-mail address, refused in the plans' own words (``validators.validate_plan_email``)."""

    default_validators = [validate_plan_email]


class PlanURLField(models.URLField):
    """An http(s) address, refused in the plans' own words (``validators.validate_http_url``)."""

    default_validators = [validate_http_url]


def catalogue_types(service_id: int | None) -> dict[str, str]:
    """Every name a plan of this service may list, with its type: global names plus its own apps."""
    rows = CatalogueService.objects.filter(service__isnull=True) | CatalogueService.objects.filter(
        service_id=service_id)
    return dict(rows.values_list("name", "type"))


class Plan(models.Model):
    """A billing plan. Its rules: each field's validators (``validators.py``) and ``clean()`` (the parent,
    the name within the service, the plan as a whole); ``operations.py`` runs them with ``full_clean()``."""

    service = models.ForeignKey("accounts.Account", verbose_name=_("service"), on_delete=models.PROTECT, related_name="service_plans",
                                help_text=_("The top account (service) this plan belongs to."))
    name = models.CharField(verbose_name=_("name"), max_length=100, validators=[AtMost(100)],
                            error_messages={"blank": _("A plan needs a name.")})
    parent = models.ForeignKey("self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    description = models.TextField(verbose_name=_("description"), blank=True, default="")
    email = PlanEmailField(verbose_name=_("email"), blank=True, null=True, validators=[AtMost(254)], help_text=_("Sender of the service's outgoing e-mail."))

    block_by_balance = models.BooleanField(verbose_name=_("block by balance"), null=True, blank=True)
    block_balance = money_field(verbose_name=_("block balance"), null=True, blank=True)
    limit_by_balance = models.BooleanField(verbose_name=_("limit by balance"), null=True, blank=True)
    deny_balance = money_field(verbose_name=_("deny balance"), null=True, blank=True)
    block_by_days = models.BooleanField(verbose_name=_("block by days"), null=True, blank=True)
    min_days = models.IntegerField(verbose_name=_("min days"), null=True, blank=True,
                                   validators=[Between(-MAX_MIN_DAYS, MAX_MIN_DAYS)])
    allow_unknown_services = models.BooleanField(verbose_name=_("allow unknown services"), null=True, blank=True)
    currency_format = models.CharField(verbose_name=_("currency format"), max_length=20, null=True, blank=True,
                                       validators=[AtMost(20), validate_currency_format])
    history_period_days = models.PositiveIntegerField(verbose_name=_("history period days"), null=True, blank=True, help_text=_("0 = keep forever."),
                                                      validators=[Between(0, MAX_HISTORY_DAYS)])
    retranslator_mask = models.CharField(verbose_name=_("retranslator mask"), max_length=500, null=True, blank=True,
                                         validators=[AtMost(500), validate_retranslator_mask])
    sms_sender = models.CharField(verbose_name=_("sms sender"), max_length=32, null=True, blank=True,
                                  validators=[AtMost(32), validate_sender])
    command_sender = models.CharField(verbose_name=_("command sender"), max_length=32, null=True, blank=True,
                                      validators=[AtMost(32), validate_sender])
    device_type_limit = models.CharField(verbose_name=_("device type limit"), max_length=10, choices=DeviceTypeLimit.choices, null=True, blank=True)
    device_types = models.ManyToManyField("units.DeviceType", verbose_name=_("device types"), blank=True, related_name="plans")
    report_logo_url = PlanURLField(verbose_name=_("report logo url"), null=True, blank=True, validators=[AtMost(200)])
    report_color = models.CharField(verbose_name=_("report color"), max_length=7, null=True, blank=True, help_text=_("e.g. #1f6feb"),
                                    validators=[AtMost(7), validate_report_color])

    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("plan")
        verbose_name_plural = _("plans")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["service", "name"], name="plan_name_unique_in_service")]

    # The device types being saved with the plan (ids), set by the operation before ``full_clean()``: a
    # many-to-many list is not on the instance until after the save. None: the stored ones.
    pending_device_type_ids: list[int] | None = None

    def __str__(self):
        return self.name

    def clean(self):
        """The rules that read more than one field or other rows: the parent is a plan of the same service and
        no descendant; the name is unique in the service (whatever the case); a root plan sets its history
        period; a list of device types goes with an ``only`` / ``except`` mode."""
        errors = {}
        if self.parent_id is not None:
            if self.parent.service_id != self.service_id:
                errors["parent"] = ValidationError(_("No such object."), code="does_not_exist")
            elif self.pk is not None and self.pk in {p.pk for p in plan_chain(self.parent)}:
                errors["parent"] = ValidationError(
                    _("A plan cannot descend from itself (that would make a cycle)."), code="cycle")
        if self.name and self.service_id is not None and Plan.objects.filter(
                service_id=self.service_id, name__iexact=self.name).exclude(pk=self.pk).exists():
            errors["name"] = ValidationError(_("Another plan of this service has this name."), code="unique")
        if self.parent_id is None and self.history_period_days is None:
            errors["history_period_days"] = ValidationError(
                _("A plan without a parent must set the history period (e.g. 400 days; 0 = forever)."), code="required")
        device_type_ids = self.pending_device_type_ids
        if device_type_ids is None:
            device_type_ids = list(self.device_types.values_list("pk", flat=True)) if self.pk else []
        if device_type_ids and self.device_type_limit in (None, DeviceTypeLimit.NONE):
            errors["device_types"] = ValidationError(
                _("Choose 'only the listed types' or 'all but the listed types' to use a list of device types."),
                code="mode_required")
        if errors:
            raise ValidationError(errors)


class PlanService(models.Model):
    """A plan's row for one service. Its rules: the cost table's syntax and the description's length (field
    validators) and ``clean()`` (the service catalogue, the flat fee, one row per name in a plan)."""

    plan = models.ForeignKey(Plan, verbose_name=_("plan"), on_delete=models.CASCADE, related_name="services")
    name = models.CharField(verbose_name=_("name"), max_length=100, validators=[AtMost(100)],
                            error_messages={"blank": _("A service name is required.")})
    type = models.CharField(verbose_name=_("type"), max_length=10, choices=ServiceType.choices)
    interval = models.CharField(verbose_name=_("interval"), max_length=10, choices=ResetInterval.choices, default=ResetInterval.NONE)
    cost_table = models.CharField(verbose_name=_("cost table"), max_length=2000, blank=True, default="",
                                  validators=[validate_cost_table])
    description = models.CharField(verbose_name=_("description"), max_length=500, blank=True, default="",
                                   validators=[AtMost(500)])

    # {name: type} of the plan's service's catalogue when the caller has read it once (a file import's rows, a
    # form whose plan is not saved yet); None: read from ``plan.service_id``.
    catalogue: dict[str, str] | None = None

    class Meta:
        verbose_name = _("plan service")
        verbose_name_plural = _("plan services")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["plan", "name"], name="plan_service_unique_name")]

    def __str__(self):
        return f"{self.plan}: {self.name}"

    def clean(self):
        """The name is in the service's catalogue, with the catalogue's type (given or implied: an empty type
        becomes the catalogue's); the interval is one of the choices (empty: none); the cost table is stored in
        its canonical form, and a flat fee (counter 0) needs a periodic service with an interval; a plan lists
        a name once. Fills in the implied type and interval and the canonical table."""
        errors = {}
        catalogue = self.catalogue if self.catalogue is not None else catalogue_types(self.plan.service_id)
        kind = self.type
        if self.name and self.name not in catalogue:
            errors["name"] = ValidationError(_("'%(name)s' is not in the service catalogue."), code="not_in_catalogue",
                                             params={"name": self.name})
        elif self.name:
            kind = self.type or catalogue[self.name]
            if kind not in ServiceType.values:
                errors["type"] = ValidationError(_("One of %(choices)s."), code="invalid_choice",
                                                 params={"choices": ", ".join(ServiceType.values)})
            elif kind != catalogue[self.name]:
                errors["type"] = ValidationError(
                    _("'%(name)s' is a %(kind)s service in the catalogue."), code="catalogue_type",
                    params={"name": self.name, "kind": catalogue[self.name].replace("_", " ")})
            else:
                self.type = kind
        interval = self.interval or ResetInterval.NONE
        if interval not in ResetInterval.values:
            errors["interval"] = ValidationError(_("One of %(choices)s."), code="invalid_choice",
                                                 params={"choices": ", ".join(ResetInterval.values)})
        else:
            self.interval = interval
        try:
            table = cost_table.parse(self.cost_table or "")
        except cost_table.CostTableError:
            table = None  # the field's validator says why
        if table is not None:
            if table.items and table.items[0].is_flat_fee and not (kind == ServiceType.PERIODIC
                                                                    and interval != ResetInterval.NONE):
                errors["cost_table"] = ValidationError(
                    _("A flat fee (counter 0) needs a periodic service with an interval."), code="flat_fee")
            else:
                self.cost_table = table.canonical
        if "name" not in errors and self.name and self.plan_id is not None and PlanService.objects.filter(
                plan_id=self.plan_id, name=self.name).exclude(pk=self.pk).exists():
            errors["name"] = ValidationError(_("This plan already lists '%(name)s'."), code="unique",
                                             params={"name": self.name})
        if errors:
            raise ValidationError(errors)


class AccountServiceOverride(models.Model):
    """An account's own row for a service, winning over its plan chain."""

    account = models.ForeignKey("accounts.Account", verbose_name=_("account"), on_delete=models.CASCADE, related_name="service_overrides")
    name = models.CharField(verbose_name=_("name"), max_length=100)
    type = models.CharField(verbose_name=_("type"), max_length=10, choices=ServiceType.choices)
    interval = models.CharField(verbose_name=_("interval"), max_length=10, choices=ResetInterval.choices, default=ResetInterval.NONE)
    cost_table = models.CharField(verbose_name=_("cost table"), max_length=2000, blank=True, default="")

    class Meta:
        verbose_name = _("account service override")
        verbose_name_plural = _("account service overrides")
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="account_override_unique_name")]


class PlanEventAction(models.TextChoices):
    CREATED = "created", _("Plan created")
    CHANGED = "changed", _("Plan changed")
    DELETED = "deleted", _("Plan deleted")
    SERVICE_ADDED = "service_added", _("Service added")
    SERVICE_CHANGED = "service_changed", _("Service changed")
    SERVICE_REMOVED = "service_removed", _("Service removed")
    SERVICES_IMPORTED = "services_imported", _("Services imported")
    SERVICES_EXPORTED = "services_exported", _("Services exported")
    APP_SERVICE_ADDED = "app_service_added", _("Application service added to the catalogue")


class PlanEvent(models.Model):
    """An append-only record of every change to plans and their services, written by the operation
    that made it. Plan id and name are snapshots (no foreign key), so deleting a plan keeps its history."""

    service = models.ForeignKey("accounts.Account", verbose_name=_("service"), on_delete=models.PROTECT, related_name="+")
    plan_id_snapshot = models.BigIntegerField(verbose_name=_("plan id snapshot"), null=True, blank=True, db_index=True)
    plan_name = models.CharField(verbose_name=_("plan name"), max_length=100, blank=True, default="")
    action = models.CharField(verbose_name=_("action"), max_length=20, choices=PlanEventAction.choices)
    actor = models.ForeignKey("accounts.Operator", verbose_name=_("actor"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(verbose_name=_("actor name"), max_length=150, default="system")
    at = models.DateTimeField(verbose_name=_("at"), db_index=True)
    details = models.JSONField(verbose_name=_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("plan event")
        verbose_name_plural = _("plan events")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["service", "-at"], name="plan_event_service_at")]

    def __str__(self):
        return f"{self.get_action_display()}: {self.plan_name}"


class PlanImportJob(models.Model):
    """A plan-services file too big to import within a request, imported by a Celery task
    (``apps.plans.tasks.import_plan_services_file``); its state is what the progress page shows."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        CHECKING = "checking", _("Checking the rows")
        WRITING = "writing", _("Writing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    actor = models.ForeignKey("accounts.Operator", verbose_name=_("actor"), on_delete=models.CASCADE, related_name="+")
    service = models.ForeignKey("accounts.Account", verbose_name=_("service"), on_delete=models.CASCADE, related_name="+")
    mode = models.CharField(verbose_name=_("mode"), max_length=10)
    file_name = models.CharField(verbose_name=_("file name"), max_length=255, blank=True, default="")
    file_format = models.PositiveSmallIntegerField(verbose_name=_("file format"))  # the index in the admin's import formats
    tmp_name = models.CharField(verbose_name=_("tmp name"), max_length=255)  # import-export's temporary storage name
    state = models.CharField(verbose_name=_("state"), max_length=10, choices=State.choices, default=State.QUEUED)
    total_rows = models.PositiveIntegerField(verbose_name=_("total rows"), default=0)
    checked_rows = models.PositiveIntegerField(verbose_name=_("checked rows"), default=0)
    result = models.JSONField(verbose_name=_("result"), default=dict, blank=True)  # counts, removed names, bad rows, message
    created_at = models.DateTimeField(verbose_name=_("created at"))
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("plan import job")
        verbose_name_plural = _("plan import jobs")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.file_name} ({self.get_state_display()})"

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)

    @property
    def stalled(self) -> bool:
        """Unfinished an hour after it was queued: its worker most likely died (nothing was written,
        the import is one transaction)."""
        from datetime import timedelta

        from django.utils import timezone

        return not self.finished and self.created_at < timezone.now() - timedelta(hours=1)

    @property
    def percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        return int(90 * self.checked_rows / self.total_rows) if self.total_rows else 0


# --- History (SPEC §9.8 "Replay"): what was in force when --------------------------------------------
# Written by the operations that change plan rows, overrides and account plans (``history.py``), in
# the same transaction, set-based. A version is in force on [valid_from, valid_until); the open one
# has valid_until null. Rows that existed before the history did start at ``history.BEGINNING``.

class VersionedRow(models.Model):
    """In force on [valid_from, valid_until); the open version has no end."""

    valid_from = models.DateTimeField(verbose_name=_("valid from"))
    valid_until = models.DateTimeField(verbose_name=_("valid until"), null=True, blank=True)

    class Meta:
        abstract = True


class ServiceRowVersion(VersionedRow):
    """One version of a service row (a plan's or an account's own): its name, type, interval and table."""

    name = models.CharField(max_length=100)
    type = models.CharField(max_length=10, choices=ServiceType.choices)
    interval = models.CharField(max_length=10, choices=ResetInterval.choices)
    cost_table = models.CharField(max_length=2000, blank=True, default="")

    class Meta:
        abstract = True


class PlanServiceVersion(ServiceRowVersion):
    """One version of a plan's row for a service name."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="+", db_index=False)
    plan_service_id = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["plan", "name", "valid_from"], name="plan_service_version_at")]
        constraints = [models.UniqueConstraint(fields=["plan", "name"], condition=models.Q(valid_until__isnull=True),
                                               name="plan_service_version_one_open")]


class AccountServiceVersion(ServiceRowVersion):
    """One version of an account's own row (override) for a service name."""

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+", db_index=False)
    override_id = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["account", "name", "valid_from"], name="account_service_version_at")]
        constraints = [models.UniqueConstraint(fields=["account", "name"], condition=models.Q(valid_until__isnull=True),
                                               name="account_service_version_one_open")]


class AccountPlanVersion(VersionedRow):
    """Which plan an account had from ``valid_from`` (null: none, a top account before its plan)."""

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+", db_index=False)
    plan_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["account", "valid_from"], name="account_plan_version_at")]
        constraints = [models.UniqueConstraint(fields=["account"], condition=models.Q(valid_until__isnull=True),
                                               name="account_plan_version_one_open")]
