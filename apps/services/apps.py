from django.apps import AppConfig


class ServicesConfig(AppConfig):
    name = "apps.services"
    label = "services"

    def ready(self):
        from apps.accounts.signals import account_created, account_overrides_changed, opening_payment
        from apps.core import seeds

        from . import receivers
        from apps.plans.catalogue import ensure_catalogue

        seeds.register(ensure_catalogue)
        account_created.connect(receivers.count_new_child_account, dispatch_uid="services.account_created")
        opening_payment.connect(receivers.record_opening_payment, dispatch_uid="services.opening_payment")
        account_overrides_changed.connect(receivers.evaluate_blocking_of_account,
                                          dispatch_uid="services.account_overrides_changed")
