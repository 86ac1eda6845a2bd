from django.apps import AppConfig


class UnitsConfig(AppConfig):
    name = "apps.units"
    label = "units"

    def ready(self):
        from apps.services.queries import register_per_unit_items

        from .models import Sensor, UnitCommand

        # The kernel charges ``unit_sensors`` per sensor and ``unit_alias`` per command of each unit.
        register_per_unit_items("unit_sensors", Sensor)
        register_per_unit_items("unit_alias", UnitCommand)
