from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UnitsConfig(AppConfig):
    name = "apps.units"
    label = "units"
    verbose_name = _("Units")

    def ready(self):
        from apps.services.queries import register_per_unit_items

        from .models import Sensor, UnitCommand

        # The kernel charges ``unit_sensors`` per sensor and ``unit_alias`` per command of each unit.
        register_per_unit_items("unit_sensors", Sensor)
        register_per_unit_items("unit_alias", UnitCommand)
