"""Benchmarks of issue 15's codes workflows at 1,000,000 codes and 100,000 units: the admin's answer to a
20,000-code batch (a job is queued, nothing generated in the request), the background job generating it, then
each page of the workflows as a top user and as a distributor: the vouchers page (500 cards) and its CSV, a
code's page (a new code of the batch, and a live code with history), the reassign page, the unit picker it
searches, the codes window filtered by account, the generation page and the job's page, the code log.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_bench_workflows \\
        .venv/bin/python bench/codes_workflows_bench.py [--quantity 20000] [--codes 1000000] [--units 100000] [--reuse]

The service is built as ``bench/dashboard_bench.py`` builds it (``--reuse`` takes that bench's latest service
in the same database, so both benches can share one build). The batch is shared with the distributor's
account, so both viewers see its vouchers. Pages are requested in-process (Django's test client: the
server's time without the network), with the plain static storage (no ``collectstatic`` needed), median of 5
after a warm-up. Figures go to ``docs/performance.md`` by hand.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))  # dashboard_bench, its neighbour
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_site.settings.dev")
os.environ.setdefault("DEBUG", "0")

import django  # noqa: E402

django.setup()

from dashboard_bench import NAME, build  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from apps.accounts.models import Account, Operator, Role  # noqa: E402
from apps.codes import operations as ops  # noqa: E402
from apps.codes.models import ActivationCode, CodeGenerationJob  # noqa: E402
from apps.core import clock  # noqa: E402
from apps.units.models import Unit  # noqa: E402

PLAIN_STATIC = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, (time.perf_counter() - start) * 1000


def measure(client, url, rounds=5):
    """(median ms, best ms, queries, status) of ``url`` after a warm-up."""
    client.get(url)
    times, status = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        status = response.status_code
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    return statistics.median(times) * 1000, min(times) * 1000, len(ctx.captured_queries), status


def service(args):
    if args.reuse:
        top = Account.objects.filter(parent__isnull=True, name__startswith=NAME).latest("pk")
        return (top, Operator.objects.get(account=top, role=Role.TOP_USER),
                Operator.objects.filter(account__parent=top, role=Role.DISTRIBUTOR).get())
    start = time.perf_counter()
    built = build(args.codes, args.units, args.accounts)
    with connection.cursor() as cursor:  # as autovacuum would: the visibility map for index-only scans
        for table in ("codes_activationcode", "units_unit"):  # one statement each: VACUUM runs alone
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"built in {time.perf_counter() - start:.0f} s")
    return built


def generate(client, top, dealer, quantity):
    """The admin's answer to a batch (a job queued) and the background job; the job."""
    client.get("/admin/codes/generate/")  # warm up: session, templates, permissions
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL="memory://"):
        from billing_site.celery import app

        app.conf.broker_url = "memory://"
        app.send_task("bench.warmup")  # the broker connection, once
        before = ActivationCode.objects.filter(service=top).count()
        response, answer_ms = timed(lambda: client.post("/admin/codes/generate/", {
            "quantity": quantity, "validity_preset": 365, "shared_with": dealer.pk}))
    job = CodeGenerationJob.objects.filter(service=top).order_by("-pk").first()
    if job is None or response.status_code != 302:
        sys.exit(f"no job queued: status {response.status_code} {response.content[:400]!r}")
    written = ActivationCode.objects.filter(service=top).count() - before
    print(f"admin answer for {quantity:,} codes: {answer_ms:.0f} ms (status {response.status_code}, "
          f"{written} codes written in the request)")
    state, job_ms = timed(lambda: ops.run_generation_job(job.pk))
    print(f"background job: {job_ms:.0f} ms ({state})")
    _, again_ms = timed(lambda: ops.run_generation_job(job.pk))
    print(f"second run of the finished job: {again_ms:.1f} ms")
    job.refresh_from_db()
    return job


