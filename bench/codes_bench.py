"""Benchmarks of the activation codes (issue 5): the expiry sweep against hand-written SQL, the codes
window's first page, generating 100,000 codes and bulk-assigning 10,000.

Run against a PostgreSQL database of its own (it migrates it and adds a fresh service each run):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_bench_codes \\
        .venv/bin/python bench/codes_bench.py [--codes 1000000] [--due 100000] [--only sweep,generate]

Issue 16 (the sweep at fixed work): ``--codes 3000000 --due 10000 --only sweep --cluster 128MB,6GB``
builds the data in a private PostgreSQL cluster per ``shared_buffers`` value (``bench/pg_cluster.py``);
``--rounds N`` sets the rolled-back rounds of each (default 3); ``--explain`` adds EXPLAIN (ANALYZE,
BUFFERS) of the sweep's statements (captured from a rolled-back run) and of the hand-written SQL.

``--paging-only`` measures the window's pages on the previous run's service (issue 11): page 1, page 101
(the first past the 10,000 counted rows), pages 400 and 8,000 typed by hand (skipped past the end), the last page and the one before it
(by cursor), without a filter and with one, as the top user and a distributor.

The data is built with bulk inserts (``generate_series`` for the codes), not the operations:
1,000,000 codes of one service, half held by the top account and half shared among ten dealers;
100,000 due (active, on units, expired a day ago), 50,000 live on units, 100,000 active and
unassigned, 50,000 expired, the rest new. Figures go to ``docs/performance.md`` by hand.
"""

import argparse
import html
import os
import re
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pg_cluster import cluster_argument, rerun_in_clusters_if_asked  # noqa: E402

if __name__ == "__main__":  # --cluster: run this bench again in private clusters, before Django reads DATABASE_URL
    rerun_in_clusters_if_asked(__file__)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_site.settings.dev")
os.environ.setdefault("DEBUG", "0")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from apps.accounts import audit  # noqa: E402
from apps.accounts import operations as account_ops  # noqa: E402
from apps.accounts.models import Account, Operator, Role  # noqa: E402
from apps.codes import operations as ops  # noqa: E402
from apps.codes.models import ActivationCode  # noqa: E402
from apps.core import clock  # noqa: E402
from apps.plans.models import Plan, PlanService  # noqa: E402
from apps.units.models import Unit  # noqa: E402

DEALERS = 10
WINDOW = "/admin/codes/activationcode/"


