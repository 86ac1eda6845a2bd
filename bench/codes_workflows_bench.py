"""Benchmarks of issue 15's codes workflows: the admin's answer to a 20,000-code batch (a job is queued,
nothing generated in the request), the background job generating it, the vouchers page (500 cards) and
its CSV, a code's page.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_bench_workflows \\
        .venv/bin/python bench/codes_workflows_bench.py [--quantity 20000]

Migrates the database and adds a fresh service each run. Figures go to ``docs/performance.md`` by hand.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_site.settings.dev")
os.environ.setdefault("DEBUG", "0")

import django  # noqa: E402

django.setup()

from urllib.parse import urlencode  # noqa: E402

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from apps.accounts.models import Operator, Role  # noqa: E402
from apps.codes import operations as ops  # noqa: E402
from apps.codes.models import ActivationCode, CodeGenerationJob  # noqa: E402
from apps.core import clock  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, (time.perf_counter() - start) * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quantity", type=int, default=20_000)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    stamp = int(time.time())
    from apps.accounts import operations as account_ops

    platform = Operator.objects.filter(is_superuser=True).first() or Operator.objects.create_superuser(
        "bench-root", "root@example.com", "bench")
    top = account_ops.create_account(actor=platform, name=f"Bench workflows {stamp}", parent=None,
                                     service_settings={"timezone": "Europe/Berlin",
                                                       "billing_method": "activation_codes"})
    operator = account_ops.create_operator(actor=platform, username=f"bench-wf-{stamp}", password="Bench-pass-2026!",
                                           account=top, role=Role.TOP_USER)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(operator)
    client.get("/admin/codes/generate/")  # warm up: session, templates, permissions
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL="memory://"):
        from billing_site.celery import app

        app.conf.broker_url = "memory://"
        app.send_task("bench.warmup")  # the broker connection, once
        response, answer_ms = timed(lambda: client.post("/admin/codes/generate/", {
            "quantity": args.quantity, "validity_preset": 365}))
    job = CodeGenerationJob.objects.filter(service=top).first()
    if job is None:
        sys.exit(f"no job queued: status {response.status_code} {response.content[:400]!r}")
    print(f"admin answer for {args.quantity:,} codes: {answer_ms:.0f} ms (status {response.status_code}, "
          f"{ActivationCode.objects.filter(service=top).count()} codes written in the request)")
    state, job_ms = timed(lambda: ops.run_generation_job(job.pk))
    print(f"background job: {job_ms:.0f} ms ({state}, {ActivationCode.objects.filter(service=top).count():,} codes)")
    _, again_ms = timed(lambda: ops.run_generation_job(job.pk))
    print(f"second run of the finished job: {again_ms:.1f} ms")
    query = urlencode({"service": top.pk, "created_at": job.created_at.isoformat()})
    client.get(f"/admin/codes/batch/?{query}")
    page, page_ms = timed(lambda: client.get(f"/admin/codes/batch/?{query}"))
    print(f"vouchers page (500 cards): {page_ms:.0f} ms (status {page.status_code})")
    csv, csv_ms = timed(lambda: b"".join(client.get(f"/admin/codes/batch/?{query}&format=csv").streaming_content))
    print(f"vouchers CSV ({args.quantity:,} rows): {csv_ms:.0f} ms, {len(csv) / 1e6:.1f} MB")
    code = ActivationCode.objects.filter(service=top).first()
    client.get(f"/admin/codes/activationcode/{code.pk}/change/")
    _, detail_ms = timed(lambda: client.get(f"/admin/codes/activationcode/{code.pk}/change/"))
    print(f"a code's page: {detail_ms:.0f} ms")
    _ = clock


if __name__ == "__main__":
    main()