def live_code_with_history(top_user, dealer, job, now):
    """A code of the batch (shared with the distributor's account, so both viewers see it) assigned to a new
    unit of the distributor's branch and moved to another: a live code with two events."""
    code = ActivationCode.objects.filter(service=dealer.service_id, created_at=job.created_at).order_by("-pk").first()
    client = Account.objects.filter(path__startswith=dealer.path, depth=2, blocked=False).order_by("pk").first()
    stamp = int(time.time())
    spares = [Unit.objects.create(service_id=dealer.service_id, account=client, name=f"spare {stamp}-{i}",
                                  unique_id=f"S{stamp}-{i}", active=False) for i in range(2)]
    ops.assign_code(actor=top_user, code=code.pk, unit=spares[0].pk, now=now)
    ops.reassign_code(actor=top_user, code=code.pk, unit=spares[1].pk, now=now)
    return ActivationCode.objects.get(pk=code.pk)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quantity", type=int, default=20_000)
    parser.add_argument("--codes", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--reuse", action="store_true", help="Measure dashboard_bench's latest service.")
    args = parser.parse_args()
    assert connection.vendor == "postgresql", "run against PostgreSQL (DATABASE_URL=postgres://…)"
    call_command("migrate", verbosity=0)
    top, top_user, distributor = service(args)
    dealer = distributor.account
    print(f"{ActivationCode.objects.filter(service=top).count():,} codes, "
          f"{Unit.objects.filter(service=top).count():,} units, {Account.objects.filter(service=top).count():,} "
          f"accounts; load average {os.getloadavg()[0]:.1f}")
    with override_settings(DEBUG=False, ALLOWED_HOSTS=["*"], STORAGES=PLAIN_STATIC):
        top_client = Client()
        top_client.force_login(top_user)
        job = generate(top_client, top, dealer, args.quantity)
        batch = urlencode({"service": top.pk, "created_at": job.created_at.isoformat()})
        csv, csv_ms = timed(lambda: b"".join(top_client.get(f"/admin/codes/batch/?{batch}&format=csv")
                                             .streaming_content))
        print(f"vouchers CSV ({args.quantity:,} rows): {csv_ms:.0f} ms, {len(csv) / 1e6:.1f} MB")
        new_code = ActivationCode.objects.filter(service=top, created_at=job.created_at).order_by("pk").first()
        live = live_code_with_history(top_user, dealer, job, clock.now())
        client_account = Account.objects.filter(path__startswith=dealer.path, depth=2, blocked=False).order_by("pk").first()
        pages = [
            ("vouchers page (500 cards)", f"/admin/codes/batch/?{batch}"),
            ("vouchers page, last page", f"/admin/codes/batch/?{batch}&p=last"),
            ("a new code's page", f"/admin/codes/activationcode/{new_code.pk}/change/"),
            ("a live code's page (history)", f"/admin/codes/activationcode/{live.pk}/change/"),
            ("reassign page", f"/admin/codes/activationcode/{live.pk}/reassign/"),
            ("reassign: unit picker, first page", "/admin/autocomplete/?" + urlencode(
                {"picker": "codes.assign", "app_label": "codes", "model_name": "activationcode",
                 "field_name": "unit", "term": ""})),
            ("reassign: unit picker, a search", "/admin/autocomplete/?" + urlencode(
                {"picker": "codes.assign", "app_label": "codes", "model_name": "activationcode",
                 "field_name": "unit", "term": "01234"})),
            ("codes window, account filter", f"/admin/codes/activationcode/?account={client_account.pk}"),
            ("codes window, distributor's branch", f"/admin/codes/activationcode/?account={dealer.pk}"),
            ("account filter: picker search", "/admin/autocomplete/?" + urlencode(
                {"picker": "codes.filter.account", "app_label": "codes", "model_name": "activationcode",
                 "field_name": "shared_with", "term": "Client"})),
            ("generate page", "/admin/codes/generate/"),
            ("generation job page", f"/admin/codes/generate/jobs/{job.pk}/"),
            ("code log (today)", "/admin/codes/log/"),
        ]
        for label, user in (("top user", top_user), ("distributor", distributor)):
            client = Client()
            client.force_login(user)
            for name, url in pages:
                median, best, queries, status = measure(client, url)
                print(f"{label:12} {name:38} median {median:7.1f} ms  best {best:7.1f} ms  {queries:3} queries  "
                      f"status {status}")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
