"""The service catalogue: every service name a plan row may use, with its type.

``ensure_catalogue()`` is idempotent and called by the data migration and by test fixtures.
"""

# (name, type, description)
CATALOGUE: list[tuple[str, str, str]] = [
    ("avl_unit", "periodic", "Units (trackers) in the account."),
    ("avl_resource", "periodic", "Accounts (resources) created."),
    ("storage_user", "periodic", "Monitoring users created."),
    ("sms", "on_demand", "SMS messages sent."),
    ("zones_library", "periodic", "Geofences."),
    ("drivers", "periodic", "Drivers."),
    ("trailers", "periodic", "Trailers."),
    ("notifications", "periodic", "Notifications."),
    ("jobs", "periodic", "Jobs."),
    ("routes", "periodic", "Routes."),
    ("reporttemplates", "periodic", "Report templates."),
    ("retranslator_units", "periodic", "Units in retranslators."),
    ("unit_sensors", "periodic", "Sensors of each unit."),
    ("unit_alias", "periodic", "Commands of each unit."),
    ("periodic", "periodic", "A flat periodic fee."),
]


def ensure_catalogue(apps=None):
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    CatalogueService = apps.get_model("services", "CatalogueService")
    existing = set(CatalogueService.objects.filter(service__isnull=True).values_list("name", flat=True))
    CatalogueService.objects.bulk_create(
        [CatalogueService(name=n, type=t, description=d) for n, t, d in CATALOGUE if n not in existing]
    )
