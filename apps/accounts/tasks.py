"""Celery tasks of the accounts app (schedules: ``billing_site/beat.py``)."""

from celery import shared_task

from apps.core import clock

from .audit import record_job_run, verify_chains
from .models import Account


@shared_task(name="apps.accounts.tasks.verify_audit")
def verify_audit() -> dict:
    """Daily: verify every chain of the audit trail and record the result as a ``job_run`` event in each
    chain (``verify_audit`` changes nothing, so its event is written every run: the result is the point)."""
    now = clock.now()
    results = verify_chains()
    services = Account.objects.in_bulk([chain for chain, _, _ in results if chain])
    summary = {}
    for chain, checked, bad in results:
        counts = {"events": checked, "intact": bad is None}
        failed = "" if bad is None else f"event {bad} does not match"
        record_job_run("verify_audit", counts=counts, account=services.get(chain), failed=failed, now=now)
        summary[chain] = counts | ({"first_bad_event": bad} if bad else {})
    return summary