class Rollback(Exception):
    """Raised to undo a measured run."""


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def build(n_codes: int, n_due: int):
    platform = Operator.objects.filter(is_superuser=True).first() or Operator.objects.create_superuser(
        "bench-root", "root@example.com", "bench")
    tag = int(time.time())
    top = account_ops.create_account(actor=platform, name=f"Codes bench {tag}", parent=None,
                                     service_settings={"timezone": "Europe/Berlin",
                                                       "billing_method": "activation_codes"})
    plan = Plan.objects.create(service=top, name=f"Bench plan {tag}", history_period_days=400)
    # Creating an account counts an avl_resource on its parent: the plan lists it, free and unlimited.
    PlanService.objects.create(plan=plan, name="avl_resource", type="periodic", interval="none", cost_table="")
    account_ops.update_account(actor=platform, account=top, changes={"plan": plan})
    dealers, clients = [], []
    for i in range(DEALERS):
        dealer = account_ops.create_account(actor=platform, name=f"Dealer {tag}-{i}", parent=top, plan=plan,
                                            dealer_rights=True)
        dealers.append(dealer)
        clients.append(account_ops.create_account(actor=platform, name=f"Client {tag}-{i}", parent=dealer,
                                                  plan=plan))
    top_user = account_ops.create_operator(actor=platform, username=f"bench-top-{tag}", password="Tracker-fleet-2026!",
                                           account=top, role=Role.TOP_USER)
    distributor = account_ops.create_operator(actor=platform, username=f"bench-dist-{tag}",
                                              password="Tracker-fleet-2026!", account=dealers[0],
                                              role=Role.DISTRIBUTOR)
    n_units = n_due + n_due // 2
    now = clock.now()
    units = [Unit(service=top, account=clients[i % DEALERS], name=f"unit {i:07d}", unique_id=f"B{tag}-{i}",
                  active=True) for i in range(n_units)]
    Unit.objects.bulk_create(units, batch_size=5000)
    unit_ids = [u.pk for u in units]
    dealer_ids = [d.pk for d in dealers]
    dealer_paths = [d.path for d in dealers]
    # Segments by row number i: [0, due) due on units; [due, units) live on units; then `due` active
    # unassigned; then due/2 expired and cleared; the rest new.
    expired_from = n_units + n_due
    new_from = expired_from + n_due // 2
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO codes_activationcode (code, service_id, validity_days, created_at, shared_with_id,
                holder_path, holder_branch, status, activated_at, expires_at, unit_id, cleared_at)
            SELECT md5(%(tag)s || '-' || i || '-' || random()::text), %(service)s,
                   CASE WHEN i < %(due)s THEN 30 WHEN i < %(units)s THEN 365 ELSE 90 END,
                   %(now)s - make_interval(secs => i),
                   CASE WHEN i %% 2 = 0 THEN NULL ELSE (%(dealer_ids)s::bigint[])[1 + (i / 2) %% %(n)s] END,
                   CASE WHEN i %% 2 = 0 THEN %(top_path)s ELSE (%(dealer_paths)s::text[])[1 + (i / 2) %% %(n)s] END,
                   CASE WHEN i %% 2 = 0 THEN NULL ELSE (%(dealer_ids)s::bigint[])[1 + (i / 2) %% %(n)s] END,
                   CASE WHEN i < %(expired_from)s THEN 'active' WHEN i < %(new_from)s THEN 'expired' ELSE 'new' END,
                   CASE WHEN i < %(new_from)s THEN %(now)s - interval '31 days' END,
                   CASE WHEN i < %(due)s THEN %(now)s - interval '1 day' + make_interval(secs => i %% 3600)
                        WHEN i < %(expired_from)s THEN %(now)s + interval '334 days' - make_interval(secs => i)
                        WHEN i < %(new_from)s THEN %(now)s - interval '2 days' END,
                   CASE WHEN i < %(units)s THEN (%(unit_ids)s::bigint[])[i + 1] END,
                   CASE WHEN i >= %(expired_from)s AND i < %(new_from)s THEN %(now)s - interval '1 day' END
            FROM generate_series(0, %(total)s - 1) AS i
            """,
            {"tag": str(tag), "service": top.pk, "due": n_due, "units": n_units, "now": now, "n": DEALERS,
             "dealer_ids": dealer_ids, "dealer_paths": dealer_paths, "top_path": top.path,
             "expired_from": expired_from, "new_from": new_from, "unit_ids": unit_ids, "total": n_codes},
        )
        cursor.execute("ANALYZE codes_activationcode; ANALYZE units_unit; ANALYZE codes_codeevent")
    return top, dealers, top_user, distributor, now


# The same writes as ``expire_codes`` in one hand-written statement: the codes, the units, the code log and
# the audit trail (one ``code_expired`` event per code, hashed in its service's chain: the content digests
# by the server, the links by ``pg_temp.audit_links``, a loop in PL/pgSQL), and the chains' heads moved.
# The bench's data has no queued codes, so no renewals.
AUDIT_LINKS = """
CREATE OR REPLACE FUNCTION pg_temp.audit_links(previous text, seq bigint, digests text[]) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    links text[] := '{}';
    digest text;
BEGIN
    FOREACH digest IN ARRAY digests LOOP
        seq := seq + 1;
        previous := encode(sha256(convert_to(previous || '|' || seq || '|' || digest, 'UTF8')), 'hex');
        links := array_append(links, previous);
    END LOOP;
    RETURN links;
