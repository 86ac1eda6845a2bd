"""Benchmark of the dashboard and the expiry forecast (issue 15) at 1,000,000 codes and 100,000 units.

Run against a PostgreSQL database of its own (it migrates it and adds a fresh service each run, unless
``--reuse`` measures the previous run's service again):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_bench_dashboard \\
        .venv/bin/python bench/dashboard_bench.py [--codes 1000000] [--units 100000] [--accounts 2000] [--reuse]

The data is built with bulk inserts (``generate_series`` for the codes, as bench/codes_bench.py does):
20 first-level dealers, ``--accounts`` client accounts below them (days counters on, so the kernel's
block prediction has work), ``--units`` units; 90 % of the units hold a live code ending within the next
year, spread evenly (one in nine of those with a queued code behind it), the rest are inactive; 40,000 codes run on no
unit, 50,000 expired, the rest new. Each page and API answer is requested in-process (Django's test
client: the server's time without the network), 5 times after a warm-up; the median and the number of
queries are printed. Figures go to ``docs/performance.md`` by hand.
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
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from apps.accounts import operations as account_ops  # noqa: E402
from apps.accounts.models import Account, Operator, Role  # noqa: E402
from apps.codes.models import ActivationCode  # noqa: E402
from apps.core import clock  # noqa: E402
from apps.plans.models import Plan, PlanService  # noqa: E402

DEALERS = 20
NAME = "Dashboard bench"


def build(n_codes: int, n_units: int, n_accounts: int):
    platform = Operator.objects.filter(is_superuser=True).first() or Operator.objects.create_superuser(
        "bench-root", "root@example.com", "bench")
    tag = int(time.time())
    top = account_ops.create_account(actor=platform, name=f"{NAME} {tag}", parent=None,
                                     service_settings={"timezone": "Europe/Berlin",
                                                       "billing_method": "activation_codes"})
    plan = Plan.objects.create(service=top, name=f"Bench plan {tag}", history_period_days=400, block_by_days=True,
                               min_days=0)
    PlanService.objects.create(plan=plan, name="avl_resource", type="periodic", interval="none", cost_table="")
    account_ops.update_account(actor=platform, account=top, changes={"plan": plan})
    dealers = [account_ops.create_account(actor=platform, name=f"Dealer {tag}-{i}", parent=top, plan=plan,
                                          dealer_rights=True) for i in range(DEALERS)]
    top_user = account_ops.create_operator(actor=platform, username=f"bench-top-{tag}", password="Tracker-fleet-2026!",
                                           account=top, role=Role.TOP_USER)
    distributor = account_ops.create_operator(actor=platform, username=f"bench-dist-{tag}",
                                              password="Tracker-fleet-2026!", account=dealers[0], role=Role.DISTRIBUTOR)
    now = clock.now()
    with connection.cursor() as cursor:
        # Client accounts: days 0..59 (a tenth within the 5-day warning), balances spread, a few blocked.
        cursor.execute(
            """
            INSERT INTO accounts_account (name, parent_id, service_id, path, depth, plan_id, dealer_rights, balance,
                days, blocked, blocked_by, blocked_reason, timezone, billing_method, basic_package_units,
                purchased_units, currency_format, discount_enabled, created_at)
            SELECT 'Client ' || %(tag)s || '-' || i, d.id, %(top)s, '', 2, %(plan)s, false, (i %% 997) - 50,
                   i %% 60, i %% 50 = 0, CASE WHEN i %% 50 = 0 THEN 'manual' ELSE '' END, '', 'UTC', 'monthly', 0,
                   0, '', false, %(now)s
            FROM generate_series(0, %(n)s - 1) AS i
            JOIN LATERAL (SELECT (%(dealers)s::bigint[])[1 + i %% %(k)s] AS id) d ON true
            """, {"tag": str(tag), "top": top.pk, "plan": plan.pk, "n": n_accounts, "now": now,
                  "dealers": [d.pk for d in dealers], "k": DEALERS})
        cursor.execute("""UPDATE accounts_account c SET path = p.path || c.id || '/' FROM accounts_account p
                          WHERE c.parent_id = p.id AND c.service_id = %s AND c.path = ''""", [top.pk])
        cursor.execute("SELECT id FROM accounts_account WHERE service_id = %s AND depth = 2 ORDER BY id", [top.pk])
        clients = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            """
            INSERT INTO units_unit (service_id, account_id, name, unique_id, active, deactivated_at,
                deactivation_reason, eco_driving, road_limits_speeding, eco_criteria, created_at)
            SELECT %(top)s, (%(clients)s::bigint[])[1 + i %% %(accounts)s], 'unit ' || lpad(i::text, 7, '0'),
                   'D' || %(tag)s || '-' || i, i %% 10 <> 9,
                   NULL, CASE WHEN i %% 10 = 9 THEN 'no_code' ELSE '' END, false, false, '[]'::jsonb, %(now)s
            FROM generate_series(0, %(n)s - 1) AS i
            """, {"top": top.pk, "tag": str(tag), "n": n_units, "accounts": len(clients), "clients": clients,
                  "now": now})
        cursor.execute("SELECT id FROM units_unit WHERE service_id = %s ORDER BY id", [top.pk])
        unit_ids = [row[0] for row in cursor.fetchall()]
        live_units = [pk for i, pk in enumerate(unit_ids) if i % 10 != 9]
        queued_units = live_units[::9]
        n_live, n_queued = len(live_units), len(queued_units)
        expired_from = n_live + n_queued + 40_000
        new_from = expired_from + 50_000
        # Codes by row number i: live on a unit, queued behind one of those, running on no unit, expired, new.
        cursor.execute(
            """
            INSERT INTO codes_activationcode (code, service_id, validity_days, created_at, shared_with_id,
                holder_path, holder_branch, status, activated_at, expires_at, unit_id, queued_on_id, cleared_at)
            SELECT md5(%(tag)s || '-' || i || '-' || random()::text), %(top)s, 365, %(now)s - make_interval(secs => i),
                   NULL, %(top_path)s, NULL,
                   CASE WHEN i < %(n_live)s THEN 'active' WHEN i < %(n_live)s + %(n_queued)s THEN 'queued'
                        WHEN i < %(expired_from)s THEN 'active' WHEN i < %(new_from)s THEN 'expired' ELSE 'new' END,
                   CASE WHEN i < %(n_live)s THEN %(now)s - interval '1 day'
                        WHEN i < %(n_live)s + %(n_queued)s THEN %(now)s + make_interval(mins => (i * 9 - %(n_live)s * 9) %% 525600)
                        WHEN i < %(new_from)s THEN %(now)s - interval '100 days' END,
                   CASE WHEN i < %(n_live)s THEN %(now)s + make_interval(mins => (i * 5) %% 525600)
                        WHEN i < %(n_live)s + %(n_queued)s THEN %(now)s + make_interval(mins => (i * 9 - %(n_live)s * 9) %% 525600) + interval '365 days'
                        WHEN i < %(expired_from)s THEN %(now)s + interval '265 days'
                        WHEN i < %(new_from)s THEN %(now)s - interval '1 day' END,
                   CASE WHEN i < %(n_live)s THEN (%(live)s::bigint[])[i + 1] END,
                   CASE WHEN i >= %(n_live)s AND i < %(n_live)s + %(n_queued)s
                        THEN (%(queued)s::bigint[])[i - %(n_live)s + 1] END,
                   NULL
            FROM generate_series(0, %(total)s - 1) AS i
            """, {"tag": str(tag), "top": top.pk, "now": now, "top_path": top.path, "n_live": n_live,
                  "n_queued": n_queued, "expired_from": expired_from, "new_from": new_from, "live": live_units,
                  "queued": queued_units, "total": n_codes})
        # A queued code starts when its unit's live code ends: put those live codes' ends where the queue says.
        cursor.execute("""UPDATE codes_activationcode live SET expires_at = q.activated_at
                          FROM codes_activationcode q WHERE q.queued_on_id = live.unit_id AND q.status = 'queued'
                          AND live.status = 'active' AND live.service_id = %s""", [top.pk])
        cursor.execute("ANALYZE accounts_account; ANALYZE units_unit; ANALYZE codes_activationcode")
    return top, top_user, distributor


def measure(client, url, rounds=5):
    client.get(url)  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    return statistics.median(times), min(times), len(ctx.captured_queries)


PAGES = [("admin home (dashboard + 90-day chart)", "/admin/{svc}"),
         ("forecast page, 90 days", "/admin/dashboard/forecast/{svc}"),
         ("forecast page, 366 days", "/admin/dashboard/forecast/{svc}{sep}days=366"),
         ("forecast CSV, 366 days", "/admin/dashboard/forecast.csv{svc}{sep}days=366"),
         ("GET /api/v1/dashboard/", "/api/v1/dashboard/{svc}"),
         ("GET /api/v1/codes/forecast/ (90)", "/api/v1/codes/forecast/{svc}"),
         ("GET /api/v1/codes/forecast/?days=366", "/api/v1/codes/forecast/{svc}{sep}days=366")]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--codes", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--reuse", action="store_true", help="Measure the previous run's service again.")
    parser.add_argument("--forecast", action="store_true", help="Only the forecast's pages and API answers.")
    args = parser.parse_args()
    assert connection.vendor == "postgresql", "run against PostgreSQL (DATABASE_URL=postgres://…)"
    call_command("migrate", verbosity=0)
    if args.reuse:
        top = Account.objects.filter(parent__isnull=True, name__startswith=NAME).latest("pk")
        top_user = Operator.objects.get(account=top, role=Role.TOP_USER)
        distributor = Operator.objects.filter(account__parent=top, role=Role.DISTRIBUTOR).get()
    else:
        start = time.perf_counter()
        top, top_user, distributor = build(args.codes, args.units, args.accounts)
        with connection.cursor() as cursor:  # as autovacuum would: the visibility map for index-only scans
            for table in ("codes_activationcode", "units_unit"):  # one statement each: VACUUM runs alone
                cursor.execute(f"VACUUM ANALYZE {table}")
        print(f"built in {time.perf_counter() - start:.0f} s")
    platform = Operator.objects.filter(is_superuser=True).first()
    from apps.units.models import Unit

    print(f"{ActivationCode.objects.filter(service=top).count():,} codes, "
          f"{Unit.objects.filter(service=top).count():,} units, {Account.objects.filter(service=top).count():,} accounts; "
          f"load average {os.getloadavg()[0]:.1f}")
    plain_static = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    with override_settings(DEBUG=False, ALLOWED_HOSTS=["*"], STORAGES=plain_static):
        for label, user in (("top user", top_user), ("distributor", distributor), ("platform", platform)):
            client = Client()
            client.force_login(user)
            svc = f"?service={top.pk}" if user.is_superuser else ""
            for name, template in PAGES:
                if args.forecast and "forecast" not in name:
                    continue
                url = template.format(svc=svc, sep="&" if svc else "?")
                median, best, queries = measure(client, url)
                print(f"{label:12} {name:40} median {median * 1000:7.1f} ms  best {best * 1000:7.1f} ms  "
                      f"{queries} queries")


if __name__ == "__main__":
    main()
