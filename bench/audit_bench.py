"""Benchmarks of the audit trail (issue 13): the Audit log's first page over 10,000,000 events with each
single filter, and the expiry sweep of 100,000 codes with its events and hashes against the same sweep
without them (today's sweep), measured in the same run, alternating, each rolled back.

Run against a PostgreSQL database of its own (it migrates it and adds a fresh service each run):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_bench_audit \\
        .venv/bin/python bench/audit_bench.py [--events 10000000] [--codes 300000] [--due 100000]

The codes are built by ``bench/codes_bench.py``'s builder. The events are written with one
``generate_series`` INSERT per million (not through ``record``): their hashes are placeholders and they
live in chains of their own (negative numbers), so ``verify_audit`` on a bench database reports them.
``--pages-only`` measures the pages again on the events already there. ``--cluster 128MB,4GB`` builds and
measures in a private PostgreSQL cluster per ``shared_buffers`` value (``bench/pg_cluster.py``). Figures go to
``docs/performance.md`` by hand.
"""

import argparse
import os
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
from apps.accounts.models import Account, AuditEvent, Operator, Role  # noqa: E402
from apps.codes import operations as ops  # noqa: E402
from apps.codes import pg as codes_pg  # noqa: E402
from apps.core import clock  # noqa: E402

import codes_bench  # noqa: E402

ACTIONS = ["account_updated", "payment_recorded", "unit_updated", "code_assigned", "code_expired",
           "plan_service_updated", "account_blocked", "account_unblocked", "unit_created", "code_unassigned",
           "job_run", "operator_updated", "grant_created", "unit_moved", "code_shared", "plan_updated",
           "account_created", "code_renewed", "unit_deactivated", "codes_generated"]
RARE_ACTION = "token_rotated"  # one event in 10,000


def build_events(top: Account, dealers: list[Account], total: int, chunk: int = 1_000_000):
    """``total`` events over the last 365 days: 80 % in the bench service (spread over its top account, the
    ten dealers and their clients), 20 % in another service; 30 % by jobs, the rest by 50 operators."""
    clients = list(Account.objects.filter(parent__in=dealers).order_by("pk"))
    accounts = [top, *dealers, *clients]
    ids = [a.pk for a in accounts]
    names = [a.name for a in accounts]
    paths = [a.path for a in accounts]
    now = clock.now()
    step = 365 * 86400 / total
    with connection.cursor() as cursor:
        for start in range(0, total, chunk):
            n = min(chunk, total - start)
            t0 = time.perf_counter()
            cursor.execute(
                """
                INSERT INTO accounts_auditevent (chain, seq, at, action, service_id, account_id, account_name,
                    account_path, subject_type, subject_id, subject_name, actor_id, actor_name, before, after,
                    reason, hash)
                SELECT CASE WHEN i %% 5 = 4 THEN -2 ELSE -1 END, i,
                       %(now)s - make_interval(secs => i * %(step)s),
                       CASE WHEN i %% 10000 = 7 THEN %(rare)s ELSE (%(actions)s::text[])[1 + (i * 7) %% 20] END,
                       CASE WHEN i %% 5 = 4 THEN 999999 ELSE %(service)s END,
                       CASE WHEN i %% 5 = 4 THEN NULL ELSE (%(ids)s::bigint[])[1 + i %% %(n_acc)s] END,
                       CASE WHEN i %% 5 = 4 THEN 'Elsewhere' ELSE (%(names)s::text[])[1 + i %% %(n_acc)s] END,
                       CASE WHEN i %% 5 = 4 THEN '/999999/' ELSE (%(paths)s::text[])[1 + i %% %(n_acc)s] END,
                       (ARRAY['account', 'unit', 'code', 'plan'])[1 + i %% 4], i %% 200000, 'subject ' || (i %% 200000),
                       CASE WHEN i %% 10 < 3 THEN NULL ELSE 1000000 + i %% 50 END,
                       CASE WHEN i %% 10 < 3 THEN 'expire_codes' ELSE 'operator ' || (i %% 50) END,
                       '{"status": "active"}'::jsonb, '{"status": "expired"}'::jsonb, '', md5(i::text) || md5(i::text)
                FROM generate_series(%(start)s, %(stop)s) AS i
                """,
                {"now": now, "step": step, "rare": RARE_ACTION, "actions": ACTIONS, "service": top.pk, "ids": ids,
                 "names": names, "paths": paths, "n_acc": len(accounts), "start": start + 1, "stop": start + n})
            print(f"  events {start + n:,} ({time.perf_counter() - t0:.1f} s)", flush=True)
        cursor.execute("ANALYZE accounts_auditevent")