END $$
"""
HAND_WRITTEN_SWEEP = f"""
WITH due AS (
    SELECT id FROM codes_activationcode
    WHERE status = 'active' AND expires_at <= %(now)s
    FOR UPDATE SKIP LOCKED
), expired AS (
    UPDATE codes_activationcode c SET status = 'expired' FROM due WHERE c.id = due.id
    RETURNING c.id, c.code, c.service_id, c.unit_id, c.holder_path, c.expires_at
), deactivated AS (
    UPDATE units_unit u SET active = false, deactivated_at = %(now)s, deactivation_reason = 'code_expired'
    FROM expired e JOIN accounts_account s ON s.id = e.service_id AND s.billing_method = 'activation_codes'
    WHERE u.id = e.unit_id AND u.active
    RETURNING u.id, u.name, u.account_id, e.id AS code_id, e.code, e.service_id
), expired_events AS (
    INSERT INTO codes_codeevent (at, action, service_id, actor_id, actor_name, code, code_id, unit_id, unit_name,
        account_id, account_name, account_path, holder_path_before, holder_path_after, before, after)
    SELECT %(now)s, 'expired', e.service_id, NULL, 'system', e.code, e.id, e.unit_id, COALESCE(u.name, ''),
           u.account_id, COALESCE(a.name, ''), COALESCE(a.path, ''), e.holder_path, e.holder_path,
           '{{"status": "active"}}'::jsonb, jsonb_build_object('status', 'expired', 'expires_at', e.expires_at)
    FROM expired e LEFT JOIN units_unit u ON u.id = e.unit_id LEFT JOIN accounts_account a ON a.id = u.account_id
), deactivated_events AS (
    INSERT INTO codes_codeevent (at, action, service_id, actor_id, actor_name, code, code_id, unit_id, unit_name,
        account_id, account_name, account_path, holder_path_before, holder_path_after, before, after)
    SELECT %(now)s, 'unit_deactivated', d.service_id, NULL, 'system', d.code, d.code_id, d.id, d.name, d.account_id,
           a.name, a.path, '', '', '{{"active": true}}'::jsonb, '{{"active": false, "reason": "code_expired"}}'::jsonb
    FROM deactivated d JOIN accounts_account a ON a.id = d.account_id
), trail AS MATERIALIZED (
    SELECT t.*, encode(sha256(convert_to(json_build_array(t.chain, {audit.iso_sql('t.at')}, t.action, t.service_id,
               t.account_id, t.account_name, t.account_path, t.subject_type, t.subject_id, t.subject_name, t.actor_id,
               t.actor_name, t.before, t.after, t.reason)::text, 'UTF8')), 'hex') AS digest
    FROM (
        SELECT row_number() OVER (PARTITION BY e.service_id ORDER BY e.id) AS ord, e.service_id AS chain,
               %(now)s::timestamptz AS at, 'code_expired'::text AS action, e.service_id,
               COALESCE(a.id, h.id) AS account_id, COALESCE(a.name, h.name, '') AS account_name,
               COALESCE(a.path, e.holder_path) AS account_path, 'code'::text AS subject_type, e.id AS subject_id,
               e.code AS subject_name, NULL::bigint AS actor_id, 'expire_codes'::text AS actor_name,
               '{{"status": "active"}}'::jsonb AS before,
               jsonb_build_object('status', 'expired', 'expires_at', {audit.iso_sql('e.expires_at')})
               || CASE WHEN d.code_id IS NULL THEN '{{}}'::jsonb
                       ELSE jsonb_build_object('unit_deactivated', d.name) END AS after,
               ''::text AS reason
        FROM expired e
        LEFT JOIN units_unit u ON u.id = e.unit_id
        LEFT JOIN accounts_account a ON a.id = u.account_id
        LEFT JOIN accounts_account h
               ON a.id IS NULL AND h.id = NULLIF(split_part(rtrim(e.holder_path, '/'), '/', -1), '')::bigint
        LEFT JOIN deactivated d ON d.code_id = e.id
    ) t
), heads AS (
    SELECT c.chain, c.seq, c.last_hash FROM accounts_auditchain c
    WHERE c.chain IN (SELECT DISTINCT chain FROM trail) FOR UPDATE
), links AS (
    SELECT h.chain, h.seq + x.n AS seq, x.n AS ord, x.hash
    FROM heads h, unnest(pg_temp.audit_links(h.last_hash, h.seq,
                                             ARRAY(SELECT digest FROM trail t WHERE t.chain = h.chain ORDER BY ord)))
                  WITH ORDINALITY AS x(hash, n)
), trail_events AS (
    INSERT INTO accounts_auditevent (seq, chain, at, action, service_id, account_id, account_name, account_path,
        subject_type, subject_id, subject_name, actor_id, actor_name, before, after, reason, hash)
    SELECT l.seq, t.chain, t.at, t.action, t.service_id, t.account_id, t.account_name, t.account_path, t.subject_type,
           t.subject_id, t.subject_name, t.actor_id, t.actor_name, t.before, t.after, t.reason, l.hash
    FROM trail t JOIN links l ON l.chain = t.chain AND l.ord = t.ord
    ORDER BY t.chain, l.seq
)
UPDATE accounts_auditchain c SET seq = l.seq, last_hash = l.hash
FROM (SELECT DISTINCT ON (chain) chain, seq, hash FROM links ORDER BY chain, seq DESC) l
WHERE c.chain = l.chain
"""


def sweep_sql(now):
    with connection.cursor() as cursor:
        cursor.execute(AUDIT_LINKS)
        cursor.execute("INSERT INTO accounts_auditchain (chain, seq, last_hash) SELECT DISTINCT service_id, 0, '' "
                       "FROM codes_activationcode WHERE status = 'active' AND expires_at <= %s "
                       "ON CONFLICT (chain) DO NOTHING", [now])
        cursor.execute(HAND_WRITTEN_SWEEP, {"now": now})


def measure_rolled_back(fn) -> float:
    start = time.perf_counter()
    try:
        with transaction.atomic():
            fn()
            elapsed = time.perf_counter() - start
            raise Rollback
    except Rollback:
        pass
    return elapsed


def bench_sweep(now, rounds: int = 2):
    sql_times, orm_times = [], []
    for _ in range(rounds):
        sql_times.append(measure_rolled_back(lambda: sweep_sql(now)))
        orm_times.append(measure_rolled_back(lambda: ops.expire_codes(now=now)))
    return sql_times, orm_times


WINDOW_QUERIES = [
    ("no filter (expired hidden)", {}),
    ("state=new", {"state": "new"}),
    ("state=active_assigned", {"state": "active_assigned"}),
    ("state=active_unassigned", {"state": "active_unassigned"}),
    ("state=expired", {"state": "expired"}),
    ("state=all", {"state": "all"}),
    ("assigned=yes", {"assigned": "yes"}),
    ("assigned=no", {"assigned": "no"}),
    ("shared_with=dealer", None),
    ("validity_days=365", {"validity_days": "365"}),
    ("expiring_within=7", {"expiring_within": "7"}),
    ("expiring_within=30", {"expiring_within": "30"}),
    ("activated_at from", None),
    ("expires_at to", None),
    ("search unit name", {"q": "unit 0000042"}),
    ("search code", None),
]


@override_settings(STORAGES={"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                             "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}},
                   ALLOWED_HOSTS=["*"])
def bench_window(users, dealers, now, repeat: int = 5):
    sample_code = ActivationCode.objects.filter(service_id=dealers[0].service_id, shared_with=dealers[0]).values_list(
        "code", flat=True).first()
    day = (now - timedelta(days=31)).date().isoformat()
    dynamic = {"shared_with=dealer": {"shared_with": str(dealers[0].pk)}, "activated_at from": {
        "activated_at__from": day}, "expires_at to": {"expires_at__to": (now + timedelta(days=30)).date().isoformat()},
        "search code": {"q": sample_code.upper()}}
    rows = []
    for label, user in users:
        client = Client()
        client.force_login(user)
        client.get(WINDOW)  # warm up: session, content types, templates
        for name, query in WINDOW_QUERIES:
            query = dynamic.get(name, query)
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                response = client.get(WINDOW, query)
                times.append(time.perf_counter() - start)
                assert response.status_code == 200, (name, response.status_code)
            with CaptureQueriesContext(connection) as ctx:
                client.get(WINDOW, query)
            sql_ms = sum(float(q["time"]) for q in ctx.captured_queries) * 1000
            rows.append((label, name, statistics.median(times) * 1000, max(times) * 1000, len(ctx), sql_ms))
    return rows


PAGING_FILTERS = [("default filters", {}), ("state=new", {"state": "new"})]
PAGES = [("page 1", {}), ("page 101 (past the cap)", {"p": "101"}), ("page 400 (typed, OFFSET 39,900)",
         {"p": "400"}), ("page 8,000 (typed, OFFSET 799,900)", {"p": "8000"}),
         ("last page (cursor)", {"cursor": "last"}), ("the one before it (cursor)", None)]


@override_settings(STORAGES={"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                             "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}},
                   ALLOWED_HOSTS=["*"])
def bench_paging(users, repeat: int = 10):
    """Per page: median and worst wall time of ``repeat`` requests, and the CPU they cost (this process
    and its PostgreSQL backend, from ``/proc``): on a machine shared with other work the CPU is the
    steadier figure, and on an idle one a request takes about that long. Then the query count and its
    SQL time in one more request."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    tick = os.sysconf("SC_CLK_TCK")

    def backend_cpu() -> float:
        fields = Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    rows = []
    for label, user in users:
        client = Client()
        client.force_login(user)
        client.get(WINDOW)  # warm up
        for filter_name, filters in PAGING_FILTERS:
            last = client.get(WINDOW, {**filters, "cursor": "last"}).content.decode()
            before = html.unescape(re.search(r'href="\?([^"]+)" class="previous-page"', last).group(1))
            for page_name, query in PAGES:
                def get(query=query):
                    return client.get(f"{WINDOW}?{before}") if query is None else client.get(WINDOW, {**filters, **query})

                if get().status_code == 404:
                    continue  # a typed page past this user's last page
                times = []
                cpu_start, backend_start = time.process_time(), backend_cpu()
                for _ in range(repeat):
                    start = time.perf_counter()
                    response = get()
                    times.append(time.perf_counter() - start)
                    assert response.status_code == 200, (page_name, response.status_code)
                cpu = (time.process_time() - cpu_start + backend_cpu() - backend_start) / repeat
                with CaptureQueriesContext(connection) as ctx:
                    get()
                sql_ms = sum(float(q["time"]) for q in ctx.captured_queries) * 1000
                rows.append((label, f"{filter_name}, {page_name}", statistics.median(times) * 1000,
                             max(times) * 1000, cpu * 1000, len(ctx), sql_ms))
    return rows


