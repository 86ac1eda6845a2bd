"""``manage.py replay_charges --service ID [--account ID] --since DATE --until DATE`` (SPEC §9.7)."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import Account
from apps.core import periods
from apps.services.replay import replay_charges


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--{name}: '{value}' is not a date (YYYY-MM-DD).") from None


def _money(value) -> str:
    return "none" if value is None else f"{value:.4f}"


class Command(BaseCommand):
    help = ("Recompute the periodic and on-demand charges of a service (or one account) whose windows ended "
            "between two local dates (both included) and compare them with the ledger, window by window. "
            "Prints every difference; exits 1 when any.")

    def add_arguments(self, parser):
        parser.add_argument("--service", required=True, help="The service's top account id.")
        parser.add_argument("--account", help="Only this account of the service.")
        parser.add_argument("--since", required=True, help="First local day (YYYY-MM-DD).")
        parser.add_argument("--until", required=True, help="Last local day (YYYY-MM-DD), included.")

    def handle(self, *args, **options):
        try:
            service = Account.objects.get(pk=int(options["service"]), parent__isnull=True)
        except (ValueError, Account.DoesNotExist):
            raise CommandError(f"--service: no service (top account) with id '{options['service']}'.") from None
        account = None
        if options["account"]:
            try:
                account = Account.objects.get(pk=int(options["account"]), service_id=service.pk)
            except (ValueError, Account.DoesNotExist):
                raise CommandError(f"--account: no account '{options['account']}' in service "
                                   f"'{service.name}'.") from None
        since, until = _date(options["since"], "since"), _date(options["until"], "until")
        if until < since:
            raise CommandError("--until: must not be before --since.")
        result = replay_charges(service, since=since, until=until, account=account)
        zone = periods.as_zone(service.timezone)
        for d in result.differences:
            self.stdout.write(f"{d.account} (id {d.account_id})  {d.service}  "
                              f"window from {d.window_start.astimezone(zone):%Y-%m-%d %H:%M %Z}  "
                              f"ledger {_money(d.ledger)}  recomputed {_money(d.recomputed)}")
        scope = f"account '{account.name}'" if account else f"service '{service.name}'"
        summary = (f"{scope}, {since} to {until}: {result.windows} window(s) compared, "
                   f"{len(result.differences)} difference(s); not replayed: {', '.join(result.skipped)}.")
        if result.differences:
            self.stdout.write(self.style.ERROR(summary))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS(summary.replace("0 difference(s)", "no differences")))
