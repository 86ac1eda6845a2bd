"""Benchmarks of units: the API list and the admin changelist over a big service, and ``create_unit``.

Run against a PostgreSQL database of its own (it migrates it and adds a fresh service each run):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_bench_units \\
        .venv/bin/python bench/units_bench.py [--units 100000] [--accounts 200]

The data is built with bulk inserts, not the operations (the operations are what ``create_unit``
measures): N units spread over the accounts below two dealers, each with two sensors and one
command. Figures go to ``docs/performance.md`` by hand.
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

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from apps.accounts import operations as account_ops  # noqa: E402
from apps.accounts.models import Operator, Role  # noqa: E402
from apps.plans.models import Plan, PlanService  # noqa: E402
from apps.units import operations  # noqa: E402
from apps.units.models import Sensor, Unit, UnitCommand  # noqa: E402

BATCH = 5000


def build(units: int, accounts: int):
    platform = Operator.objects.filter(is_superuser=True).first() or Operator.objects.create_superuser(
        "bench-root", "root@example.com", "x")
    stamp = int(time.time())
    service = account_ops.create_account(actor=platform, name=f"Bench units {stamp}", parent=None)
    plan = Plan.objects.create(service=service, name="Root", history_period_days=400)
    PlanService.objects.bulk_create([PlanService(plan=plan, name=n, type="periodic", interval="monthly")
                                     for n in ("avl_unit", "unit_sensors", "unit_alias", "storage_user")])
    account_ops.update_account(actor=platform, account=service, changes={"plan": plan})
    dealers = [account_ops.create_account(actor=platform, name=f"Dealer {i}", parent=service, plan=plan,
                                          dealer_rights=True) for i in range(2)]
    clients = [account_ops.create_account(actor=platform, name=f"Client {i}", parent=dealers[i % 2], plan=plan)
               for i in range(accounts)]
    top = account_ops.create_operator(actor=platform, username=f"benchtop{stamp}", password="Tracker-fleet-2026!",
                                      account=service, role=Role.TOP_USER)
    dealer_op = account_ops.create_operator(actor=platform, username=f"benchdealer{stamp}",
                                            password="Tracker-fleet-2026!", account=dealers[0], role=Role.DISTRIBUTOR)
    for start in range(0, units, BATCH):
        rows = [Unit(service=service, account=clients[i % accounts], name=f"Unit {i:07d}",
                     unique_id=f"{stamp}{i:08d}") for i in range(start, min(start + BATCH, units))]
        created = Unit.objects.bulk_create(rows)
        Sensor.objects.bulk_create([Sensor(unit=u, name=n, type=t) for u in created
                                    for n, t in (("Ignition", "ignition"), ("Fuel", "fuel_level"))])
        UnitCommand.objects.bulk_create([UnitCommand(unit=u, name="Block engine") for u in created])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return service, clients, top, dealer_op, stamp


def timed(fn, repeat: int = 5):
    times, queries = [], 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            fn()
            times.append((time.perf_counter() - started) * 1000)
        queries = len(ctx.captured_queries)
    return statistics.median(times), queries


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--creates", type=int, default=200)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    service, clients, top, dealer_op, stamp = build(args.units, args.accounts)
    print(f"built {args.units} units in {args.accounts} accounts in {time.perf_counter() - started:.1f} s")

    api = APIClient()
    plain_static = {**settings.STORAGES,
                    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    with override_settings(ALLOWED_HOSTS=["*"], STORAGES=plain_static):
        for label, user in (("top user", top), ("distributor (half the units)", dealer_op)):
            api.force_authenticate(user=user)
            for query in ("", "?page_size=500", f"?search={stamp}0000123", "?search=Unit%200001999",
                          f"?account={clients[0].pk}", "?active=false"):
                ms, queries = timed(lambda q=query: api.get(f"/api/v1/units/{q}"))
                print(f"API /units/{query or ''} as {label}: {ms:.1f} ms median, {queries} queries")
        browser = Client()
        browser.force_login(top)
        for query in ("", f"?q={stamp}0000123", f"?account={clients[0].pk}"):
            ms, queries = timed(lambda q=query: browser.get(f"/admin/units/unit/{q}"))
            print(f"admin changelist{query} as top user: {ms:.1f} ms median, {queries} queries")

    times = []
    for i in range(args.creates):
        begun = time.perf_counter()
        operations.create_unit(actor=top, account=clients[i % len(clients)], name=f"New {i}",
                               unique_id=f"N{stamp}{i:06d}", sensors=[{"name": "Fuel", "type": "fuel_level"}],
                               commands=[{"name": "Stop"}])
        times.append((time.perf_counter() - begun) * 1000)
    with CaptureQueriesContext(connection) as ctx:
        operations.create_unit(actor=top, account=clients[0], name="Counted", unique_id=f"C{stamp}",
                               sensors=[{"name": "Fuel", "type": "fuel_level"}], commands=[{"name": "Stop"}])
    print(f"create_unit (2 features, kernel counters): {statistics.median(times):.1f} ms median, "
          f"p95 {sorted(times)[int(len(times) * 0.95)]:.1f} ms, {len(ctx.captured_queries)} queries")


if __name__ == "__main__":
    main()