def bench_pages(top: Account, dealers: list[Account], top_user: Operator, platform: Operator, repeat: int = 5):
    now = clock.now()
    year = {"since": (now - timedelta(days=365)).date().isoformat(), "until": now.date().isoformat()}
    dealer = dealers[3]
    cases = [
        ("default range (today), no filter", {}),
        ("a year, no filter", year),
        ("a year, action (common)", {**year, "action": "payment_recorded"}),
        ("a year, action (1 in 10,000)", {**year, "action": RARE_ACTION}),
        ("a year, actor", {**year, "actor": "1000017"}),
        ("a year, account with subtree (dealer)", {**year, "account": str(dealer.pk)}),
        ("a year, subject (type and id)", {**year, "subject_type": "unit", "subject_id": "4321"}),
        ("one day 100 days ago", {"since": (now - timedelta(days=100)).date().isoformat(),
                                  "until": (now - timedelta(days=100)).date().isoformat()}),
    ]
    rows = []
    storages = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    with override_settings(DEBUG=False, ALLOWED_HOSTS=["*"], STORAGES=storages):
        for who, user in (("platform", platform), ("top user", top_user)):
            client = Client()
            client.force_login(user)
            for label, params in cases:
                query = dict(params)
                if who == "platform" and "account" not in query:
                    query["service"] = str(top.pk)
                times, sql = [], []
                for _ in range(repeat):
                    with CaptureQueriesContext(connection) as queries:
                        start = time.perf_counter()
                        answer = client.get("/admin/audit/", query)
                        times.append((time.perf_counter() - start) * 1000)
                    sql.append(sum(float(q["time"]) for q in queries.captured_queries
                                   if "accounts_auditevent" in q["sql"]) * 1000)
                    assert answer.status_code == 200, (label, answer.status_code)
                rows.append((who, label, statistics.median(times), min(times), statistics.median(sql)))
    print("\n## Audit log, first page (100 rows), ms: page median / best of", repeat, "/ its trail statements")
    for who, label, median, best, sql in rows:
        print(f"| {who} | {label} | {median:.0f} | {best:.0f} | {sql:.0f} |", flush=True)
    return rows


