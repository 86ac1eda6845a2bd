from apps.codes import operations

from ._job import JobCommand


class Command(JobCommand):
    help = "Expired codes: expire due codes and deactivate their units (the beat job's body)."
    operation = staticmethod(operations.expire_codes)
