from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"

    def ready(self):
        from apps.core import seeds, tree

        from . import schema  # noqa: F401  (registers the token scheme with drf-spectacular)
        from .models import Account
        from .queries import is_blocked
        from .roles import ensure_groups

        tree.register(account_model=Account, is_blocked=is_blocked)
        seeds.register(ensure_groups)
