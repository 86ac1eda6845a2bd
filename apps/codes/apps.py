from django.apps import AppConfig


class CodesConfig(AppConfig):
    name = "apps.codes"
    label = "codes"
    verbose_name = "Activation codes"

    def ready(self):
        """Connect the codes app's part of other apps' operations (``receivers``) to their signals."""
        from apps.accounts.signals import dealer_rights_revoked
        from apps.units.signals import unit_archived, unit_moving

        from . import receivers

        dealer_rights_revoked.connect(receivers.return_codes_of_revoked_dealer, dispatch_uid="codes.dealer_revoked")
        unit_archived.connect(receivers.unassign_code_of_archived_unit, dispatch_uid="codes.unit_archived")
        unit_moving.connect(receivers.check_unit_move, dispatch_uid="codes.unit_moving")
