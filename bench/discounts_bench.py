"""Benchmark of the discount calculation: one service with 100,000 units in 10,000 accounts.

Run against a PostgreSQL database of its own (it migrates it and adds a fresh service each run):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_bench_discounts \\
        .venv/bin/python bench/discounts_bench.py [--accounts 10000] [--units-per-account 10]

The data is built with bulk inserts (not the operations, which would take hours) and shaped like a
real service: each unit has 1–3 sensors (a fifth with a fuel sensor), a command or two, some
service intervals and eco flags; each account has a monitoring user seeing its own units (every
tenth also one unit of its neighbour), kernel object counters and some plan overrides.
Prints sizes, the time and query count of ``calculate_discount``, the process's peak memory (and
with ``--trace`` the peak of Python allocations) and the load average.

``--page`` measures the module page instead (issue 15 item 5, issue 16): the daily job's run
(calculation and the stored tables written), then, in a fresh process state, the page's first
accounts page, an account's units, a later page and the API lists as a top user (median of 5, after a
warm-up), each with its response size and query count, and the process's max RSS before and after
the page requests:

    DATABASE_URL=… .venv/bin/python bench/discounts_bench.py --accounts 9000 --page
    DATABASE_URL=… .venv/bin/python bench/discounts_bench.py --service ID --page   # again, no rebuild
"""

import argparse
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_site.settings.dev")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from apps.accounts import operations as account_ops  # noqa: E402
from apps.accounts.models import Account, Operator  # noqa: E402
from apps.discounts.queries import calculate_discount  # noqa: E402
from apps.discounts.rules import OBJECT_SERVICES  # noqa: E402
from apps.plans.models import AccountServiceOverride, Plan, PlanService  # noqa: E402
from apps.services.models import ObjectCounter  # noqa: E402
from apps.units.models import AccessGrant, MonitoringUser, Sensor, ServiceInterval, Unit, UnitCommand  # noqa: E402

BATCH = 5000


