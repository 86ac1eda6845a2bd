"""The one write of the discount module: the daily snapshot.

``snapshot_discounts`` runs hourly (Celery beat and the ``snapshot_discounts`` command). For each
service with the discount on whose local day has ended since its last snapshot, it calculates the
discount once and saves the ended day; days the job missed while it was down get the same values,
flagged ``estimated`` (SPEC §8.6). The unique key (service, day) makes two runs at once, or a run
repeated, write each day exactly once.
"""

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import translation

from apps.accounts.models import Account
from apps.core import clock

from .models import DiscountSnapshot
from .queries import local_today

log = logging.getLogger(__name__)

# How far back a catch-up run fills missed days: enough to complete the previous month's average
# after a long outage, without inventing values for a period the job may never have covered.
MAX_CATCH_UP_DAYS = 31


@dataclass
class SnapshotRun:
    saved: dict[int, list[date]] = field(default_factory=dict)  # service id → days written (or already there)

    @property
    def days(self) -> int:
        return sum(len(days) for days in self.saved.values())


def last_ended_day(service: Account, now: datetime) -> date:
    """The latest local day of the service that has ended at ``now``."""
    return local_today(service, now) - timedelta(days=1)


def days_due(last_saved: date | None, ended: date) -> list[date]:
    """The days to save: the ended day, and the missed ones since the last snapshot (bounded)."""
    if last_saved is not None and last_saved >= ended:
        return []
    start = ended if last_saved is None else max(last_saved + timedelta(days=1),
                                                  ended - timedelta(days=MAX_CATCH_UP_DAYS))
    return [start + timedelta(days=i) for i in range((ended - start).days + 1)]


def save_snapshots(*, service: Account, days: list[date], now: datetime) -> list[DiscountSnapshot]:
    """Calculate the service's discount now and save it for ``days`` (every day but the last is
    estimated), with its account and unit table as the table of the last day (``tables``). Days
    already saved are left as they are."""
    from .tables import compute_table, service_language, store_daily_table

    if not days:
        return []
    with translation.override(service_language(service)):  # the stored table's words (``service_language``)
        table = compute_table(service)
    summary = table.report.summary
    rows = [DiscountSnapshot(service=service, day=day, current=summary.current, maximum=summary.maximum,
                             applied=summary.applied, purchased=summary.purchased, in_use=summary.in_use,
                             unused=summary.unused, full_cost=summary.full_cost,
                             estimated=day != days[-1], taken_at=now) for day in days]
    with transaction.atomic():
        DiscountSnapshot.objects.bulk_create(rows, ignore_conflicts=True)
        store_daily_table(service, days[-1], table, now)
    return rows


def snapshot_discounts(*, now: datetime | None = None, actor=None) -> SnapshotRun:
    """Save every ended local day of every service with the discount on (see the module docstring).

    ``actor`` is accepted for the common operation signature; snapshots are the system's.
    """
    now = now or clock.now()
    services = list(Account.objects.filter(parent__isnull=True, discount_enabled=True).order_by("pk"))
    last_saved = dict(DiscountSnapshot.objects.filter(service__in=services).values("service")
                      .annotate(last=Max("day")).values_list("service", "last").order_by())
    run = SnapshotRun()
    for service in services:
        days = days_due(last_saved.get(service.pk), last_ended_day(service, now))
        if not days:
            continue
        save_snapshots(service=service, days=days, now=now)
        run.saved[service.pk] = days
        log.info("Discount snapshot of service %s for %s (%d estimated)", service.pk,
                 ", ".join(d.isoformat() for d in days), len(days) - 1)
    return run