def bench_sweep(now, rounds: int):
    """The sweep as it is (its batch statement writes the audit events and hashes) and today's sweep (the same
    batch without its trail, ``codes_pg.UNAUDITED_BATCH_SQL``), alternating, each rolled back."""
    with_trail, baseline = codes_pg.EXPIRE_BATCH_SQL, codes_pg.UNAUDITED_BATCH_SQL
    plain_times, trail_times = [], []
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE accounts_auditevent")
        cursor.execute("SELECT current_setting('shared_buffers'), current_setting('max_wal_size'), checkpoints_req "
                       "FROM pg_stat_bgwriter")
        shared_buffers, max_wal_size, forced = cursor.fetchone()
    print(f"\nshared_buffers {shared_buffers}, max_wal_size {max_wal_size}; each run starts after VACUUM of the "
          f"codes' tables and a CHECKPOINT", flush=True)
    for _ in range(rounds):
        settle()
        codes_pg.EXPIRE_BATCH_SQL = baseline
        plain_times.append(codes_bench.measure_rolled_back(lambda: ops.expire_codes(now=now)))
        settle()
        codes_pg.EXPIRE_BATCH_SQL = with_trail
        trail_times.append(codes_bench.measure_rolled_back(lambda: ops.expire_codes(now=now)))
    codes_pg.EXPIRE_BATCH_SQL = with_trail
    with connection.cursor() as cursor:
        cursor.execute("SELECT checkpoints_req FROM pg_stat_bgwriter")
        print(f"checkpoints forced by WAL volume during the runs: {cursor.fetchone()[0] - forced}; load average "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("\n## Expiry sweep, 100,000 due codes (rolled back each run, alternating), s")
    print("| run | today's sweep | with the audit trail | ratio |")
    for i, (a, b) in enumerate(zip(plain_times, trail_times, strict=True), 1):
        print(f"| {i} | {a:.2f} | {b:.2f} | {b / a:.2f} |")
    print(f"| best/best | {min(plain_times):.2f} | {min(trail_times):.2f} | {min(trail_times) / min(plain_times):.2f} |")
    print(f"| median/median | {statistics.median(plain_times):.2f} | {statistics.median(trail_times):.2f} | "
          f"{statistics.median(trail_times) / statistics.median(plain_times):.2f} |")


def _parts_variants() -> dict[str, str]:
    """The sweep's batch statement taken apart, to see what each part of the trail costs: today's sweep,
    the sweep as it is, the same without the code log's INSERT (the trail alone: what the code log as a view
    of the trail would write), the sweep as it is with the chain's digest and link replaced by constants (no
    hashing), the sweep as it is run after dropping the trail's secondary indexes inside the run's own
    transaction (rolled back with it), and today's sweep and the sweep as it is with PostgreSQL's JIT off for
    the run (``SET LOCAL``: the trail's statement passes JIT's optimizing threshold, today's does not)."""
    full, baseline = codes_pg.EXPIRE_BATCH_SQL, codes_pg.UNAUDITED_BATCH_SQL
    cut = codes_pg._BATCH.index("\n), events AS (")
    trail_only = (codes_pg._BATCH[:cut] + "\n)" + codes_pg._BATCH_TRAIL
                  + codes_pg._BATCH_RESULT.replace("{summary}", audit.CHAIN_SUMMARY))
    digest = audit.digest_sql("\0").split("\0")[0]  # "encode(sha256(convert_to(json_build_array("
    start = full.index(digest)
    end = full.index("'hex') AS digest", start) + len("'hex')")
    unhashed = full[:start] + "''::text" + full[end:]
    window = full.index("audit_chain_hash(")
    window_end = full.index("ROWS UNBOUNDED PRECEDING)", window) + len("ROWS UNBOUNDED PRECEDING)")
    unhashed = unhashed.replace(full[window:window_end], "''::text")
    return {"today's sweep": baseline, "with the trail": full, "trail, no code log": trail_only,
            "trail, no hashing": unhashed, "trail, no secondary indexes": full,
            "today's sweep, JIT off": baseline, "with the trail, JIT off": full,
            "with the trail, JIT not optimized": full,
            "with the trail, digest through jsonb": full.replace(digest, digest.replace("json_", "jsonb_"))}


def bench_sweep_parts(now, rounds: int, only: list[str] | None = None):
    """Each variant of ``_parts_variants`` (or those named in ``only``, beside today's sweep) in turn,
    ``rounds`` times, each rolled back after a ``settle``."""
    variants = _parts_variants()
    if only:
        variants = {name: variants[name] for name in ["today's sweep", *only]}
    events = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexname NOT LIKE %s "
                       "AND indexname <> 'audit_event_chain_seq'", [events, "%pkey"])
        secondary = [name for (name,) in cursor.fetchall()]
    times = {name: [] for name in variants}
    original = codes_pg.EXPIRE_BATCH_SQL

    def run(name):
        if name.endswith("JIT off"):
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        if name.endswith("JIT not optimized"):
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit_optimize_above_cost = -1")
                cursor.execute("SET LOCAL jit_inline_above_cost = -1")
        if name == "trail, no secondary indexes":
            with connection.cursor() as cursor:
                for index in secondary:
                    cursor.execute(f'DROP INDEX "{index}"')
        ops.expire_codes(now=now)

    try:
        for _ in range(rounds):
            for name, sql in variants.items():
                settle(trail=True)
                codes_pg.EXPIRE_BATCH_SQL = sql
                start = time.perf_counter()
                try:
                    with transaction.atomic():
                        run(name)
                        times[name].append(time.perf_counter() - start)
                        raise codes_bench.Rollback
                except codes_bench.Rollback:
                    pass
    finally:
        codes_pg.EXPIRE_BATCH_SQL = original
    print(f"\n## The sweep's trail taken apart ({len(secondary)} secondary indexes: {', '.join(secondary)}), s")
    print("| variant | " + " | ".join(f"run {i}" for i in range(1, rounds + 1)) + " | median | ratio to today's |")
    base = statistics.median(times["today's sweep"])
    for name, values in times.items():
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in values)
              + f" | {statistics.median(values):.2f} | {statistics.median(values) / base:.2f} |")


