"""Celery beat jobs of the kernel; each is also a management command of the same name."""

from celery import shared_task

from .charging import charge_periodic_services as _charge_periodic_services
from .days import count_days as _count_days


@shared_task(ignore_result=True)
def charge_periodic_services():
    """Hourly: charge every periodic window that has ended (catches up after downtime)."""
    return _charge_periodic_services()


@shared_task(ignore_result=True)
def count_days():
    """Hourly: take ended local days off the days counters, re-evaluate blocking daily per service,
    and remove idempotency keys older than 90 days."""
    return _count_days()
