"""``manage.py snapshot_discounts``: the hourly discount snapshot, for cron or by hand."""

from django.core.management.base import BaseCommand

from apps.discounts.operations import snapshot_discounts


class Command(BaseCommand):
    help = "Save the discount of every service whose local day has ended (catching up missed days)."

    def handle(self, *args, **options):
        run = snapshot_discounts()
        for service_id, days in run.saved.items():
            self.stdout.write(f"service {service_id}: {', '.join(d.isoformat() for d in days)}")
        self.stdout.write(self.style.SUCCESS(f"{run.days} day(s) saved."))
