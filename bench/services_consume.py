"""Consume throughput through the API on PostgreSQL, as a ratio to a trivial DRF endpoint.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_kernel .venv/bin/python bench/services_consume.py

1. Migrates and builds a service: top (Base plan) → dealer (Dealer plan) → client; ``sms`` priced
   at every level (0.01), daily window, so each consume writes counters for three accounts, three
   ledger rows, three balances and its idempotency key.
2. Starts ``gunicorn -w 2`` on 127.0.0.1 with ``bench.services_settings``.
3. From a second process (this one), a bounded loop: REQUESTS requests over CLIENTS keep-alive
   connections, first to ``/bench/ping/`` (authentication + permission + JSON), then to
   ``/api/v1/accounts/<client>/consume/``. Prints requests/second of each and the ratio.
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
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "4"))


def setup() -> tuple[str, int]:
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
    dealer = account_ops.create_account(actor=root, name="Dealer", parent=top, plan=dealer_plan, dealer_rights=True)
    client = account_ops.create_account(actor=root, name="Client", parent=dealer, plan=base)
    operator = account_ops.create_operator(actor=root, username=f"bench-top-{tag}", password="Bench-pass-2026!",
                                           account=top, role=Role.TOP_USER)
    return account_ops.rotate_token(actor=root, operator=operator), client.pk


def load(path: str, token: str, body) -> float:
    """Requests per second of ``REQUESTS`` POSTs spread over ``CLIENTS`` keep-alive connections."""
    per_client = REQUESTS // CLIENTS

    def run(worker: int) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", PORT)
        failures = 0
        for i in range(per_client):
            conn.request("POST", path, body=json.dumps(body(worker, i)),
                         headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            failures += response.status != 200
        conn.close()
        return failures

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        failures = sum(pool.map(run, range(CLIENTS)))
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{failures} requests to {path} failed")
    return per_client * CLIENTS / elapsed


def main():
    token, client_id = setup()
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-w", "2", "-b", f"127.0.0.1:{PORT}", "--chdir", str(ROOT),
         "--access-logfile", "/dev/null", "bench.services_wsgi:application"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "bench.services_settings"},
    )
    try:
        time.sleep(4)
        load("/bench/ping/", token, lambda w, i: {})  # warm-up of both workers
        ping = load("/bench/ping/", token, lambda w, i: {})
        run = uuid.uuid4().hex[:6]
        consume = load(f"/api/v1/accounts/{client_id}/consume/", token,
                       lambda w, i: {"service": "sms", "idempotency_key": f"{run}-{w}-{i}"})
    finally:
        server.terminate()
        server.wait()
    print(f"requests: {REQUESTS} over {CLIENTS} connections, gunicorn -w 2")
    print(f"ping:    {ping:8.1f} req/s")
    print(f"consume: {consume:8.1f} req/s")
    print(f"ratio:   {consume / ping:8.1%}")


if __name__ == "__main__":
    main()
