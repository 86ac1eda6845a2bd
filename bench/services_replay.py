"""Replaying a month of charges for ACCOUNTS accounts × 3 services on PostgreSQL (goal ≤ 60 s at 10,000).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_bench_replay .venv/bin/python bench/services_replay.py

Data (bulk-inserted, a generator; the periodic charges are written by the real charge job): one
service in Europe/Berlin whose ACCOUNTS end-user accounts are on one plan with three rows:
``avl_unit`` daily ``1:1;2`` (3 units each), ``zones_library`` daily ``0.5`` (4 geofences each, a
fifth added on the 10th, journaled), ``sms`` on demand, daily window ``2:0;0.1`` (5 a day each, one
charge row per day priced from position 1, with its usage counter). The charge job "last ran" just
before the month and catches the whole month up in one run (every window of every pair). Then the
replay of the month (both periodic services and sms: 3 × 30 windows per account) is timed, and once
more after a ledger row is changed by hand (it must be the one difference).
"""

import os
import sys
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_site.settings.dev")
os.environ.setdefault("DEBUG", "false")
ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "10000"))


def main():
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from apps.accounts.models import Account, LedgerEntry
    from apps.core import clock, periods
    from apps.plans.models import Plan, PlanService
    from apps.services.charging import charge_periodic_services
    from apps.services.models import JobRun, ObjectChange, ObjectCounter, UsageCounter
    from apps.services.replay import replay_charges

    call_command("migrate", verbosity=0)
    Account.objects.filter(parent__isnull=True).update(plan=None)  # earlier runs' services set aside
    tz = "Europe/Berlin"
    today = periods.local_day(clock.now(), tz)
    last = today.replace(day=1) - timedelta(days=1)
    first = last.replace(day=1)
    month_start = periods.local_midnight(first, tz)
    month_end = periods.local_midnight(last + timedelta(days=1), tz)
    tag = uuid.uuid4().hex[:6]
    started = time.perf_counter()
    top = Account.objects.create(name=f"Replay bench {tag}", timezone=tz, path="")
    top.service_id, top.path = top.pk, f"/{top.pk}/"
    plan = Plan.objects.create(service=top, name="Base", history_period_days=400)
    top.plan = plan
    top.save()
    for name, kind, table in (("avl_unit", "periodic", "1:1;2"), ("zones_library", "periodic", "0.5"),
                              ("sms", "on_demand", "2:0;0.1")):
        PlanService.objects.create(plan=plan, name=name, type=kind, interval="daily", cost_table=table)
    created = month_start - timedelta(days=10)
    accounts = Account.objects.bulk_create(
        [Account(name=f"{tag}-{i}", parent=top, service=top, plan=plan, depth=1, path="", created_at=created)
         for i in range(ACCOUNTS)], batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_account SET path = %s || id || '/' WHERE parent_id = %s", [top.path, top.pk])
    Account.objects.filter(service=top).update(created_at=created)
    ObjectCounter.objects.bulk_create(
        [ObjectCounter(account_id=a.pk, service=s, own=n, subtree=n) for a in accounts
         for s, n in (("avl_unit", 3), ("zones_library", 5))]
        + [ObjectCounter(account_id=top.pk, service="avl_unit", own=0, subtree=3 * ACCOUNTS),
           ObjectCounter(account_id=top.pk, service="zones_library", own=0, subtree=5 * ACCOUNTS)],
        batch_size=10000)
    tenth = periods.local_midnight(first + timedelta(days=9), tz) + timedelta(hours=11)
    ObjectChange.objects.bulk_create(
        [ObjectChange(account_id=a.pk, path=f"{top.path}{a.pk}/", service="zones_library", delta=1, at=tenth)
         for a in accounts], batch_size=10000)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    windows = [(periods.local_midnight(d, tz), periods.local_midnight(d + timedelta(days=1), tz)) for d in days]
    UsageCounter.objects.bulk_create(
        [UsageCounter(account_id=a.pk, service="sms", window_start=s, window_end=e, own=5, total=5)
         for a in accounts for s, e in windows], batch_size=20000)
    LedgerEntry.objects.bulk_create(
        [LedgerEntry(account_id=a.pk, kind="charge", amount=Decimal("-0.3"), service="sms", quantity=5,
                     window_start=s, window_end=e, cost_table="2:0;3:0.1", first_position=1,
                     description="sms × 5", at=s + timedelta(hours=12))
         for a in accounts for s, e in windows], batch_size=20000)
    JobRun.objects.update_or_create(job="charge_periodic_services",
                                    defaults={"last_started_at": month_start - timedelta(hours=1)})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"data: {ACCOUNTS} accounts, {len(days)} days in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    result = charge_periodic_services(now=month_end + timedelta(minutes=30))
    print(f"the charge job catching the month up: {time.perf_counter() - started:.1f} s, {result['charges']} charges")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    at = month_end + timedelta(hours=1)
    for label in ("replay of the month", "again (warm)"):
        started = time.perf_counter()
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats

            profile = cProfile.Profile()
            replay = profile.runcall(replay_charges, top, since=first, until=last, now=at)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
        else:
            replay = replay_charges(top, since=first, until=last, now=at)
        print(f"{label}: {time.perf_counter() - started:.1f} s, {replay.windows} windows compared, "
              f"{len(replay.differences)} differences")
    row = LedgerEntry.objects.filter(account=accounts[17], service="zones_library", periodic=True,
                                     window_end__gt=month_start).order_by("window_start").first()
    LedgerEntry.objects.filter(pk=row.pk).update(amount=row.amount - 1)
    started = time.perf_counter()
    replay = replay_charges(top, since=first, until=last, now=at)
    print(f"after changing one row: {time.perf_counter() - started:.1f} s, differences: "
          f"{[(d.account, d.service, d.window_start.isoformat(), d.ledger, d.recomputed) for d in replay.differences]}")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
