from django.core.management.base import BaseCommand

from apps.services.charging import charge_periodic_services


class Command(BaseCommand):
    help = "Charge every periodic-service window that has ended since its last charge (idempotent)."

    def handle(self, *args, **options):
        result = charge_periodic_services()
        self.stdout.write(f"{result['windows']} windows, {result['charges']} charges, {result['amount']} in total")
