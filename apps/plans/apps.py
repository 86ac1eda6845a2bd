from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PlansConfig(AppConfig):
    name = "apps.plans"
    label = "plans"
    verbose_name = _("Plans")

    def ready(self):
        from apps.accounts.signals import account_plan_changed, account_plan_changing

        from . import receivers

        account_plan_changing.connect(receivers.seed_account_plan, dispatch_uid="plans.account_plan_changing")
        account_plan_changed.connect(receivers.record_account_plan, dispatch_uid="plans.account_plan_changed")
