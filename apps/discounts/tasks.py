"""Celery tasks of the discount module (the beat row ``Snapshot discounts`` runs this hourly)."""

from celery import shared_task

from .operations import snapshot_discounts as snapshot_discounts_operation


@shared_task(name="apps.discounts.tasks.snapshot_discounts", ignore_result=True)
def snapshot_discounts() -> int:
    """Save the ended local day of each service with the discount on; returns the days saved."""
    return snapshot_discounts_operation().days


@shared_task(name="apps.discounts.tasks.recalculate_discount")
def recalculate_discount(calculation_id: int) -> str:
    """The module's Recalculate: compute and store a queued recalculation (never a day's snapshot)."""
    from .tables import run_recalculation

    return run_recalculation(calculation_id)