def print_paging(rows):
    print(f"\n## Codes window, pages past the cap (ms: median and worst of 10, CPU per request of Django + "
          f"PostgreSQL; queries; their SQL time in one more request; load average {os.getloadavg()[0]:.1f})")
    for label, name, median, worst, cpu, queries, sql_ms in rows:
        print(f"| {label} | {name} | {median:.0f} | {worst:.0f} | {cpu:.0f} | {queries} | {sql_ms:.0f} |")


def reset_swept(top: Account) -> int:
    """The codes a previous sweep expired (still on their units) become due again, their units active."""
    swept = ActivationCode.objects.filter(service=top, status="expired", cleared_at__isnull=True, unit__isnull=False)
    Unit.objects.filter(pk__in=swept.values("unit_id")).update(active=True, deactivated_at=None,
                                                               deactivation_reason="")
    count = swept.update(status="active")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE codes_activationcode") if not connection.in_atomic_block else None
    return count


def explain_sweep(now):
    """EXPLAIN (ANALYZE, BUFFERS) of each statement the sweep runs (captured from a rolled-back run,
    so whatever the sweep's code is now) and of the hand-written SQL, each rolled back."""
    with CaptureQueriesContext(connection) as ctx:
        measure_rolled_back(lambda: ops.expire_codes(now=now))
    statements = [q["sql"] for q in ctx.captured_queries
                  if q["sql"].lstrip().upper().startswith(("WITH", "SELECT", "UPDATE", "INSERT", "DELETE"))]
    with connection.cursor() as cursor:
        cursor.execute("SHOW shared_buffers")
        print(f"\n## EXPLAIN (ANALYZE, BUFFERS), shared_buffers {cursor.fetchone()[0]}, "
              f"load average {os.getloadavg()[0]:.1f}")
    for label, sql, params in [*((f"sweep statement {i + 1}", q, None) for i, q in enumerate(statements)),
                               ("hand-written SQL", HAND_WRITTEN_SWEEP, {"now": now})]:
        def run(sql=sql, params=params):
            with connection.cursor() as cursor:
                cursor.execute(AUDIT_LINKS)
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, VERBOSE OFF) " + sql, params)
                print(f"\n### {label}\n" + "\n".join(row[0] for row in cursor.fetchall()))
        measure_rolled_back(run)


