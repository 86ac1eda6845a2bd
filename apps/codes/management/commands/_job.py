"""Shared shape of the codes jobs' commands: an optional ``--now`` to run the job as of an instant."""

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime


def parse_now(text: str | None) -> datetime | None:
    if not text:
        return None
    value = parse_datetime(text)
    if value is None or value.tzinfo is None:
        raise CommandError("--now takes an ISO 8601 instant with its offset, e.g. 2026-05-01T12:00:00+00:00.")
    return value


class JobCommand(BaseCommand):
    operation = None  # set by subclasses: a codes operation taking ``now=``

    def add_arguments(self, parser):
        parser.add_argument("--now", help="Run as of this instant (ISO 8601 with offset); default: now.")

    def handle(self, *args, **options):
        result = type(self).operation(now=parse_now(options.get("now")))
        self.stdout.write(f"{self.help.split(':')[0]}: {result}")
