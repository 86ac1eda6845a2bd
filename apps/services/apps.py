from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServicesConfig(AppConfig):
    name = "apps.services"
    label = "services"
    verbose_name = _("Services")

    def ready(self):
        from apps.accounts.extensions import register_kernel
        from apps.accounts.signals import account_created, account_overrides_changed, opening_payment
        from apps.core import seeds

        from . import receivers
        from .admin_views import combined_rows, service_rows
        from .blocking import payment_block_warning
        from .ledger import record_payment
        from .queries import block_warnings
        from apps.plans.catalogue import ensure_catalogue

        seeds.register(ensure_catalogue)
        register_kernel(record_payment=record_payment, payment_block_warning=payment_block_warning,
                        block_warnings=block_warnings, combined_rows=combined_rows, service_rows=service_rows)
        account_created.connect(receivers.count_new_child_account, dispatch_uid="services.account_created")
        opening_payment.connect(receivers.record_opening_payment, dispatch_uid="services.opening_payment")
        account_overrides_changed.connect(receivers.evaluate_blocking_of_account,
                                          dispatch_uid="services.account_overrides_changed")
