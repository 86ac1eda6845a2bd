"""Issue 16's page benchmark: every admin page at one tenth and at the full data, top user and distributor.

Two databases of their own, built once each with set-based SQL (``generate_series``), then measured:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pp_tenth .venv/bin/python bench/pages_bench.py build --scale 0.1
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pp_full  .venv/bin/python bench/pages_bench.py build --scale 1
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pp_tenth \\
        .venv/bin/python bench/pages_bench.py measure --small pp_tenth --large pp_full

The data at scale 1 (issue 16): 10,000 end-user accounts below ten dealers (the distributor is the first
dealer: a tenth of everything), 100,000 units (90 % active), 3,000,000 codes (300,000 unswept due codes,
the newest: the sweep's lag; 72,000 live on units and 8,000 queued behind them; 40,000 running on no
unit; 100,000 expired; the rest new; half held by the top account, half shared among the dealers),
440,000 code events, 1,000,000 ledger rows. Plans, cost tables and a day's discount snapshot are small.

``measure`` runs each page as the top user and the distributor on both databases in turn (in-process test
client; tenth, full, tenth, full …, each turn warmed up; median of ``--repeat`` turns) in one run, so the
ratio full/tenth is measured under the same load, and prints each page's time at both sizes, the ratio, the query count at both sizes and the
machine's load. Pages: every admin changelist's first page that answers 200 for the role, the change and
add pages of accounts, units, plans and codes, the code log, the ledger, the dashboard and the discount
module. Figures go to ``docs/performance.md`` by hand.
"""

import argparse
import os
import re
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
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from apps.accounts import operations as account_ops  # noqa: E402
from apps.accounts.models import Account, Operator, Role  # noqa: E402
from apps.core import clock  # noqa: E402
from apps.plans.models import Plan, PlanService  # noqa: E402

DEALERS = 10
OPERATORS = {"top user": "bench-top", "top": "bench-top", "distributor": "bench-dist", "dist": "bench-dist"}
NAME = "Pages bench"
PASSWORD = "Tracker-fleet-2026!"


CODE_FILTERS = ["state=new", "state=queued", "state=active_assigned", "state=active_unassigned", "state=expired",
                "state=all", "assigned=yes", "assigned=no", "shared_with=none", "validity_days=30",
                "validity_days=365", "expiring_within=7", "expiring_within=30",
                "activated_at__from=2026-11-01&activated_at__to=2026-11-05", "expires_at__from=2027-01-01&expires_at__to=2027-01-03"]


