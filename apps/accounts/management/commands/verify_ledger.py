from django.core.management.base import BaseCommand

from apps.accounts.queries import ledger_mismatches


class Command(BaseCommand):
    help = "Check that every account's balance and days equal its ledger's sums; list the differences."

    def handle(self, *args, **options):
        bad = list(ledger_mismatches().values_list("pk", "name", "balance", "ledger_amount", "days", "ledger_days"))
        for pk, name, balance, ledger_amount, days, ledger_days in bad:
            self.stdout.write(f"account {pk} ({name}): balance {balance} vs ledger {ledger_amount}; "
                              f"days {days} vs ledger {ledger_days}")
        if bad:
            self.stderr.write(self.style.ERROR(f"{len(bad)} account(s) differ from their ledger."))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("Every balance and days counter equals its ledger."))