def print_sweep(now, rounds: int = 3):
    print("\n## Expiry sweep (rolled back after each run, alternating)")
    with connection.cursor() as cursor:
        cursor.execute("SHOW shared_buffers")
        print(f"shared_buffers {cursor.fetchone()[0]}")
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    sql_times, orm_times = bench_sweep(now, rounds=rounds)
    print(f"load average after {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"hand-written SQL: {', '.join(f'{t:.2f}' for t in sql_times)} s")
    print(f"expire_codes():   {', '.join(f'{t:.2f}' for t in orm_times)} s")
    print(f"ratio: best/best {min(orm_times) / min(sql_times):.2f}, "
          f"median/median {statistics.median(orm_times) / statistics.median(sql_times):.2f}")
    real, expired = timed(lambda: ops.expire_codes(now=now))
    print(f"committed run: {expired:,} codes expired in {real:.2f} s")


def print_window(rows):
    print(f"\n## Codes window, first page (median / max of 5, ms; queries; their SQL time in one more request, ms; "
          f"load average {os.getloadavg()[0]:.1f})")
    for label, name, median, worst, queries, sql_ms in rows:
        print(f"| {label} | {name} | {median:.0f} | {worst:.0f} | {queries} | {sql_ms:.0f} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--codes", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--window-only", action="store_true",
                        help="Measure only the window, on the service built by the previous run.")
    parser.add_argument("--paging-only", action="store_true",
                        help="Measure only the window's pages (1, 101, 1,000, last), on the previous run's service.")
    parser.add_argument("--sweep-only", action="store_true",
                        help="Make the previous run's swept codes due again and measure only the sweep.")
    parser.add_argument("--generate-only", action="store_true",
                        help="Measure only generating and bulk-assigning, on the service of the previous run.")
    parser.add_argument("--only", default="window,sweep,generate",
                        help="Sections to measure after building, comma-separated (default: all): "
                             "window, sweep, generate (generating includes bulk-assigning).")
    parser.add_argument("--rounds", type=int, default=3, help="rolled-back rounds of the sweep comparison")
    parser.add_argument("--explain", action="store_true",
                        help="EXPLAIN (ANALYZE, BUFFERS) the sweep's statements and the hand-written SQL")
    cluster_argument(parser)
    args = parser.parse_args()
    sections = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = sections - {"window", "sweep", "generate"}
    if unknown:
        parser.error(f"unknown section(s) for --only: {', '.join(sorted(unknown))}")
    assert connection.vendor == "postgresql", "run against PostgreSQL (DATABASE_URL=postgres://…)"
    call_command("migrate", verbosity=0)
    if args.window_only or args.sweep_only or args.generate_only or args.paging_only:
        top = Account.objects.filter(parent__isnull=True, name__startswith="Codes bench").latest("pk")
        dealers = list(Account.objects.filter(parent=top, dealer_rights=True).order_by("pk"))
        print(f"{ActivationCode.objects.filter(service=top).count():,} codes")
        if args.generate_only:
            print_generate_and_assign(top, dealers, Operator.objects.get(account=top, role=Role.TOP_USER))
        elif args.window_only or args.paging_only:
            users = [("top user", Operator.objects.get(account=top, role=Role.TOP_USER)),
                     ("distributor", Operator.objects.get(account=dealers[0], role=Role.DISTRIBUTOR))]
            if args.paging_only:
                print_paging(bench_paging(users))
            else:
                print_window(bench_window(users, dealers, clock.now()))
        else:
            due = reset_swept(top)
            print(f"{due:,} codes due again")
            if args.explain:
                explain_sweep(clock.now())
            print_sweep(clock.now(), args.rounds)
        return

    build_time, (top, dealers, top_user, distributor, now) = timed(lambda: build(args.codes, args.due))
    total = ActivationCode.objects.filter(service=top).count()
    due = ActivationCode.objects.filter(service=top, status="active", expires_at__lte=now).count()
    print(f"built {total:,} codes ({due:,} due) in {build_time:.1f} s")

    if "window" in sections:
        print_window(bench_window([("top user", top_user), ("distributor", distributor)], dealers, now))
        print_paging(bench_paging([("top user", top_user), ("distributor", distributor)]))
    if "sweep" in sections:
        if args.explain:
            explain_sweep(now)
        print_sweep(now, args.rounds)
    if "generate" in sections:
        print_generate_and_assign(top, dealers, top_user)


def print_generate_and_assign(top: Account, dealers: list[Account], top_user: Operator):
    print("\n## Generate 100,000 codes")
    elapsed, codes = timed(lambda: ops.generate_codes(actor=top_user, service=top, quantity=100_000,
                                                      validity_days=365))
    print(f"{len(codes):,} codes in {elapsed:.2f} s (load average {os.getloadavg()[0]:.1f})")

    print("\n## Bulk-assign 10,000 codes")
    tag = int(time.time())
    fresh_units = [Unit(service=top, account=dealers[0].children.first(), name=f"fresh {tag}-{i:05d}",
                        unique_id=f"F{tag}-{i}", active=False, deactivation_reason="no_code")
                   for i in range(10_000)]
    Unit.objects.bulk_create(fresh_units, batch_size=5000)
    pairs = list(zip(codes[:10_000], fresh_units, strict=True))
    elapsed, (done, skipped) = timed(lambda: ops.assign_codes_bulk(actor=top_user, pairs=pairs))
    print(f"{done:,} assigned, {len(skipped)} skipped in {elapsed:.2f} s (load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
