"""The service catalogue: every service name a plan row may use, with its type.

``ensure_catalogue()`` is idempotent and called by the data migration and by test fixtures.
"""

PERIODIC, ON_DEMAND = "periodic", "on_demand"

# (name, type, description). The seed's services table first, then the extra names of
# research/wialon.md §3; where the two disagree on a type (avl_retranslator), the seed wins.
CATALOGUE: list[tuple[str, str, str]] = [
    ("alarms", PERIODIC, "Number of alarms kept for the account."),
    ("avl_unit", PERIODIC, "Units (trackers) the account may hold; each unit counts once."),
    ("avl_unit_group", PERIODIC, "Groups of units."),
    ("avl_resource", PERIODIC, "Accounts (resources) created; allow at least one."),
    ("avl_retranslator", ON_DEMAND, "Switching a retranslator on or off."),
    ("cms_manager", ON_DEMAND, "Use of the CMS Manager administration site."),
    ("create_units", ON_DEMAND, "The monitoring site's button for creating units."),
    ("create_users", ON_DEMAND, "The monitoring site's button for creating users."),
    ("create_unit_groups", ON_DEMAND, "The monitoring site's button for creating unit groups."),
    ("custom_fields", PERIODIC, "Custom fields on units, users and unit groups."),
    ("custom_reports", ON_DEMAND, "Advanced reports for units and users on the monitoring site."),
    ("email_notification", ON_DEMAND, "Notifications delivered by e-mail."),
    ("email_report", ON_DEMAND, "Reports mailed by a job."),
    ("drivers", PERIODIC, "Drivers, usable in monitoring and reports."),
    ("jobs", PERIODIC, "Scheduled jobs."),
    ("messages", ON_DEMAND, "The messages mode of the monitoring site."),
    ("net_access", ON_DEMAND, "Log-in through a service connector (desktop client)."),
    ("notifications", PERIODIC, "Notifications the account may set up."),
    ("periodic", PERIODIC, "A fee for the service as a whole each interval, e.g. a monthly charge (0:10;-1)."),
    ("pois", PERIODIC, "Points of interest (places)."),
    ("reports", ON_DEMAND, "The reports mode."),
    ("reportsmngt", ON_DEMAND, "GPRS traffic accounting in unit properties, jobs, notifications and reports."),
    ("reporttemplates", PERIODIC,
     "Report templates and reports built from them; also trip detection and fuel tabs of a unit."),
    ("routes", PERIODIC, "Routes per unit."),
    ("service_intervals", PERIODIC, "Maintenance intervals: setting, tracking and reporting them."),
    ("sms", ON_DEMAND, "SMS messages sent."),
    ("storage_user", PERIODIC, "Monitoring users created; allow at least one."),
    ("unit_alias", PERIODIC, "Command aliases of each unit (priced per unit)."),
    ("unit_sensors", PERIODIC, "Sensors of each unit (priced per unit)."),
    ("wialon_mobile", ON_DEMAND, "The mobile application."),
    ("wialon_web", ON_DEMAND, "The main web interface of the tracking system."),
    ("zones_library", PERIODIC, "Geofences."),
    # Extra names from the platform's API reference (research/wialon.md §3).
    ("avl_route", PERIODIC, "Route objects."),
    ("driver_groups", PERIODIC, "Groups of drivers."),
    ("orders", PERIODIC, "Delivery orders."),
    ("retranslator_units", PERIODIC, "Units sent on through retranslators."),
    ("rounds", PERIODIC, "Rounds along routes."),
    ("route_schedules", PERIODIC, "Schedules of routes."),
    ("trailers", PERIODIC, "Trailers."),
    ("trailer_groups", PERIODIC, "Groups of trailers."),
    ("unit_commands", PERIODIC, "Commands configured on units."),
    ("user_notifications", PERIODIC, "Notifications owned by users."),
    ("zone_groups", PERIODIC, "Groups of geofences."),
    ("create_resources", ON_DEMAND, "The monitoring site's button for creating accounts (resources)."),
    ("google_service", ON_DEMAND, "Google maps and services."),
    ("import_export", ON_DEMAND, "Import and export of objects and their properties."),
    ("locator", ON_DEMAND, "Sharing unit positions through locator links."),
    ("sdk", ON_DEMAND, "Access through the software development kit."),
    ("tacho", ON_DEMAND, "Tachograph files and driver cards."),
    ("wialon_sdk", ON_DEMAND, "The platform's SDK for partners' own applications."),
]
APP_PREFIX = "Apps: "
"""Application services (``Apps: <name>``) belong to one service and are added by its top user."""


def ensure_catalogue(apps=None):
    """Add every catalogue name missing from the database; existing rows are left as they are, so
    running it again (migrations, test fixtures after a truncation) changes nothing."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    CatalogueService = apps.get_model("services", "CatalogueService")
    existing = set(CatalogueService.objects.filter(service__isnull=True).values_list("name", flat=True))
    CatalogueService.objects.bulk_create(
        [CatalogueService(name=n, type=t, description=d) for n, t, d in CATALOGUE if n not in existing]
    )
