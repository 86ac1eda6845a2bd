from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DashboardConfig(AppConfig):
    name = "apps.dashboard"
    label = "dashboard"
    verbose_name = _("Dashboard")

    def ready(self):
        """Register the prediction the account list filters on (``apps.accounts.extensions``)."""
        from apps.accounts.extensions import register_dashboard

        from .queries import blocking_soon_ids

        register_dashboard(blocking_soon_ids=blocking_soon_ids)
