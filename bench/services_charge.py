"""One periodic charge run for 100,000 accounts × 3 services on PostgreSQL (goal ≤ 20 s, issue 16).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_bench_charges .venv/bin/python bench/services_charge.py
    .venv/bin/python bench/services_charge.py --cluster 128MB,6GB   # private clusters (bench/pg_cluster.py)

``--runs N`` next-day runs after the first (default 3: their median is the figure), ``--profile``
runs cProfile over the last of them and prints where the time went.

Data (bulk-inserted: a generator, not the product path): one service in Europe/Berlin whose top
account and ACCOUNTS end-user accounts below it are on one plan with three daily periodic rows,
all paid so every pair writes a charge row and a ledger row:
``avl_unit`` ``1:1;2`` (3 units each), ``zones_library`` ``0.5`` (4 geofences each),
``periodic`` ``0:10;-1`` (a flat fee). The job "last ran" a day ago, so the first run creates the
watermarks and charges yesterday's window; the second run, a day later, charges the next window.
"""

import os
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_site.settings.dev")
os.environ.setdefault("DEBUG", "false")
ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "100000"))


def main():
    import argparse

    sys.path.insert(0, str(ROOT / "bench"))
    from pg_cluster import cluster_argument, run_in_clusters, without_cluster_flag

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3, help="next-day runs after the first (median reported)")
    parser.add_argument("--profile", action="store_true", help="cProfile the last next-day run")
    parser.add_argument("--statements", action="store_true",
                        help="print the last run's statements by time (needs pg_stat_statements preloaded)")
    cluster_argument(parser)
    args = parser.parse_args()
    if args.cluster:
        sys.exit(run_in_clusters(args.cluster, [__file__, *without_cluster_flag(sys.argv[1:])]))
    bench(args)


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def bench(args):
    import statistics

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from apps.accounts.models import Account, LedgerEntry
    from apps.core import clock
    from apps.plans.models import Plan, PlanService
    from apps.services.charging import charge_periodic_services
    from apps.services.models import JobRun, ObjectCounter

    call_command("migrate", verbosity=0)
    # Other services in this database (earlier runs) are set aside so the run measures this one.
    Account.objects.filter(parent__isnull=True).update(plan=None)
    now = clock.now()
    tag = uuid.uuid4().hex[:6]
    started = time.perf_counter()
    top = Account.objects.create(name=f"Charge bench {tag}", timezone="Europe/Berlin", path="")
    top.service_id, top.path = top.pk, f"/{top.pk}/"
    plan = Plan.objects.create(service=top, name="Base", history_period_days=400)
    top.plan = plan
    top.save()
    for name, table in (("avl_unit", "1:1;2"), ("zones_library", "0.5"), ("periodic", "0:10;-1")):
        PlanService.objects.create(plan=plan, name=name, type="periodic", interval="daily", cost_table=table)
    created = now - timedelta(days=3)
    accounts = Account.objects.bulk_create(
        [Account(name=f"{tag}-{i}", parent=top, service=top, plan=plan, depth=1, path="", created_at=created)
         for i in range(ACCOUNTS)], batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_account SET path = %s || id || '/' WHERE parent_id = %s", [top.path, top.pk])
    Account.objects.filter(service=top).update(created_at=created)  # auto_now_add ignored the given value
    ObjectCounter.objects.bulk_create(
        [ObjectCounter(account_id=a.pk, service=s, own=n, subtree=n) for a in accounts
         for s, n in (("avl_unit", 3), ("zones_library", 4))]
        + [ObjectCounter(account_id=top.pk, service="avl_unit", own=0, subtree=3 * ACCOUNTS),
           ObjectCounter(account_id=top.pk, service="zones_library", own=0, subtree=4 * ACCOUNTS)],
        batch_size=10000)
    JobRun.objects.update_or_create(job="charge_periodic_services", defaults={"last_started_at": now - timedelta(days=1)})
    with connection.cursor() as cursor:  # as autovacuum would have by then: statistics, and the bulk load's dead row versions gone
        cursor.execute("VACUUM ANALYZE accounts_account")
        cursor.execute("VACUUM ANALYZE services_objectcounter")
    print(f"data: {ACCOUNTS} accounts × 3 services in {time.perf_counter() - started:.1f} s")

    with connection.cursor() as cursor:
        cursor.execute("SHOW shared_buffers")
        print(f"shared_buffers {cursor.fetchone()[0]}")
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    tick = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        """CPU seconds of this process and of its PostgreSQL backend (same host): on a machine shared
        with other work the steadier figure; on an idle machine a run takes about that long."""
        fields = Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()
        return time.process_time() + (int(fields[11]) + int(fields[12])) / tick

    runs = [("first run (creates watermarks)", now)] + [
        (f"next day's run {day}", now + timedelta(days=day)) for day in range(1, args.runs + 1)]
    next_day = []
    for number, (label, at) in enumerate(runs):
        before = LedgerEntry.objects.filter(periodic=True, account__service=top).count()
        profiler = None
        if args.profile and number == len(runs) - 1:
            import cProfile

            profiler = cProfile.Profile()
        if args.statements and number == len(runs) - 1:
            with connection.cursor() as cursor:
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()")
        start_load = load()
        cpu_started = cpu()
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        result = charge_periodic_services(now=at)
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - started
        used = cpu() - cpu_started
        if number:
            next_day.append((elapsed, used))
        charged = LedgerEntry.objects.filter(periodic=True, account__service=top).count() - before
        assert charged == result["charges"] == 3 * (ACCOUNTS + 1), (charged, result)
        print(f"{label}: {elapsed:.1f} s (CPU {used:.1f} s: Python + PostgreSQL backend), {result['windows']} "
              f"windows, {charged} charge rows, {result['amount']} charged (load before {start_load}, after "
              f"{load()})", flush=True)
        if args.statements and number == len(runs) - 1:
            with connection.cursor() as cursor:
                cursor.execute("SELECT calls, total_exec_time, rows, shared_blks_hit, shared_blks_read, "
                               "shared_blks_dirtied, wal_bytes, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) "
                               "FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12")
                print("calls | ms | rows | hit | read | dirtied | WAL MB | statement")
                for calls, ms, rows, hit, read, dirtied, wal, query in cursor.fetchall():
                    print(f"{calls} | {ms:.0f} | {rows} | {hit} | {read} | {dirtied} | {float(wal) / 1e6:.0f} | {query}")
        if profiler:
            import pstats

            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        if number in (0, len(runs) - 1):
            started = time.perf_counter()
            again = charge_periodic_services(now=at)
            assert again["charges"] == 0, again
            print(f"  the same run again: {time.perf_counter() - started:.1f} s, {again['charges']} charges")
    if next_day:
        print(f"next day's runs: median {statistics.median(t for t, _ in next_day):.1f} s of "
              f"{', '.join(f'{t:.1f}' for t, _ in next_day)}; CPU median "
              f"{statistics.median(c for _, c in next_day):.1f} s of {', '.join(f'{c:.1f}' for _, c in next_day)}")


if __name__ == "__main__":
    main()
