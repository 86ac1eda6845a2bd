"""``manage.py verify_audit``: recompute every chain of the audit trail; exit 1 naming the first event
that does not match (SPEC §9.2). The daily job ``apps.accounts.tasks.verify_audit`` runs the same check."""

import sys

from django.core.management.base import BaseCommand

from apps.accounts.audit import verify_chains


class Command(BaseCommand):
    help = "Verify the SHA-256 chains of the audit trail; exit 1 at the first event that does not match."

    def handle(self, *args, **options):
        failed = False
        for chain, checked, bad in verify_chains():
            label = "platform" if chain == 0 else f"service {chain}"
            if bad is None:
                self.stdout.write(f"{label}: {checked} events, chain intact")
            else:
                failed = True
                self.stderr.write(f"{label}: event {bad} does not match (after {checked} good events)")
        if failed:
            sys.exit(1)
