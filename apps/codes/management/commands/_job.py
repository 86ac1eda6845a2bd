"""Shared shape of the codes jobs' commands: run the job's operation as of the clock's now.

There is no option to run "as of" another instant: the events a job writes carry the operation's own
time and the system as actor, never a time supplied by whoever runs the command (SPEC §9, issue 11).
"""

from django.core.management.base import BaseCommand


class JobCommand(BaseCommand):
    operation = None  # set by subclasses: a codes operation that reads the clock itself

    def handle(self, *args, **options):
        result = type(self).operation()
        self.stdout.write(f"{self.help.split(':')[0]}: {result}")
