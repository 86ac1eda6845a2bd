"""Benchmark of the renewal queue (issue 14): the expiry sweep over 100,000 due codes of which half have a
code queued on their unit, against the same sweep without the queue, in the same run. Goal: ≤ 1.5×.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_bench_queue \\
        .venv/bin/python bench/codes_queue_bench.py [--due 100000] [--rounds 3] [--orm]

Two services are built side by side with bulk inserts (``generate_series``), identical but for the queue:
each has ``due`` units holding a code that expired a day ago (expiries spread over an hour), ``due / 2``
more codes and ``due`` new ones. In service "queue" the ``due / 2`` codes are queued on the first half of
the units; in service "plain" they are merely new. Each round sweeps one service then the other (order
alternating), each in a transaction rolled back afterwards, so both always sweep the same rows.
``--orm`` measures the ORM path (the one SQLite runs) instead of the PostgreSQL statement.
Figures go to ``docs/performance.md`` by hand.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_site.settings.dev")
os.environ.setdefault("DEBUG", "0")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from apps.accounts import operations as account_ops  # noqa: E402
from apps.accounts.models import Operator  # noqa: E402
from apps.codes import operations as ops  # noqa: E402
from apps.codes.models import ActivationCode, CodeEvent  # noqa: E402
from apps.core import clock  # noqa: E402
from apps.plans.models import Plan, PlanService  # noqa: E402
from apps.units.models import Unit  # noqa: E402


class Rollback(Exception):
    """Raised to undo a measured run."""


def build_service(platform, label: str, due: int, queued: bool, now):
    tag = f"{label}-{int(time.time())}"
    top = account_ops.create_account(actor=platform, name=f"Queue bench {tag}", parent=None,
                                     service_settings={"timezone": "Europe/Berlin",
                                                       "billing_method": "activation_codes"})
    plan = Plan.objects.create(service=top, name=f"Bench plan {tag}", history_period_days=400)
    # Creating an account counts an avl_resource on its parent: the plan lists it, free and unlimited.
    PlanService.objects.create(plan=plan, name="avl_resource", type="periodic", interval="none", cost_table="")
    account_ops.update_account(actor=platform, account=top, changes={"plan": plan})
    client = account_ops.create_account(actor=platform, name=f"Client {tag}", parent=top, plan=plan)
    units = [Unit(service=top, account=client, name=f"unit {i:07d}", unique_id=f"Q{tag}-{i}", active=True)
             for i in range(due)]
    Unit.objects.bulk_create(units, batch_size=5000)
    unit_ids = [u.pk for u in units]
    half = due // 2
    with connection.cursor() as cursor:
        # Due codes on every unit: 30 days from 31 days ago, expiries spread over an hour a day ago.
        cursor.execute(
            """
            INSERT INTO codes_activationcode (code, service_id, validity_days, created_at, shared_with_id, holder_path,
                holder_branch, status, activated_at, expires_at, unit_id, cleared_at, queued_on_id)
            SELECT md5(%(tag)s || '-d-' || i), %(service)s, 30, %(now)s - interval '40 days', NULL, %(path)s, NULL,
                   'active', %(now)s - interval '31 days' + make_interval(secs => i %% 3600),
                   %(now)s - interval '1 day' + make_interval(secs => i %% 3600), (%(units)s::bigint[])[i + 1], NULL,
                   NULL
            FROM generate_series(0, %(due)s - 1) AS i
            """, {"tag": tag, "service": top.pk, "path": top.path, "now": now, "units": unit_ids, "due": due})
        # Half as many again: queued on the first half of the units (service "queue"), or just new.
        cursor.execute(
            """
            INSERT INTO codes_activationcode (code, service_id, validity_days, created_at, shared_with_id, holder_path,
                holder_branch, status, activated_at, expires_at, unit_id, cleared_at, queued_on_id)
            SELECT md5(%(tag)s || '-q-' || i), %(service)s, 90, %(now)s - interval '20 days', NULL, %(path)s, NULL,
                   CASE WHEN %(queued)s THEN 'queued' ELSE 'new' END,
                   CASE WHEN %(queued)s THEN %(now)s - interval '1 day' + make_interval(secs => i %% 3600) END,
                   CASE WHEN %(queued)s THEN %(now)s + interval '89 days' + make_interval(secs => i %% 3600) END,
                   NULL, NULL, CASE WHEN %(queued)s THEN (%(units)s::bigint[])[i + 1] END
            FROM generate_series(0, %(half)s - 1) AS i
            """, {"tag": tag, "service": top.pk, "path": top.path, "now": now, "units": unit_ids, "half": half,
                  "queued": queued})
        # And as many new codes as due ones, so the table is not only what the sweep touches.
        cursor.execute(
            """
            INSERT INTO codes_activationcode (code, service_id, validity_days, created_at, shared_with_id, holder_path,
                holder_branch, status, activated_at, expires_at, unit_id, cleared_at, queued_on_id)
            SELECT md5(%(tag)s || '-n-' || i), %(service)s, 365, %(now)s - interval '10 days', NULL, %(path)s, NULL,
                   'new', NULL, NULL, NULL, NULL, NULL
            FROM generate_series(0, %(due)s - 1) AS i
            """, {"tag": tag, "service": top.pk, "path": top.path, "now": now, "due": due})
    return top


def sweep_once(service_id: int, now) -> tuple[float, int, int]:
    """One sweep of a service, rolled back: (seconds, codes expired, codes renewed)."""
    before = CodeEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    out = {}
    try:
        with transaction.atomic():
            start = time.perf_counter()
            count = ops.expire_codes(now=now, service_id=service_id)
            out["elapsed"] = time.perf_counter() - start
            out["count"] = count
            out["renewed"] = CodeEvent.objects.filter(id__gt=before, action="renewed").count()
            raise Rollback
    except Rollback:
        pass
    return out["elapsed"], out["count"], out["renewed"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--orm", action="store_true", help="Measure the ORM path instead of the PG statement.")
    args = parser.parse_args()
    assert connection.vendor == "postgresql", "run against PostgreSQL (DATABASE_URL=postgres://…)"
    call_command("migrate", verbosity=0)
    if args.orm:
        ops.sweep._sweep_batches = lambda: (ops.sweep._expire_batch_orm, ops.sweep.SWEEP_BATCH)
    platform = Operator.objects.filter(is_superuser=True).first() or Operator.objects.create_superuser(
        "bench-root", "root@example.com", "bench")
    now = clock.now()
    start = time.perf_counter()
    queue = build_service(platform, "queue", args.due, True, now)
    plain = build_service(platform, "plain", args.due, False, now)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE codes_activationcode; ANALYZE units_unit; ANALYZE codes_codeevent")
    print(f"built two services of {ActivationCode.objects.filter(service=queue).count():,} codes "
          f"({args.due:,} due; {ActivationCode.objects.filter(service=queue, status='queued').count():,} queued "
          f"in one) in {time.perf_counter() - start:.1f} s")
    sweep_once(plain.pk, now)  # warm the caches once for both
    sweep_once(queue.pk, now)
    times = {"queue": [], "plain": []}
    for round_no in range(args.rounds):
        order = [("queue", queue), ("plain", plain)]
        for name, service in (order if round_no % 2 == 0 else order[::-1]):
            elapsed, count, renewed = sweep_once(service.pk, now)
            assert count == args.due, (name, count)
            assert renewed == (args.due // 2 if name == "queue" else 0), (name, renewed)
            times[name].append(elapsed)
    path = "ORM path" if args.orm else "PostgreSQL statement"
    print(f"\n## Sweep of {args.due:,} due codes, {path} (load average {os.getloadavg()[0]:.1f})")
    for name in ("plain", "queue"):
        print(f"{name:>5}: {', '.join(f'{t:.2f}' for t in times[name])} s")
    print(f"ratio queue/plain: best/best {min(times['queue']) / min(times['plain']):.2f}, "
          f"median/median {statistics.median(times['queue']) / statistics.median(times['plain']):.2f}")


if __name__ == "__main__":
    main()
