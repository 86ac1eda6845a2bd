from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self):
        from apps.core import seeds, tree

        from . import schema  # noqa: F401  (registers the token scheme with drf-spectacular)
        from .models import Account
        from .queries import is_blocked
        from .roles import ensure_groups

        tree.register(account_model=Account, is_blocked=is_blocked)
        seeds.register(ensure_groups)
