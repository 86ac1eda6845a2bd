from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self):
        from apps.core import rights as core_rights
        from apps.core import seeds, tree

        from . import rights, schema  # noqa: F401  (schema registers the token scheme with drf-spectacular)
        from .models import Account
        from .queries import is_blocked
        from .roles import ensure_groups

        tree.register(account_model=Account, is_blocked=is_blocked)
        core_rights.register(**{core_rights.SEE_JOBS: rights.may_see_jobs,
                                core_rights.HOME_IS_APPLY_CODE: rights.home_is_apply_code})
        seeds.register(ensure_groups)
