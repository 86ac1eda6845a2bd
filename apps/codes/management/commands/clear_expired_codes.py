from apps.codes import operations

from ._job import JobCommand


class Command(JobCommand):
    help = "Cleared codes: take expired codes off their units (the beat job's body)."
    operation = staticmethod(operations.clear_expired_codes)
