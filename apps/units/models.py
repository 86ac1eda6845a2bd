"""Units (trackers), their catalogues, the features the discount reads, monitoring users and grants."""

from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class DeactivationReason(models.TextChoices):
    NONE = "", "—"
    MANUAL = "manual", _("Deactivated by hand")
    NO_CODE = "no_code", _("No activation code")
    CODE_EXPIRED = "code_expired", _("Activation code expired")
    CODE_UNASSIGNED = "code_unassigned", _("Activation code removed")
    ARCHIVED = "archived", _("Archived")


UNIQUE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
unique_id_validator = RegexValidator(UNIQUE_ID_PATTERN, "1–64 characters: letters, digits, '_' or '-'.")


class EcoCriterion(models.TextChoices):
    ACCELERATION = "acceleration", _("Acceleration")
    BRAKING = "braking", _("Braking")
    TURN = "turn", _("Turn")
    RECKLESS_DRIVING = "reckless_driving", _("Reckless driving")
    CUSTOM = "custom", _("Custom")
    SPEEDING = "speeding", _("Speeding")


class Unit(models.Model):
    service = models.ForeignKey("accounts.Account", verbose_name=_("service"), on_delete=models.PROTECT, related_name="+",
                                help_text=_("The unit's top account (denormalised for scoping and uniqueness)."))
    account = models.ForeignKey("accounts.Account", verbose_name=_("account"), on_delete=models.PROTECT, related_name="units")
    name = models.CharField(verbose_name=_("name"), max_length=200)
    unique_id = models.CharField(_("IMEI / unique id"), max_length=64, validators=[unique_id_validator])
    device_type = models.ForeignKey("units.DeviceType", verbose_name=_("device type"), null=True, blank=True, on_delete=models.PROTECT, related_name="units")
    modem = models.ForeignKey("units.Modem", verbose_name=_("modem"), null=True, blank=True, on_delete=models.PROTECT, related_name="units")
    active = models.BooleanField(verbose_name=_("active"), default=True)
    deactivated_at = models.DateTimeField(verbose_name=_("deactivated at"), null=True, blank=True)
    deactivation_reason = models.CharField(verbose_name=_("deactivation reason"), max_length=20, choices=DeactivationReason.choices, blank=True, default="")
    archived_at = models.DateTimeField(verbose_name=_("archived at"), null=True, blank=True)

    eco_driving = models.BooleanField(verbose_name=_("eco driving"), default=False)
    road_limits_speeding = models.BooleanField(verbose_name=_("road limits speeding"), default=False)
    eco_criteria = models.JSONField(verbose_name=_("eco criteria"), default=list, blank=True)

    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("unit")
        verbose_name_plural = _("units")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["service", "unique_id"], condition=models.Q(archived_at__isnull=True),
                                    name="unit_unique_id_unique_in_service"),
        ]
        # No index covers ``active`` (nor ``deactivated_at``, ``deactivation_reason``): (de)activating a unit,
        # 100,000 at a time in the expiry sweep, is then a HOT update on PostgreSQL (fillfactor 50, set in
        # migration 0005), with no index write. An account's active units are read through ``account_id``.
        indexes = [
            # A service's live units in list order: the first page of the API and the admin.
            models.Index(fields=["service", "name", "id"], name="unit_service_name",
                         condition=models.Q(archived_at__isnull=True)),
            # The expiry forecast (issue 15): each unit's account read from the index alone, in unit order,
            # when 90,000 codes on units are grouped by their unit's account (no heap fetch per unit).
            models.Index(fields=["id"], include=["account"], name="unit_forecast_account"),
            # A subtree's live units, counted from the index alone (issue 16): one probe per account of the
            # subtree, ten entries each, instead of reading every unit of the service to join them.
            models.Index(fields=["account"], include=["service"], name="unit_live_account",
                         condition=models.Q(archived_at__isnull=True)),
        ]

    def __str__(self):
        return self.name


class SensorType(models.TextChoices):
    IGNITION = "ignition", _("Ignition")
    ENGINE_HOURS = "engine_hours", _("Engine hours")
    MILEAGE = "mileage", _("Mileage")
    TEMPERATURE = "temperature", _("Temperature")
    VOLTAGE = "voltage", _("Voltage")
    DIGITAL = "digital", _("Digital")
    COUNTER = "counter", _("Counter")
    CUSTOM = "custom", _("Custom")
    FUEL_LEVEL = "fuel_level", _("Fuel level")
    FUEL_LEVEL_IMPULSE = "fuel_level_impulse", _("Fuel level impulse")
    FUEL_CONSUMPTION_ABSOLUTE = "fuel_consumption_absolute", _("Fuel consumption absolute")
    FUEL_CONSUMPTION_IMPULSE = "fuel_consumption_impulse", _("Fuel consumption impulse")
    FUEL_CONSUMPTION_INSTANT = "fuel_consumption_instant", _("Fuel consumption instant")


FUEL_SENSOR_TYPES = frozenset(t for t in SensorType.values if t.startswith("fuel_"))