def build(n_accounts: int, units_per_account: int) -> Account:
    platform = Operator.objects.filter(is_superuser=True).first() or Operator.objects.create_superuser(
        "bench-root", "root@example.com", "bench")
    tag = int(time.time())
    top = account_ops.create_account(actor=platform, name=f"Bench {tag}", parent=None,
                                     service_settings={"timezone": "Europe/Berlin", "discount_enabled": True,
                                                       "basic_package_units": 20000, "purchased_units": 120000})
    base = Plan.objects.create(service=top, name="Base", history_period_days=400)
    long_history = Plan.objects.create(service=top, name="Long history", parent=base, history_period_days=1201)
    for name in ("avl_unit", "unit_sensors", "unit_alias", "storage_user", "messages", *OBJECT_SERVICES):
        PlanService.objects.create(plan=base, name=name, type="periodic", interval="none")
    account_ops.update_account(actor=platform, account=top, changes={"plan": base})

    dealers = Account.objects.bulk_create(
        [Account(name=f"Dealer {tag}-{d}", parent=top, service=top, depth=1, path="", plan=base, dealer_rights=True)
         for d in range(10)])
    for dealer in dealers:
        dealer.path = f"{top.path}{dealer.pk}/"
    Account.objects.bulk_update(dealers, ["path"])
    clients = Account.objects.bulk_create(
        [Account(name=f"Client {tag}-{i}", parent=dealers[i % 10], service=top, depth=2, path="",
                 plan=long_history if i % 7 == 0 else base, history_period_days=0 if i % 50 == 0 else None)
         for i in range(n_accounts)], batch_size=BATCH)
    for i, client in enumerate(clients):
        client.path = f"{dealers[i % 10].path}{client.pk}/"
    Account.objects.bulk_update(clients, ["path"], batch_size=BATCH)
    AccountServiceOverride.objects.bulk_create(
        [AccountServiceOverride(account=c, name="messages", type="periodic", cost_table="-1")
         for i, c in enumerate(clients) if i % 3 == 0], batch_size=BATCH)
    ObjectCounter.objects.bulk_create(
        [ObjectCounter(account=c, service=service, own=(i * 7 + k) % 9, subtree=(i * 7 + k) % 9)
         for i, c in enumerate(clients) for k, service in enumerate(OBJECT_SERVICES) if (i + k) % 3 == 0],
        batch_size=BATCH)

    units = Unit.objects.bulk_create(
        [Unit(service=top, account=c, name=f"Unit {i}-{u}", unique_id=f"b{tag}x{i}x{u}", active=(u % 25 != 0),
              eco_driving=(u % 4 == 0), road_limits_speeding=(u % 6 == 0),
              eco_criteria=["braking"] if u % 5 == 0 else [])
         for i, c in enumerate(clients) for u in range(units_per_account)], batch_size=BATCH)
    Sensor.objects.bulk_create(
        [Sensor(unit=unit, name=f"s{k}", type="fuel_level" if k == 1 and j % 5 == 0 else "ignition")
         for j, unit in enumerate(units) for k in range(1 + j % 3)], batch_size=BATCH)
    UnitCommand.objects.bulk_create(
        [UnitCommand(unit=unit, name=f"c{k}") for j, unit in enumerate(units) for k in range(1 + j % 2)],
        batch_size=BATCH)
    ServiceInterval.objects.bulk_create(
        [ServiceInterval(unit=unit, name="Oil") for j, unit in enumerate(units) if j % 2 == 0], batch_size=BATCH)
    users = MonitoringUser.objects.bulk_create(
        [MonitoringUser(service=top, account=c, name=f"user {tag}-{i}") for i, c in enumerate(clients)],
        batch_size=BATCH)
    grants = [AccessGrant(user=users[j // units_per_account], unit=unit) for j, unit in enumerate(units)]
    grants += [AccessGrant(user=users[i], unit=units[((i + 1) % n_accounts) * units_per_account])
               for i in range(0, n_accounts, 10)]
    AccessGrant.objects.bulk_create(grants, batch_size=BATCH)
    return top


def measure_page(service: Account, skip_snapshot: bool):
    import statistics
    from datetime import timedelta

    from django.test import Client, override_settings

    from apps.accounts.models import Role
    from apps.core import clock
    from apps.discounts.models import DiscountCalculation
    from apps.discounts.operations import save_snapshots
    from apps.discounts.queries import local_today

    if not skip_snapshot:
        day = local_today(service, clock.now()) - timedelta(days=1)
        DiscountCalculation.objects.filter(service=service, kind="daily", day=day).delete()
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as ctx:
            save_snapshots(service=service, days=[day], now=clock.now())
        print(f"daily job (calculate, word, store the tables): {time.perf_counter() - started:.1f} s, "
              f"{len(ctx.captured_queries)} queries")
    calculation = DiscountCalculation.objects.filter(service=service, kind="daily").latest("day")
    top_user = Operator.objects.filter(account=service, role=Role.TOP_USER, is_staff=True).first()
    if top_user is None:
        platform = Operator.objects.filter(is_superuser=True).first()
        top_user = account_ops.create_operator(actor=platform, username=f"bench-top-{service.pk}-{int(time.time())}",
                                               password="bench-pass-1234", email="top@example.com", account=service,
                                               role=Role.TOP_USER)
    account_id = Account.objects.filter(service=service, depth=2).order_by("pk").values_list("pk", flat=True)[500]
    pages = [("reference: password page (no data)", "/admin/password_change/"),
             ("module page (accounts, page 1)", "/admin/discounts/module/"),
             ("module page (accounts, page 100)", "/admin/discounts/module/?page=100"),
             ("module page (an account's units)", f"/admin/discounts/module/?account={account_id}"),
             ("GET /api/v1/discount/accounts/", "/api/v1/discount/accounts/"),
             ("GET /api/v1/discount/units/", "/api/v1/discount/units/"),
             ("GET /api/v1/discount/", "/api/v1/discount/")]
    print(f"stored table: {calculation.accounts} accounts, {calculation.units} units")
    plain_static = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with override_settings(DEBUG=False, ALLOWED_HOSTS=["*"], STORAGES=plain_static):
        client = Client()
        client.force_login(top_user)
        for name, url in pages:
            client.get(url)  # warm-up
            times = []
            for _ in range(5):
                started = time.perf_counter()
                response = client.get(url)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, (url, response.status_code)
            with CaptureQueriesContext(connection) as ctx:
                size = len(client.get(url).content)
            print(f"{name:36} median {statistics.median(times) * 1000:7.1f} ms  best {min(times) * 1000:7.1f} ms  "
                  f"{size / 1024:7.1f} KiB  {len(ctx.captured_queries)} queries")
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS {rss_before:.0f} MB before the page requests, {rss_after:.0f} MB after; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--units-per-account", type=int, default=10)
    parser.add_argument("--service", type=int, help="Measure this already built service (a fresh process "
                                                    "gives the calculation's own memory peak).")
    parser.add_argument("--page", action="store_true", help="Measure the module page and the API lists over the "
                                                            "stored tables (runs the daily job first).")
    parser.add_argument("--no-snapshot", action="store_true", help="With --page: reuse the stored table.")
    parser.add_argument("--trace", action="store_true", help="Also measure the peak of Python allocations "
                                                              "(tracemalloc; slow).")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run this against PostgreSQL (DATABASE_URL=postgres://…/billing_bench_discounts).")
    if args.service:
        service = Account.objects.get(pk=args.service, parent__isnull=True)
    else:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        service = build(args.accounts, args.units_per_account)
        built = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(f"built service {service.pk}: {args.accounts} accounts, "
              f"{args.accounts * args.units_per_account} units in {built:.1f} s")

    if args.page:
        measure_page(service, args.no_snapshot)
        return
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        report = calculate_discount(service)
    untraced = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    traced_peak = None
    if args.trace:  # tracemalloc slows the calculation several times over: only on request
        del report
        tracemalloc.start()
        report = calculate_discount(service)
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    from apps.discounts.rules import CMS_MANAGER_SERVICE, MESSAGES_SERVICE
    from apps.plans.models import CatalogueService
    from apps.services.resolution import available_services, resolutions

    accounts = list(Account.objects.filter(service=service))
    apps = CatalogueService.objects.filter(service=service, name__startswith="Apps: ").values_list("name", flat=True)
    started = time.perf_counter()
    resolutions(accounts, [CMS_MANAGER_SERVICE, MESSAGES_SERVICE, *apps])
    kernel = time.perf_counter() - started
    started = time.perf_counter()
    available_services(accounts)
    kernel_all = time.perf_counter() - started
    s = report.summary
    print(f"counted units {s.in_use}, accounts listed {len(report.accounts)}, full cost {s.full_cost}")
    print(f"current {s.current} %, maximum {s.maximum} %, applied {s.applied} %")
    print(f"calculate_discount: {untraced:.2f} s; {len(queries.captured_queries)} queries; of which the kernel's "
          f"resolutions of the discount's names ≈ {kernel:.2f} s (every catalogue name: {kernel_all:.2f} s)")
    if traced_peak is not None:
        print(f"peak Python allocations during the calculation {traced_peak / 2**20:.0f} MB")
    print(f"process max RSS {rss_before:.0f} MB before, {rss_after:.0f} MB after; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

if __name__ == "__main__":
    main()
