from django.core.management.base import BaseCommand

from apps.services.days import count_days


class Command(BaseCommand):
    help = "Take every ended local day off the days counters (block by days) and block below the minimum."

    def handle(self, *args, **options):
        result = count_days()
        self.stdout.write(f"{result['days']} days off {result['accounts']} accounts")
