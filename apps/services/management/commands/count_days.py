from django.core.management.base import BaseCommand

from apps.services.days import count_days


class Command(BaseCommand):
    help = ("Take every ended local day off the days counters (block by days), re-evaluate the blocks of every "
            "service whose local day ended, and remove idempotency keys older than 90 days.")

    def handle(self, *args, **options):
        result = count_days()
        self.stdout.write(f"{result['days']} days off {result['accounts']} accounts; {result['evaluated']} accounts "
                          f"re-evaluated ({result['block_changes']} blocks changed); "
                          f"{result['idempotency_keys_removed']} idempotency keys removed")
