from django.apps import AppConfig


class CodesConfig(AppConfig):
    name = "apps.codes"
    label = "codes"
    verbose_name = "Activation codes"

    def ready(self):
        """Register the codes app's part of other apps' operations (their hook lists).

        The units hooks are looked up defensively: the codes app must load whatever the units app
        exposes at the time.
        """
        from apps.accounts import operations as account_ops
        from apps.units import operations as unit_ops

        from . import operations

        if operations.return_codes_of_revoked_dealer not in account_ops._REVOKE_HOOKS:
            account_ops._REVOKE_HOOKS.append(operations.return_codes_of_revoked_dealer)
        archive_hooks = getattr(unit_ops, "UNIT_ARCHIVE_HOOKS", None)
        if archive_hooks is not None and operations.unassign_code_of_archived_unit not in archive_hooks:
            archive_hooks.append(operations.unassign_code_of_archived_unit)
        move_checks = getattr(unit_ops, "UNIT_MOVE_CHECKS", None)
        if move_checks is not None and operations.check_unit_move not in move_checks:
            move_checks.append(operations.check_unit_move)