def _generation_as_trail_sql() -> str:
    """Generation's batch statement writing what the code log as a view of the trail would make it write: one
    hashed ``code_generated`` event per new code in the service's chain (``audit.chain_ctes``) instead of the
    code log's ``generated`` row (the bench generates unshared codes, so no ``shared`` rows either way). The
    chain's summary rides on every returned row (one uncorrelated subquery, evaluated once)."""
    statement = codes_pg.GENERATE_BATCH_SQL
    cut, end = statement.index("), events AS ("), statement.index("SELECT code, id FROM written")
    trail = """), generated_trail AS (
    SELECT row_number() OVER (ORDER BY w.id) AS ord, %(service)s::bigint AS chain, %(now)s::timestamptz AS at,
           'code_generated'::text AS action, %(service)s::bigint AS service_id, %(service)s::bigint AS account_id,
           %(top_name)s::text AS account_name, %(top_path)s::text AS account_path, 'code'::text AS subject_type,
           w.id AS subject_id, w.code AS subject_name, %(actor_id)s::bigint AS actor_id,
           %(actor_name)s::text AS actor_name, '{}'::jsonb AS before,
           jsonb_build_object('validity_days', %(days)s::integer) AS after, ''::text AS reason
    FROM written w
), """ + audit.chain_ctes("generated_trail") + "\n"
    return statement[:cut] + trail + f"SELECT code, id, {audit.CHAIN_SUMMARY} FROM written\n" + statement[end + 28:]


def bench_generation(top: Account, top_user: Operator, rounds: int):
    """Generating 100,000 codes as it is (the code log's rows, one ``codes_generated`` event) against the same
    with a hashed trail event per code instead of the code log's row (what the code log as a view of the trail
    would write), alternating, each rolled back after a ``settle``."""
    from apps.codes.operations import generation

    original = generation._insert_generated_pg
    as_trail = _generation_as_trail_sql()

    def insert_as_trail(texts, template, *, actor, top_path, shared_with, now):
        sql, params = codes_pg.generate_batch(texts, template, actor_id=actor.pk, actor_name=actor.get_username(),
                                              top_path=top_path, now=now, shared_name=None)
        with connection.cursor() as cursor:
            cursor.execute(as_trail, {**params, "top_name": top.name})
            rows = cursor.fetchall()
        audit.move_heads(rows[0][2] if rows else None)
        return [(code, pk) for code, pk, _ in rows]

    times = {"as it is": [], "a trail event per code instead of the code log's row": []}
    try:
        for _ in range(rounds):
            for name, insert in zip(times, (original, insert_as_trail), strict=True):
                settle(trail=True)
                generation._insert_generated_pg = insert
                start = time.perf_counter()
                try:
                    with transaction.atomic():
                        codes = ops.generate_codes(actor=top_user, service=top, quantity=100_000, validity_days=365)
                        times[name].append(time.perf_counter() - start)
                        assert len(codes) == 100_000
                        raise codes_bench.Rollback
                except codes_bench.Rollback:
                    pass
    finally:
        generation._insert_generated_pg = original
    print("\n## Generate 100,000 codes (rolled back each run, alternating), s")
    print("| variant | " + " | ".join(f"run {i}" for i in range(1, rounds + 1)) + " | median |")
    for name, values in times.items():
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in values) + f" | {statistics.median(values):.2f} |")


