from apps.codes import operations

from ._job import JobCommand


class Command(JobCommand):
    help = "Expiry notices: record concerned codes and e-mail new ones (the beat job's body)."
    operation = staticmethod(operations.send_expiry_notices)
