"""Benchmark of the discount advisor: `GET /api/v1/discount/advice/` for one account of 1,000 units
(goal ≤ 300 ms), and the module page with every unit's and account's top suggestions.

Run against a PostgreSQL database of its own (it migrates it and adds a fresh service each run):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_bench_advice \\
        .venv/bin/python bench/discounts_advice.py [--units 1000] [--rounds 15]

The service is built by ``discounts_bench.build`` (two client accounts under ten dealers, their units
with sensors, commands, intervals and eco flags, a monitoring user each seeing them, the first one
also one unit of the second: its units are ineligible, so the grant removals are computed). Prints the median
and worst of ``--rounds`` requests through the API stack (authentication, the service check, the
gather, the advisor, the serializer), their query count, and the page's time.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_site.settings.dev")

import django  # noqa: E402
from django.conf import settings  # noqa: E402

django.setup()
settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from apps.accounts.models import Account, Operator  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from discounts_bench import build  # noqa: E402


def timed(call, rounds):
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = call()
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.content[:300]
    return statistics.median(times), max(times), response


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--accounts", type=int, default=2, help="Client accounts of --units units each "
                                                                 "(at least 2; the first two are measured).")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run this against PostgreSQL (DATABASE_URL=postgres://…/billing_bench_advice).")
    call_command("migrate", verbosity=0)
    service = build(max(args.accounts, 2), args.units)  # build's neighbour grant needs a second client
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    platform = Operator.objects.filter(is_superuser=True).first()
    api = APIClient()
    api.force_authenticate(platform)
    print(f"service {service.pk}: {max(args.accounts, 2)} client accounts of {args.units} units each")
    for account in Account.objects.filter(service=service, depth=2).order_by("pk")[:2]:
        params = {"account": account.pk, "service": service.pk}
        api.get("/api/v1/discount/advice/", params)  # warm the process (imports, prepared statements)
        median, worst, response = timed(lambda params=params: api.get("/api/v1/discount/advice/", params),
                                        args.rounds)
        with CaptureQueriesContext(connection) as queries:
            api.get("/api/v1/discount/advice/", params)
        body = response.json()
        best = body["suggestions"][0]["change"] if body["suggestions"] else "-"
        print(f"{account.name}: discount {body['discount']} %, {len(body['suggestions'])} suggestions, best: {best}")
        print(f"  GET /discount/advice/?account=…: median {median * 1000:.0f} ms, worst {worst * 1000:.0f} ms over "
              f"{args.rounds} requests; {len(queries.captured_queries)} queries")
        unit = account.units.order_by("pk").first()
        median, worst, _ = timed(lambda unit=unit: api.get("/api/v1/discount/advice/",
                                                           {"unit": unit.pk, "service": service.pk}), args.rounds)
        print(f"  GET /discount/advice/?unit=…: median {median * 1000:.0f} ms, worst {worst * 1000:.0f} ms")
    page = Client()
    page.force_login(platform)
    median, worst, _ = timed(lambda: page.get("/admin/discounts/module/", {"service": service.pk}), 3)
    print(f"module page with every top suggestion: median {median * 1000:.0f} ms, worst {worst * 1000:.0f} ms")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