def settle(trail: bool = False):
    """The rolled-back runs' dead row versions gone from the codes' tables and nothing left to write back:
    each run starts from the same state. The trail's own table is vacuumed once, before the series, unless
    ``trail``: the parts' runs roll back up to 100,000 events each, and without a VACUUM between runs its
    indexes fill with dead entries that every later variant pays for."""
    with connection.cursor() as cursor:
        for table in ("codes_activationcode", "units_unit", "codes_codeevent"):
            cursor.execute(f"VACUUM ANALYZE {table}")
        if trail:
            cursor.execute(f"VACUUM ANALYZE {AuditEvent._meta.db_table}")
        cursor.execute("CHECKPOINT")


def count_sweep_events(now):
    """One sweep kept inside a rolled-back transaction: how many events and statements it writes."""
    from django.db import transaction
    from django.test.utils import CaptureQueriesContext

    try:
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            before = AuditEvent.objects.filter(action="code_expired").count()
            expired = ops.expire_codes(now=now)
            after = AuditEvent.objects.filter(action="code_expired").count()
            print(f"\nsweep: {expired:,} codes expired, {after - before:,} code_expired events, "
                  f"{len(queries)} statements")
            raise codes_bench.Rollback
    except codes_bench.Rollback:
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--codes", type=int, default=300_000)
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pages-only", action="store_true")
    parser.add_argument("--sweep-only", action="store_true", help="Sweep and pages on the previous run's data.")
    parser.add_argument("--parts", action="store_true",
                        help="The sweep's trail taken apart (bench_sweep_parts) instead of the sweep's series; no pages.")
    parser.add_argument("--generation", action="store_true",
                        help="On the previous run's data: generating 100,000 codes as it is and with a trail "
                             "event per code instead of the code log's row (bench_generation), no pages.")
    parser.add_argument("--variant", action="append", dest="variants",
                        help="With --parts: only this variant (by its name; repeatable), beside today's sweep.")
    cluster_argument(parser)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    if args.pages_only or args.sweep_only or args.generation:
        top = Account.objects.filter(name__startswith="Codes bench", parent__isnull=True).latest("pk")
        dealers = list(Account.objects.filter(parent=top).order_by("pk"))
        top_user = Operator.objects.filter(account=top, role=Role.TOP_USER).latest("pk")
        if args.generation:
            bench_generation(top, top_user, args.rounds)
            return
        if args.sweep_only:
            now = clock.now()
            count_sweep_events(now)
            if args.parts:
                bench_sweep_parts(now, args.rounds, args.variants)
                return
            bench_sweep(now, args.rounds)
    else:
        t0 = time.perf_counter()
        top, dealers, top_user, _, now = codes_bench.build(args.codes, args.due)
        print(f"codes built in {time.perf_counter() - t0:.1f} s", flush=True)
        t0 = time.perf_counter()
        build_events(top, dealers, args.events)
        print(f"{args.events:,} events built in {time.perf_counter() - t0:.1f} s", flush=True)
        count_sweep_events(now)
        if args.parts:
            bench_sweep_parts(now, args.rounds, args.variants)
            return
        bench_sweep(now, args.rounds)
        print(flush=True)
    platform = Operator.objects.filter(is_superuser=True).first()
    account_ops.actor_name(platform)
    bench_pages(top, dealers, top_user, platform)


if __name__ == "__main__":
    main()
