"""Celery tasks of the codes app. Each calls one operation; each is also a management command.

The schedules are rows of django-celery-beat (``billing_site/beat.py``), editable in the admin.
"""

from celery import shared_task

from . import operations


@shared_task(name="apps.codes.tasks.expire_codes")
def expire_codes() -> int:
    """Every minute: expire due codes and deactivate their units (catches up after downtime)."""
    return operations.expire_codes()


@shared_task(name="apps.codes.tasks.clear_expired_codes")
def clear_expired_codes() -> int:
    """Daily: take expired codes off their units and out of the window's default view."""
    return operations.clear_expired_codes()


@shared_task(name="apps.codes.tasks.send_expiry_notices")
def send_expiry_notices() -> dict:
    """Hourly: record concerned codes per notice and recipient; e-mail each once."""
    return operations.send_expiry_notices()
