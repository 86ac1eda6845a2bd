"""Issue 16's pickers and ledger list: pages whose cost must follow the page, not the accounts or the ledger.

Build the data once, then time the pages (with this tree, or with an older tree's copy of this script to
compare before and after on the same data):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_bench_pickers \\
        .venv/bin/python bench/pickers_bench.py build [--accounts 10000] [--units 20000] [--ledger 1000000]
    DATABASE_URL=... .venv/bin/python bench/pickers_bench.py measure SERVICE_ID [--repeat 3]

The accounts, units and ledger rows are bulk-inserted (the operations are not what is measured): N end-user
accounts below two dealers (the distributor sees half), units spread over them, ledger rows spread over
every account. Measured in-process with Django's test client, medians: the unit change and add pages, the
account add page, the code log, the ledger list and a page of the account picker's autocomplete, each with
its HTML size and query count, as the top user and the first dealer's distributor. Figures go to
``docs/performance.md`` by hand.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_site.settings.dev")
os.environ.setdefault("DEBUG", "0")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from apps.accounts import operations as account_ops  # noqa: E402
from apps.accounts.models import Account, Operator, Role  # noqa: E402
from apps.plans.models import Plan, PlanService  # noqa: E402
from apps.units.models import Unit  # noqa: E402

BATCH = 5000
PASSWORD = "Tracker-fleet-2026!"


def build(accounts: int, units: int, ledger: int) -> int:
    platform = Operator.objects.filter(is_superuser=True).first() or Operator.objects.create_superuser(
        "bench-root", "root@example.com", "x")
    stamp = int(time.time())
    service = account_ops.create_account(actor=platform, name=f"Bench pickers {stamp}", parent=None)
    plan = Plan.objects.create(service=service, name="Root", history_period_days=400)
    PlanService.objects.bulk_create([PlanService(plan=plan, name=n, type="periodic", interval="monthly")
                                     for n in ("avl_resource", "avl_unit", "unit_sensors", "sms")])
    account_ops.update_account(actor=platform, account=service, changes={"plan": plan})
    dealers = [account_ops.create_account(actor=platform, name=f"Dealer {i}", parent=service, plan=plan,
                                          dealer_rights=True) for i in range(2)]
    for start in range(0, accounts, BATCH):
        rows = [Account(name=f"Client {i:06d}", parent=dealers[i % 2], service=service, plan=plan, depth=2,
                        path="pending") for i in range(start, min(start + BATCH, accounts))]
        Account.objects.bulk_create(rows)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_account a SET path = p.path || a.id || '/' FROM accounts_account p "
                       "WHERE a.path = 'pending' AND p.id = a.parent_id")
    clients = list(Account.objects.filter(service=service, depth=2).values_list("pk", flat=True))
    for start in range(0, units, BATCH):
        Unit.objects.bulk_create([Unit(service=service, account_id=clients[i % len(clients)], name=f"Unit {i:07d}",
                                       unique_id=f"{stamp}{i:08d}") for i in range(start, min(start + BATCH, units))])
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_ledgerentry (account_id, kind, amount, days, service, periodic, cost_table, "
            "description, actor_name, at) SELECT (%s::bigint[])[1 + g %% %s], 'charge', -0.1, 0, "
            "(ARRAY['sms','avl_unit','unit_sensors'])[1 + g %% 3], false, '', 'bench', 'system', "
            "now() - make_interval(secs => g) FROM generate_series(1, %s) g",
            [clients, len(clients), ledger])
        cursor.execute("ANALYZE")
    account_ops.create_operator(actor=platform, username=f"benchtop{service.pk}", password=PASSWORD,
                                account=service, role=Role.TOP_USER)
    account_ops.create_operator(actor=platform, username=f"benchdealer{service.pk}", password=PASSWORD,
                                account=dealers[0], role=Role.DISTRIBUTOR)
    print(f"service {service.pk}: {accounts} accounts, {units} units, {ledger} ledger rows")
    return service.pk


def timed(client, url: str, repeat: int):
    client.get(url)  # warm
    times, queries, size, status = [], 0, 0, 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        queries, size, status = len(ctx.captured_queries), len(response.content), response.status_code
    return statistics.median(times), queries, size, status


@override_settings(ALLOWED_HOSTS=["*"], STORAGES={
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}})
def measure(service_id: int, repeat: int):
    unit = Unit.objects.filter(service_id=service_id).order_by("pk").first()
    north_unit = Unit.objects.filter(service_id=service_id, account__parent__name="Dealer 0").order_by("pk").first()
    pages = [
        ("unit change", "/admin/units/unit/{unit}/change/"),
        ("unit add", "/admin/units/unit/add/"),
        ("account add", "/admin/accounts/account/add/"),
        ("code log", "/admin/codes/log/"),
        ("ledger list", "/admin/accounts/ledgerentry/"),
        ("units list", "/admin/units/unit/"),
        ("account picker, 1st page", "/admin/autocomplete/?app_label=units&model_name=unit&field_name=account"),
        ("account picker, 'client 0099'",
         "/admin/autocomplete/?app_label=units&model_name=unit&field_name=account&term=client+0099"),
    ]
    print("| page | role | median ms | queries | KiB | status |")
    print("|---|---|---|---|---|---|")
    for role, username, unit_pk in (("top user", f"benchtop{service_id}", unit.pk),
                                    ("distributor", f"benchdealer{service_id}", north_unit.pk)):
        client = Client()
        client.force_login(Operator.objects.get(username=username))
        for name, url in pages:
            ms, queries, size, status = timed(client, url.format(unit=unit_pk), repeat)
            print(f"| {name} | {role} | {ms:.0f} | {queries} | {size / 1024:.0f} | {status} |")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--accounts", type=int, default=10_000)
    b.add_argument("--units", type=int, default=20_000)
    b.add_argument("--ledger", type=int, default=1_000_000)
    m = sub.add_parser("measure")
    m.add_argument("service", type=int)
    m.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.command == "build":
        call_command("migrate", verbosity=0)
        build(args.accounts, args.units, args.ledger)
    else:
        measure(args.service, args.repeat)


if __name__ == "__main__":
    main()
