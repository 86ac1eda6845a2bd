from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CodesConfig(AppConfig):
    name = "apps.codes"
    label = "codes"
    verbose_name = _("Activation codes")

    def ready(self):
        """Connect the codes app's part of other apps' operations (``receivers``) to their signals, and
        register what the units app reads of codes (``apps.units.extensions``) and the billing-method switch
        the account pages call (``apps.accounts.extensions``)."""
        from apps.accounts.extensions import register_codes as register_with_accounts
        from apps.accounts.signals import dealer_rights_revoked
        from apps.units.extensions import register_codes
        from apps.units.signals import unit_archived, unit_moving

        from . import operations, receivers
        from .admin import unit_code_panel
        from .queries import current_codes_for_units, queued_codes_for_units

        dealer_rights_revoked.connect(receivers.return_codes_of_revoked_dealer, dispatch_uid="codes.dealer_revoked")
        unit_archived.connect(receivers.unassign_code_of_archived_unit, dispatch_uid="codes.unit_archived")
        unit_moving.connect(receivers.check_unit_move, dispatch_uid="codes.unit_moving")
        register_codes(current=current_codes_for_units, queued=queued_codes_for_units, panel=unit_code_panel)
        register_with_accounts(switch_billing_method=operations.switch_billing_method)
