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
"""

import http.client
import json
import os
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
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "2000"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "4"))
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
    operator = account_ops.create_operator(actor=root, username=f"bench-top-{tag}", password="Bench-pass-2026!",
                                           account=top, role=Role.TOP_USER)
    return account_ops.rotate_token(actor=root, operator=operator), clients


def load(path, token: str, body) -> float:
    """Requests per second of ``REQUESTS`` POSTs spread over ``CONNECTIONS`` keep-alive connections;
    ``path(worker, i)`` and ``body(worker, i)`` give each request's URL and body."""
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

    started = time.perf_counter()
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        failures = sum(pool.map(run, range(CONNECTIONS)))
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{failures} requests to {path(0, 0)} failed")
    return per_client * CONNECTIONS / elapsed


def main():
    token, clients = setup()
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-w", str(WORKERS), "-b", f"127.0.0.1:{PORT}", "--chdir", str(ROOT),
         "--access-logfile", "/dev/null", "bench.services_wsgi:application"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "bench.services_settings"},
    )
    try:
        time.sleep(4)
        ping_path = lambda w, i: "/bench/ping/"  # noqa: E731
        load(ping_path, token, lambda w, i: {})  # warm-up of both workers
        ping = load(ping_path, token, lambda w, i: {})
        run = uuid.uuid4().hex[:6]
        spread = load(lambda w, i: f"/api/v1/accounts/{clients[(i * CONNECTIONS + w) % len(clients)]}/consume/",
                      token, lambda w, i: {"service": "sms", "idempotency_key": f"{run}-{w}-{i}"})
        one = load(lambda w, i: f"/api/v1/accounts/{clients[0]}/consume/", token,
                   lambda w, i: {"service": "sms", "idempotency_key": f"{run}-one-{w}-{i}"})
    finally:
        server.terminate()
        server.wait()
    print(f"requests: {REQUESTS} over {CONNECTIONS} connections, gunicorn -w {WORKERS}, load average {os.getloadavg()[0]:.1f}")
    print(f"ping:                         {ping:8.1f} req/s")
    print(f"consume over {len(clients)} clients:     {spread:8.1f} req/s  ratio {spread / ping:6.1%}")
    print(f"consume, all on one client:   {one:8.1f} req/s  ratio {one / ping:6.1%}")


if __name__ == "__main__":
    main()