class Sensor(models.Model):
    unit = models.ForeignKey(Unit, verbose_name=_("unit"), on_delete=models.CASCADE, related_name="sensors")
    name = models.CharField(verbose_name=_("name"), max_length=100)
    type = models.CharField(verbose_name=_("type"), max_length=40, choices=SensorType.choices)

    class Meta:
        verbose_name = _("sensor")
        verbose_name_plural = _("sensors")

    def __str__(self):
        return f"{self.name} ({self.get_type_display()})"

    @property
    def is_fuel(self) -> bool:
        return self.type in FUEL_SENSOR_TYPES


class UnitCommand(models.Model):
    unit = models.ForeignKey(Unit, verbose_name=_("unit"), on_delete=models.CASCADE, related_name="commands")
    name = models.CharField(verbose_name=_("name"), max_length=100)

    class Meta:
        verbose_name = _("unit command")
        verbose_name_plural = _("unit commands")

    def __str__(self):
        return self.name


class ServiceInterval(models.Model):
    unit = models.ForeignKey(Unit, verbose_name=_("unit"), on_delete=models.CASCADE, related_name="service_intervals")
    name = models.CharField(verbose_name=_("name"), max_length=100)

    class Meta:
        verbose_name = _("service interval")
        verbose_name_plural = _("service intervals")

    def __str__(self):
        return self.name


class MonitoringUser(models.Model):
    """A user of the monitoring platform (not a login here), needed by the discount's eligibility rules."""

    service = models.ForeignKey("accounts.Account", verbose_name=_("service"), on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey("accounts.Account", verbose_name=_("account"), on_delete=models.PROTECT, related_name="monitoring_users")
    name = models.CharField(verbose_name=_("name"), max_length=150)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("monitoring user")
        verbose_name_plural = _("monitoring users")
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["service", "name"], name="monitoring_user_unique_in_service")]

    def __str__(self):
        return self.name


class AccessGrant(models.Model):
    """A monitoring user's access to one unit or to one account resource."""

    user = models.ForeignKey(MonitoringUser, verbose_name=_("user"), on_delete=models.CASCADE, related_name="grants")
    unit = models.ForeignKey(Unit, verbose_name=_("unit"), null=True, blank=True, on_delete=models.CASCADE, related_name="grants")
    account = models.ForeignKey("accounts.Account", verbose_name=_("account"), null=True, blank=True, on_delete=models.CASCADE,
                                related_name="resource_grants")

    class Meta:
        verbose_name = _("access grant")
        verbose_name_plural = _("access grants")
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(unit__isnull=False, account__isnull=True)
                           | models.Q(unit__isnull=True, account__isnull=False)),
                name="grant_unit_xor_account",
                violation_error_message=_("Give either a unit or an account, not both."),
            ),
            models.UniqueConstraint(fields=["user", "unit"], name="grant_unique_unit"),
            models.UniqueConstraint(fields=["user", "account"], name="grant_unique_account"),
        ]

    def __str__(self):
        return f"{self.user}: {self.unit or self.account}"


class UnitAction(models.TextChoices):
    CREATED = "created", _("Created")
    UPDATED = "updated", _("Updated")
    MOVED = "moved", _("Moved")
    ACTIVATED = "activated", _("Activated")
    DEACTIVATED = "deactivated", _("Deactivated")
    ARCHIVED = "archived", _("Archived")
    USER_CREATED = "user_created", _("User created")
    ACCESS_GRANTED = "access_granted", _("Access granted")
    ACCESS_REVOKED = "access_revoked", _("Access revoked")


class UnitEvent(models.Model):
    """The audit trail of every write made by ``apps.units.operations`` (written in the same transaction).

    Like the code log, it keeps ids and name snapshots instead of foreign keys to the objects it
    describes, so nothing cascades and an event still reads right after a rename or a move. ``account_path``
    is the path of the account concerned at that time: the scoping rule filters on it.
    """

    at = models.DateTimeField(verbose_name=_("at"), db_index=True)
    action = models.CharField(verbose_name=_("action"), max_length=20, choices=UnitAction.choices)
    service_id_snapshot = models.BigIntegerField(_("service id"))
    account_path = models.CharField(verbose_name=_("account path"), max_length=512)
    account_name = models.CharField(verbose_name=_("account name"), max_length=200)
    unit_id_snapshot = models.BigIntegerField(_("unit id"), null=True, blank=True)
    unit_name = models.CharField(verbose_name=_("unit name"), max_length=200, blank=True, default="")
    monitoring_user_id_snapshot = models.BigIntegerField(_("monitoring user id"), null=True, blank=True)
    actor_name = models.CharField(verbose_name=_("actor name"), max_length=150, default="system")
    details = models.JSONField(verbose_name=_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("unit event")
        verbose_name_plural = _("unit events")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["unit_id_snapshot", "-at"], name="unit_event_unit_at"),
            models.Index(fields=["account_path", "-at"], name="unit_event_path_at"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.unit_name}"