def build(scale: float) -> None:
    n_accounts, n_units = int(10_000 * scale), int(100_000 * scale)
    n_codes, n_events, n_ledger = int(3_000_000 * scale), int(440_000 * scale), int(1_000_000 * scale)
    n_due, n_unassigned, n_expired = int(300_000 * scale), int(40_000 * scale), int(100_000 * scale)
    platform = Operator.objects.filter(is_superuser=True).first() or Operator.objects.create_superuser(
        "bench-root", "root@example.com", "bench")
    top = account_ops.create_account(actor=platform, name=NAME, parent=None,
                                     service_settings={"timezone": "Europe/Berlin",
                                                       "billing_method": "activation_codes",
                                                       "discount_enabled": True})
    plan = Plan.objects.create(service=top, name="Bench plan", history_period_days=400, block_by_days=True, min_days=0)
    PlanService.objects.create(plan=plan, name="avl_resource", type="periodic", interval="none", cost_table="")
    for name in ("avl_unit", "unit_sensors", "sms"):
        PlanService.objects.create(plan=plan, name=name, type="periodic", interval="monthly", cost_table="1:0.5")
    account_ops.update_account(actor=platform, account=top, changes={"plan": plan})
    dealers = [account_ops.create_account(actor=platform, name=f"Dealer {i}", parent=top, plan=plan,
                                          dealer_rights=True) for i in range(DEALERS)]
    account_ops.create_operator(actor=platform, username="bench-top", password=PASSWORD, account=top,
                                role=Role.TOP_USER)
    account_ops.create_operator(actor=platform, username="bench-dist", password=PASSWORD, account=dealers[0],
                                role=Role.DISTRIBUTOR)
    now = clock.now()
    p = {"top": top.pk, "plan": plan.pk, "now": now, "dealers": [d.pk for d in dealers],
         "dealer_paths": [d.path for d in dealers], "k": DEALERS, "top_path": top.path,
         "n_accounts": n_accounts, "n_units": n_units, "n_codes": n_codes, "n_events": n_events,
         "n_ledger": n_ledger, "n_due": n_due, "n_unassigned": n_unassigned, "n_expired": n_expired}
    with connection.cursor() as cursor:
        def run(label, sql):
            started = time.perf_counter()
            cursor.execute(sql, p)
            print(f"  {label}: {time.perf_counter() - started:.1f} s", flush=True)

        run("accounts", """
            INSERT INTO accounts_account (name, parent_id, service_id, path, depth, plan_id, dealer_rights, balance,
                days, blocked, blocked_by, blocked_reason, timezone, billing_method, basic_package_units,
                purchased_units, currency_format, discount_enabled, created_at)
            SELECT 'Client ' || lpad(i::text, 6, '0'), (%(dealers)s::bigint[])[1 + i %% %(k)s], %(top)s, '', 2,
                   %(plan)s, false, (i %% 997) - 50, i %% 60, i %% 50 = 0,
                   CASE WHEN i %% 50 = 0 THEN 'manual' ELSE '' END, '', 'UTC', 'monthly', 0, 0, '', false, %(now)s
            FROM generate_series(0, %(n_accounts)s - 1) AS i""")
        run("paths", """UPDATE accounts_account c SET path = p.path || c.id || '/' FROM accounts_account p
                        WHERE c.parent_id = p.id AND c.service_id = %(top)s AND c.path = ''""")
        cursor.execute("SELECT id FROM accounts_account WHERE service_id = %s AND depth = 2 ORDER BY id", [top.pk])
        p["clients"] = [row[0] for row in cursor.fetchall()]
        run("units", """
            INSERT INTO units_unit (service_id, account_id, name, unique_id, active, deactivated_at,
                deactivation_reason, eco_driving, road_limits_speeding, eco_criteria, created_at)
            SELECT %(top)s, (%(clients)s::bigint[])[1 + i %% %(n_accounts)s], 'unit ' || lpad(i::text, 7, '0'),
                   (350000000000000 + i * 7919)::text, i %% 10 <> 9, NULL,
                   CASE WHEN i %% 10 = 9 THEN 'no_code' ELSE '' END, false, false, '[]'::jsonb,
                   %(now)s - make_interval(mins => i)
            FROM generate_series(0, %(n_units)s - 1) AS i""")
        cursor.execute("SELECT id FROM units_unit WHERE service_id = %s AND active ORDER BY id", [top.pk])
        live_units = [row[0] for row in cursor.fetchall()]
        p["live"], p["n_live"] = live_units[: len(live_units) * 8 // 9], len(live_units) * 8 // 9
        p["queued"] = live_units[: p["n_live"] // 9]
        p["n_queued"] = len(p["queued"])
        # Codes by row number i (newest first): [0, due) unswept due codes on no unit; then live on units;
        # queued behind the first of those; running on no unit; expired; the rest new.
        p["live_from"] = n_due
        p["queued_from"] = p["live_from"] + p["n_live"]
        p["free_from"] = p["queued_from"] + p["n_queued"]
        p["expired_from"] = p["free_from"] + n_unassigned
        p["new_from"] = p["expired_from"] + n_expired
        run("codes", """
            INSERT INTO codes_activationcode (code, service_id, validity_days, created_at, shared_with_id,
                holder_path, holder_branch, status, activated_at, expires_at, unit_id, queued_on_id, cleared_at)
            SELECT md5('pages-' || i), %(top)s, (ARRAY[30, 90, 180, 365])[1 + i %% 4],
                   %(now)s - make_interval(secs => i),
                   CASE WHEN i %% 2 = 0 THEN NULL ELSE (%(dealers)s::bigint[])[1 + (i / 2) %% %(k)s] END,
                   CASE WHEN i %% 2 = 0 THEN %(top_path)s ELSE (%(dealer_paths)s::text[])[1 + (i / 2) %% %(k)s] END,
                   CASE WHEN i %% 2 = 0 THEN NULL ELSE (%(dealers)s::bigint[])[1 + (i / 2) %% %(k)s] END,
                   CASE WHEN i < %(queued_from)s THEN 'active' WHEN i < %(free_from)s THEN 'queued'
                        WHEN i < %(expired_from)s THEN 'active' WHEN i < %(new_from)s THEN 'expired' ELSE 'new' END,
                   CASE WHEN i < %(live_from)s THEN %(now)s - interval '31 days'
                        WHEN i < %(queued_from)s THEN %(now)s - interval '1 day'
                        WHEN i < %(free_from)s THEN %(now)s + interval '365 days'
                        WHEN i < %(new_from)s THEN %(now)s - interval '100 days' END,
                   CASE WHEN i < %(live_from)s THEN %(now)s - interval '1 day' + make_interval(secs => i %% 3600)
                        WHEN i < %(queued_from)s THEN %(now)s + make_interval(
                            mins => ((i - %(live_from)s)::bigint * 525600 / %(n_live)s)::int)
                        WHEN i < %(free_from)s THEN %(now)s + interval '730 days'
                        WHEN i < %(expired_from)s THEN %(now)s + interval '265 days'
                        WHEN i < %(new_from)s THEN %(now)s - interval '1 day' END,
                   CASE WHEN i >= %(live_from)s AND i < %(queued_from)s
                        THEN (%(live)s::bigint[])[i - %(live_from)s + 1] END,
                   CASE WHEN i >= %(queued_from)s AND i < %(free_from)s
                        THEN (%(queued)s::bigint[])[i - %(queued_from)s + 1] END,
                   CASE WHEN i >= %(expired_from)s AND i < %(new_from)s THEN %(now)s - interval '1 day' END
            FROM generate_series(0, %(n_codes)s - 1) AS i""")
        # A queued code starts when its unit's live code ends (the live codes' ends are spread evenly over
        # the next year at both sizes, so "expiring within 7 days" holds the same share of them).
        run("queue clocks", """
            UPDATE codes_activationcode q SET activated_at = live.expires_at,
                   expires_at = live.expires_at + interval '365 days'
            FROM codes_activationcode live WHERE q.queued_on_id = live.unit_id AND q.status = 'queued'
            AND live.status = 'active' AND live.service_id = %(top)s""")
        # Code events: the assignments of the live codes' kind, spread over the last 30 days, on the units'
        # accounts (the distributor sees its tenth by the account path).
        run("code events", """
            INSERT INTO codes_codeevent (at, action, service_id, actor_id, actor_name, code, code_id, unit_id,
                unit_name, account_id, account_name, account_path, holder_path_before, holder_path_after,
                before, after)
            SELECT %(now)s - make_interval(secs => i * 6), 'assigned', %(top)s, NULL, 'bench',
                   c.code, c.id, u.id, u.name, a.id, a.name, a.path, c.holder_path, c.holder_path, '{}', '{}'
            FROM generate_series(0, %(n_events)s - 1) AS i
            JOIN LATERAL (SELECT (%(live)s::bigint[])[1 + i %% %(n_live)s] AS unit_id) pick ON true
            JOIN units_unit u ON u.id = pick.unit_id
            JOIN accounts_account a ON a.id = u.account_id
            JOIN codes_activationcode c ON c.unit_id = u.id AND c.status = 'active'""")
        run("ledger", """
            INSERT INTO accounts_ledgerentry (account_id, kind, amount, days, service, periodic, cost_table,
                description, actor_name, at)
            SELECT (%(clients)s::bigint[])[1 + g %% %(n_accounts)s], 'charge', -0.1, 0,
                   (ARRAY['sms','avl_unit','unit_sensors'])[1 + g %% 3], false, '', 'bench', 'system',
                   %(now)s - make_interval(secs => g)
            FROM generate_series(1, %(n_ledger)s) g""")
        run("analyze", "ANALYZE")
    print(f"built service {top.pk}: {n_accounts} accounts, {n_units} units, {n_codes} codes, {n_events} events, "
          f"{n_ledger} ledger rows")


def pages(db: str) -> dict:
    """{(role, label): url} on the database ``db`` (ids differ between the two)."""
    from django.contrib import admin

    from apps.codes.models import ActivationCode
    from apps.units.models import Unit

    top = Account.objects.using(db).get(name=NAME, parent__isnull=True)
    dealer = Account.objects.using(db).get(name="Dealer 0", parent=top)
    out = {}
    for role, root in (("top user", top), ("distributor", dealer)):
        path = root.path
        client = Account.objects.using(db).filter(path__startswith=path, depth=2).order_by("pk").first()
        unit = Unit.objects.using(db).filter(account__path__startswith=path).order_by("pk").first()
        code = (ActivationCode.objects.using(db).filter(service=top, holder_path__startswith=path, status="active",
                                                        unit__isnull=False).order_by("pk").first())
        plan = Plan.objects.using(db).filter(service=top).order_by("pk").first()
        urls = {}
        for model in admin.site._registry:
            meta = model._meta
            urls[f"list {meta.app_label}.{meta.model_name}"] = f"/admin/{meta.app_label}/{meta.model_name}/"
        urls.update({
            "account change": f"/admin/accounts/account/{client.pk}/change/",
            "account add": "/admin/accounts/account/add/",
            "unit change": f"/admin/units/unit/{unit.pk}/change/",
            "unit add": "/admin/units/unit/add/",
            "plan change": f"/admin/plans/plan/{plan.pk}/change/",
            "plan add": "/admin/plans/plan/add/",
            "code change": f"/admin/codes/activationcode/{code.pk}/change/",
            "code add": "/admin/codes/activationcode/add/",
            "code log": "/admin/codes/log/",
            "dashboard (admin home)": "/admin/",
            "discount module": "/admin/discounts/module/",
            "app index (discounts)": "/admin/discounts/",
        })
        window = "/admin/codes/activationcode/"
        for query in CODE_FILTERS:
            urls[f"codes {query}"] = f"{window}?{query}"
        urls["codes q=<unit name>"] = f"{window}?q=unit+0001234"
        urls["codes q=<IMEI start>"] = f"{window}?q=35000000"
        for name, url in urls.items():
            out[(role, name)] = url
    return out


def timed(client, url: str, repeat: int):
    first = client.get(url)  # warm
    if first.status_code != 200:
        return None, 0, first.status_code
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    return statistics.median(times), len(ctx.captured_queries), 200


def switch(name: str) -> None:
    """Point the default connection at another database of the same server."""
    connections["default"].close()
    settings.DATABASES["default"]["NAME"] = name
    connections["default"].settings_dict["NAME"] = name


def measure(small: str, large: str, repeat: int, only: str | None) -> None:
    """Each page on both databases in turn (tenth, full, tenth, full …), so a drift of the machine over the
    run (another process, the server's caches) weighs on both sizes alike instead of on whichever ran last.
    Each turn switches the connection, warms the page up untimed, then times it once; the figure is the
    median of ``repeat`` turns per size."""
    plain_static = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    results = {}
    with override_settings(DEBUG=False, ALLOWED_HOSTS=["*"], STORAGES=plain_static):
        assert connection.vendor == "postgresql", "DATABASE_URL: the PostgreSQL server of both databases"
        urls, users = {}, {}
        for size, db_name in (("small", small), ("large", large)):
            switch(db_name)
            urls[size] = {key: url for key, url in pages("default").items() if not only or only in key[1]}
            users[size] = {role: Operator.objects.get(username=OPERATORS[role]) for role in ("top user", "distributor")}
        print(f"start, load {open('/proc/loadavg').read().split()[0]}", flush=True)
        keys = list(urls["small"])
        # The dashboard once more with its kept aggregates dropped before each timed request: its cost on the first
        # opening after a write (the aggregates over the scope, which grow with the service by definition).
        keys += [(role, f"{name}, first after a write") for role, name in urls["small"] if name.startswith("dashboard")]
        for key in keys:
            role, name = key
            cold = name.endswith(", first after a write")
            page = (role, name.removesuffix(", first after a write"))
            times = {"small": [], "large": []}
            status, queries, rows = {}, {}, {}
            for _turn in range(repeat):
                for size, db_name in (("small", small), ("large", large)):
                    switch(db_name)
                    client = Client()
                    client.force_login(users[size][role])
                    url = urls[size][page]
                    first = client.get(url)  # warm: the connection, the page's plans and caches
                    status[size] = first.status_code
                    if first.status_code != 200:
                        continue
                    rows[size] = list_rows(first)
                    if cold:
                        cache.clear()
                    started = time.perf_counter()
                    client.get(url)
                    times[size].append((time.perf_counter() - started) * 1000)
                    if size not in queries:
                        if cold:
                            cache.clear()
                        with CaptureQueriesContext(connection) as ctx:
                            client.get(url)
                        queries[size] = len(ctx.captured_queries)
            for size in ("small", "large"):
                ms = statistics.median(times[size]) if times[size] else None
                results[(role, name, size)] = (urls[size][page], ms, queries.get(size, 0), status.get(size),
                                               rows.get(size))
        print(f"done, load {open('/proc/loadavg').read().split()[0]}", flush=True)
    print("| page | role | tenth ms | full ms | ratio | rows tenth | rows full | queries tenth | queries full | ok |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (role, name, size), (url, ms, queries, status, rows) in results.items():
        if size != "small":
            continue
        big = results.get((role, name, "large"))
        if ms is None or big is None or big[1] is None:
            continue
        ratio = big[1] / ms if ms else 0
        ok = big[1] <= 300 and ratio <= 1.5 and queries == big[2]
        shown = (f"{rows} | {big[4]}" if rows is not None else "— | —")
        print(f"| {name} | {role} | {ms:.0f} | {big[1]:.0f} | {ratio:.2f} | {shown} | {queries} | {big[2]} | "
              f"{'yes' if ok else 'NO'} |")
    skipped = sorted({(r, n, s[3]) for (r, n, z), s in results.items() if s[1] is None})
    if skipped:
        print("not 200 (not the role's page):", ", ".join(f"{r} {n} {st}" for r, n, st in skipped))


def list_rows(response) -> int | None:
    """The rows a changelist shows (its result table's body rows); None for a page without one."""
    html = response.content.decode()
    start = html.find('id="result_list"')
    if start < 0:
        return None
    body = html[start:html.find("</table>", start)]
    return max(body.count("<tr") - 1, 0)


def explain(db: str, role: str, url: str, top: int) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the ``top`` slowest statements of one page, as ``role`` sees it."""
    plain_static = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    switch(db)
    with override_settings(DEBUG=False, ALLOWED_HOSTS=["*"], STORAGES=plain_static):
        client = Client()
        client.force_login(Operator.objects.get(username=OPERATORS[role]))
        client.get(url)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
    print(f"{url} as {role}: {response.status_code}, {len(ctx.captured_queries)} queries, "
          f"load {open('/proc/loadavg').read().split()[0]}")
    slowest = sorted(ctx.captured_queries, key=lambda q: -float(q["time"]))[:top]
    with connection.cursor() as cursor:
        for query in slowest:
            print(f"\n-- {float(query['time']) * 1000:.1f} ms\n{query['sql']}")
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            print("\n".join(row[0] for row in cursor.fetchall()))


WINDOW_TABLES = ("codes_activationcode", "units_unit")


def _window_statements(captured) -> list[str]:
    """The statements of a codes window page that read codes or units (the page's rows, its capped count,
    the search's units): the window's own SQL, without the session, the rights and the banner."""
    return [q["sql"] for q in captured if any(f'"{t}"' in q["sql"] for t in WINDOW_TABLES)
            and "notice" not in q["sql"]]


def window(db: str, repeat: int, only: str | None) -> None:
    """Each codes window filter's first page, as the top user and the distributor: the request's time (median
    of ``repeat`` after a warm-up), the summed execution time of the page's codes and units statements
    (EXPLAIN ANALYZE, median of ``repeat``), the most rows any of them removed by a filter, and the queries."""
    plain_static = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    switch(db)
    base = "/admin/codes/activationcode/"
    queries = ["", *CODE_FILTERS, "q=unit+0001234", "q=35000000"]
    print(f"load before {open('/proc/loadavg').read().split()[0]}", flush=True)
    print("| filter | role | request ms | SQL ms | slowest statement ms | most rows removed | queries |")
    print("|---|---|---|---|---|---|---|")
    with override_settings(DEBUG=False, ALLOWED_HOSTS=["*"], STORAGES=plain_static):
        for role, username in (("top user", "bench-top"), ("distributor", "bench-dist")):
            client = Client()
            client.force_login(Operator.objects.get(username=username))
            for query in queries:
                if only and only not in query:
                    continue
                url = f"{base}?{query}" if query else base
                request_ms, _, status = timed(client, url, repeat)
                with CaptureQueriesContext(connection) as ctx:
                    client.get(url)
                statements = _window_statements(ctx.captured_queries)
                totals, slowest, removed = [], [], 0
                with connection.cursor() as cursor:
                    for _ in range(repeat):
                        total, worst = 0.0, 0.0
                        for sql in statements:
                            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                            plan = "\n".join(row[0] for row in cursor.fetchall())
                            ms = float(re.search(r"Execution Time: ([0-9.]+)", plan).group(1))
                            total += ms
                            worst = max(worst, ms)
                            removed = max([removed, *(int(n) for n in re.findall(r"Rows Removed by Filter: (\d+)",
                                                                                   plan))])
                        totals.append(total)
                        slowest.append(worst)
                print(f"| {query or '(default)'} | {role} | {request_ms:.0f} | {statistics.median(totals):.1f} | "
                      f"{statistics.median(slowest):.1f} | {removed:,} | {len(ctx.captured_queries)} |", flush=True)
    print(f"load after {open('/proc/loadavg').read().split()[0]}")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--scale", type=float, default=1.0)
    m = sub.add_parser("measure")
    m.add_argument("--small", required=True, help="The tenth's database name.")
    m.add_argument("--large", required=True, help="The full data's database name.")
    m.add_argument("--repeat", type=int, default=5)
    m.add_argument("--only", help="Only the pages whose label contains this text.")
    e = sub.add_parser("explain")
    e.add_argument("db")
    e.add_argument("role", choices=["top", "dist"])
    e.add_argument("url")
    e.add_argument("--top", type=int, default=2)
    w = sub.add_parser("window")
    w.add_argument("db")
    w.add_argument("--repeat", type=int, default=5)
    w.add_argument("--only", help="Only the filters containing this text.")
    args = parser.parse_args()
    if args.command == "window":
        window(args.db, args.repeat, args.only)
    elif args.command == "explain":
        explain(args.db, args.role, args.url, args.top)
    elif args.command == "build":
        assert connection.vendor == "postgresql", "run against PostgreSQL (DATABASE_URL=postgres://…)"
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        build(args.scale)
        print(f"built in {time.perf_counter() - started:.0f} s")
    else:
        measure(args.small, args.large, args.repeat, args.only)


if __name__ == "__main__":
    main()
