"""Consume throughput through the API on PostgreSQL, as a ratio to a trivial DRF endpoint.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_kernel .venv/bin/python bench/services_consume.py

1. Migrates and builds a service: top (Base plan) → DEALERS dealers (Dealer plan) → CLIENTS_PER_DEALER
   clients each; ``sms`` priced at every level (0.01), daily window, so each consume writes counters
   for three accounts, three ledger rows, three balances and its idempotency key.
2. Starts ``gunicorn -w WORKERS`` (2 × cores + 1 unless BENCH_WORKERS is set) on 127.0.0.1 with ``bench.services_settings``.
3. From a second process (this one), a bounded loop: REQUESTS requests over CONNECTIONS keep-alive
   connections, first to ``/bench/ping/`` (authentication + permission + JSON), then to
   ``/api/v1/accounts/<client>/consume/`` spread over the clients (a service's traffic: many
   trackers' accounts), then all to one client (the worst case: every request waits for the
   previous one's locks on the same three accounts). Prints requests/second and the ratios.

4. Runs ROUNDS rounds of the three, interleaved, so a slower minute of a shared machine touches
   all three alike; prints each round and the medians. Also prints the CPU each request cost the
   server's workers, PostgreSQL and this client (from /proc), the figure a ratio of throughputs on
   a saturated machine comes down to.
"""

import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.services_settings")
PORT = int(os.environ.get("BENCH_PORT", "8765"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "1000"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
# gunicorn's own advice for sync workers: 2 × cores + 1 (a worker waiting on PostgreSQL leaves its
# core to another).
WORKERS = int(os.environ.get("BENCH_WORKERS", str(2 * (os.cpu_count() or 1) + 1)))
DEALERS = 4
CLIENTS_PER_DEALER = 25


def setup() -> tuple[str, list[int]]:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from apps.accounts import operations as account_ops
    from apps.accounts.models import Operator, Role
    from apps.plans.models import Plan, PlanService

    tag = uuid.uuid4().hex[:6]
    root = Operator.objects.create_superuser(username=f"bench-root-{tag}", email="b@example.com", password="x")
    top = account_ops.create_account(actor=root, name=f"Bench {tag}", parent=None,
                                     service_settings={"timezone": "Europe/Berlin"})
    base = Plan.objects.create(service=top, name="Base", history_period_days=400)
    dealer_plan = Plan.objects.create(service=top, name="Dealer", parent=base)
    account_ops.update_account(actor=root, account=top, changes={"plan": base})
    PlanService.objects.create(plan=base, name="sms", type="on_demand", interval="daily", cost_table="0.01")
    # Creating an account counts an avl_resource on its parent: free and unlimited here.
    PlanService.objects.create(plan=base, name="avl_resource", type="periodic", interval="none", cost_table="")
    clients = []
    for d in range(DEALERS):
        dealer = account_ops.create_account(actor=root, name=f"Dealer {d}", parent=top, plan=dealer_plan,
                                            dealer_rights=True)
        clients += [account_ops.create_account(actor=root, name=f"Client {d}-{c}", parent=dealer, plan=base).pk
                    for c in range(CLIENTS_PER_DEALER)]
    operator = account_ops.create_operator(actor=root, username=f"bench-top-{tag}", password="Tracker-fleet-2026!",
                                           account=top, role=Role.TOP_USER)
    return account_ops.rotate_token(actor=root, operator=operator), clients


def cpu_seconds() -> dict[str, float]:
    """CPU time so far of the server's workers, of PostgreSQL's processes and of this process."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {"server": 0.0, "postgres": 0.0}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kind = "server" if "bench.services_wsgi" in command else "postgres" if command.startswith("postgres") else None
        if kind:
            out[kind] += (int(fields[11]) + int(fields[12])) / tick
    usage = os.times()
    out["client"] = usage.user + usage.system
    return out


def load(path, token: str, body) -> tuple[float, dict[str, float]]:
    """Requests per second of ``REQUESTS`` POSTs spread over ``CONNECTIONS`` keep-alive connections,
    and the CPU milliseconds per request of each side; ``path(worker, i)`` and ``body(worker, i)``
    give each request's URL and body."""
    per_client = REQUESTS // CONNECTIONS

    def run(worker: int) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", PORT)
        failures = 0
        for i in range(per_client):
            conn.request("POST", path(worker, i), body=json.dumps(body(worker, i)),
                         headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            failures += response.status != 200
        conn.close()
        return failures

    cpu_before, started = cpu_seconds(), time.perf_counter()
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        failures = sum(pool.map(run, range(CONNECTIONS)))
    elapsed, cpu_after = time.perf_counter() - started, cpu_seconds()
    if failures:
        raise SystemExit(f"{failures} requests to {path(0, 0)} failed")
    done = per_client * CONNECTIONS
    return done / elapsed, {k: 1000 * (cpu_after[k] - cpu_before[k]) / done for k in cpu_after}


def main():
    token, clients = setup()
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-w", str(WORKERS), "-b", f"127.0.0.1:{PORT}", "--chdir", str(ROOT),
         "--access-logfile", "/dev/null", "bench.services_wsgi:application"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "bench.services_settings"},
    )
    runs: dict[str, list[tuple[float, dict]]] = {"ping": [], "spread": [], "one": []}
    try:
        time.sleep(4)
        ping_path = lambda w, i: "/bench/ping/"  # noqa: E731
        load(ping_path, token, lambda w, i: {})  # warm-up of every worker
        for round_ in range(ROUNDS):
            run = uuid.uuid4().hex[:6]
            runs["ping"].append(load(ping_path, token, lambda w, i: {}))
            runs["spread"].append(load(
                lambda w, i: f"/api/v1/accounts/{clients[(i * CONNECTIONS + w) % len(clients)]}/consume/",
                token, lambda w, i, run=run: {"service": "sms", "idempotency_key": f"{run}-{w}-{i}"}))
            runs["one"].append(load(lambda w, i: f"/api/v1/accounts/{clients[0]}/consume/", token,
                                    lambda w, i, run=run: {"service": "sms", "idempotency_key": f"{run}-one-{w}-{i}"}))
            print(f"round {round_ + 1}: ping {runs['ping'][-1][0]:6.1f}  consume {runs['spread'][-1][0]:6.1f} "
                  f"({runs['spread'][-1][0] / runs['ping'][-1][0]:6.1%})  one client {runs['one'][-1][0]:6.1f} "
                  f"({runs['one'][-1][0] / runs['ping'][-1][0]:6.1%})", flush=True)
    finally:
        server.terminate()
        server.wait()
    rate = {k: statistics.median(r for r, _ in v) for k, v in runs.items()}
    cpu = {k: {side: statistics.median(c[side] for _, c in v) for side in v[0][1]} for k, v in runs.items()}
    print(f"requests: {REQUESTS} over {CONNECTIONS} connections, {ROUNDS} rounds, gunicorn -w {WORKERS}, "
          f"load average {os.getloadavg()[0]:.1f}; medians:")
    for key, label in (("ping", "ping"), ("spread", f"consume over {len(clients)} clients"),
                       ("one", "consume, all on one client")):
        ratio = "" if key == "ping" else f"  ratio {rate[key] / rate['ping']:6.1%}"
        sides = ", ".join(f"{side} {ms:.2f}" for side, ms in cpu[key].items())
        print(f"{label + ':':30s}{rate[key]:8.1f} req/s{ratio:14s}  CPU ms per request: {sides}")


if __name__ == "__main__":
    main()
