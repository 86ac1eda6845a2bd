from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServicesConfig(AppConfig):
    name = "apps.services"
    label = "services"
    verbose_name = _("Services")

    def ready(self):
        from apps.accounts.signals import account_created
        from apps.core import seeds

        from . import receivers
        from apps.plans.catalogue import ensure_catalogue

        seeds.register(ensure_catalogue)
        account_created.connect(receivers.count_new_child_account, dispatch_uid="services.account_created")
