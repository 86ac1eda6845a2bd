"""Units (trackers), their catalogues, the features the discount reads, monitoring users and grants."""

from django.core.validators import RegexValidator
from django.db import models


class DeactivationReason(models.TextChoices):
    NONE = "", "—"
    MANUAL = "manual", "Deactivated by hand"
    NO_CODE = "no_code", "No activation code"
    CODE_EXPIRED = "code_expired", "Activation code expired"
    CODE_UNASSIGNED = "code_unassigned", "Activation code removed"
    ARCHIVED = "archived", "Archived"


UNIQUE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
unique_id_validator = RegexValidator(UNIQUE_ID_PATTERN, "1–64 characters: letters, digits, '_' or '-'.")


class EcoCriterion(models.TextChoices):
    ACCELERATION = "acceleration"
    BRAKING = "braking"
    TURN = "turn"
    RECKLESS_DRIVING = "reckless_driving"
    CUSTOM = "custom"
    SPEEDING = "speeding"


class Unit(models.Model):
    service = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="+",
                                help_text="The unit's top account (denormalised for scoping and uniqueness).")
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="units")
    name = models.CharField(max_length=200)
    unique_id = models.CharField("IMEI / unique id", max_length=64, validators=[unique_id_validator])
    device_type = models.ForeignKey("units.DeviceType", null=True, blank=True, on_delete=models.PROTECT, related_name="units")
    modem = models.ForeignKey("units.Modem", null=True, blank=True, on_delete=models.PROTECT, related_name="units")
    active = models.BooleanField(default=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    deactivation_reason = models.CharField(max_length=20, choices=DeactivationReason.choices, blank=True, default="")
    archived_at = models.DateTimeField(null=True, blank=True)

    eco_driving = models.BooleanField(default=False)
    road_limits_speeding = models.BooleanField(default=False)
    eco_criteria = models.JSONField(default=list, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
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
        ]

    def __str__(self):
        return self.name


class SensorType(models.TextChoices):
    IGNITION = "ignition"
    ENGINE_HOURS = "engine_hours"
    MILEAGE = "mileage"
    TEMPERATURE = "temperature"
    VOLTAGE = "voltage"
    DIGITAL = "digital"
    COUNTER = "counter"
    CUSTOM = "custom"
    FUEL_LEVEL = "fuel_level"
    FUEL_LEVEL_IMPULSE = "fuel_level_impulse"
    FUEL_CONSUMPTION_ABSOLUTE = "fuel_consumption_absolute"
    FUEL_CONSUMPTION_IMPULSE = "fuel_consumption_impulse"
    FUEL_CONSUMPTION_INSTANT = "fuel_consumption_instant"


FUEL_SENSOR_TYPES = frozenset(t for t in SensorType.values if t.startswith("fuel_"))


class Sensor(models.Model):
    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="sensors")
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=40, choices=SensorType.choices)

    def __str__(self):
        return f"{self.name} ({self.get_type_display()})"

    @property
    def is_fuel(self) -> bool:
        return self.type in FUEL_SENSOR_TYPES


class UnitCommand(models.Model):
    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="commands")
    name = models.CharField(max_length=100)

    def __str__(self):
        return self.name


class ServiceInterval(models.Model):
    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="service_intervals")
    name = models.CharField(max_length=100)

    def __str__(self):
        return self.name


class MonitoringUser(models.Model):
    """A user of the monitoring platform (not a login here), needed by the discount's eligibility rules."""

    service = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="monitoring_users")
    name = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["service", "name"], name="monitoring_user_unique_in_service")]

    def __str__(self):
        return self.name


class AccessGrant(models.Model):
    """A monitoring user's access to one unit or to one account resource."""

    user = models.ForeignKey(MonitoringUser, on_delete=models.CASCADE, related_name="grants")
    unit = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.CASCADE, related_name="grants")
    account = models.ForeignKey("accounts.Account", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="resource_grants")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(unit__isnull=False, account__isnull=True)
                           | models.Q(unit__isnull=True, account__isnull=False)),
                name="grant_unit_xor_account",
                violation_error_message="Give either a unit or an account, not both.",
            ),
            models.UniqueConstraint(fields=["user", "unit"], name="grant_unique_unit"),
            models.UniqueConstraint(fields=["user", "account"], name="grant_unique_account"),
        ]

    def __str__(self):
        return f"{self.user}: {self.unit or self.account}"


class UnitAction(models.TextChoices):
    CREATED = "created"
    UPDATED = "updated"
    MOVED = "moved"
    ACTIVATED = "activated"
    DEACTIVATED = "deactivated"
    ARCHIVED = "archived"
    USER_CREATED = "user_created"
    ACCESS_GRANTED = "access_granted"
    ACCESS_REVOKED = "access_revoked"


class UnitEvent(models.Model):
    """The audit trail of every write made by ``apps.units.operations`` (written in the same transaction).

    Like the code log, it keeps ids and name snapshots instead of foreign keys to the objects it
    describes, so nothing cascades and an event still reads right after a rename or a move. ``account_path``
    is the path of the account concerned at that time: the scoping rule filters on it.
    """

    at = models.DateTimeField(db_index=True)
    action = models.CharField(max_length=20, choices=UnitAction.choices)
    service_id_snapshot = models.BigIntegerField("service id")
    account_path = models.CharField(max_length=512)
    account_name = models.CharField(max_length=200)
    unit_id_snapshot = models.BigIntegerField("unit id", null=True, blank=True)
    unit_name = models.CharField(max_length=200, blank=True, default="")
    monitoring_user_id_snapshot = models.BigIntegerField("monitoring user id", null=True, blank=True)
    actor_name = models.CharField(max_length=150, default="system")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["unit_id_snapshot", "-at"], name="unit_event_unit_at"),
            models.Index(fields=["account_path", "-at"], name="unit_event_path_at"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.unit_name}"
