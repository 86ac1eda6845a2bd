"""The CSV import of plan services: the admin's preview of a 10,000-row file (goal < 10 s), its query
count at 1,000 and 10,000 rows (must not grow), and the import itself (the Celery task's work).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_bench_import .venv/bin/python bench/plans_import.py

Data: a fresh service with 200 root plans (50 global catalogue names each = 10,000 distinct pairs) of
which half already list every name (so the preview compares 5,000 existing rows), a top user, and a
file of ROWS rows in ``replace`` mode. The preview goes through the real admin view (Django's test
client: upload, read, check, render), the import through ``operations.import_file_rows``.
"""

import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# The test settings: DEBUG off, plain static files (no collected manifest needed), Celery eager.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_site.settings.test")
ROWS = int(os.environ.get("BENCH_ROWS", "10000"))


def main():
    import django

    django.setup()
    import tablib
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from apps.accounts import operations as account_ops
    from apps.accounts.models import Account, Operator, Role
    from apps.core.seeds import ensure_seeds
    from apps.plans import operations
    from apps.plans.models import Plan, PlanService
    from apps.plans.models import CatalogueService

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    ensure_seeds()
    tag = uuid.uuid4().hex[:6]
    admin = Operator.objects.filter(is_superuser=True).first() or Operator.objects.create_superuser(
        f"bench-{tag}", "bench@example.com", "Tracker-fleet-2026!")
    service = account_ops.create_account(actor=admin, name=f"Import bench {tag}", parent=None)
    names = list(CatalogueService.objects.filter(service__isnull=True).order_by("name").values_list("name", "type"))
    plan_count = -(-ROWS // len(names))
    Plan.objects.bulk_create([Plan(service=service, name=f"Plan {n:04}", history_period_days=400)
                              for n in range(plan_count)])
    plans = list(Plan.objects.filter(service=service, name__startswith="Plan ").order_by("name"))
    PlanService.objects.bulk_create([PlanService(plan=plan, name=name, type=kind, cost_table="-1")
                                     for plan in plans[: plan_count // 2] for name, kind in names])
    top_plan = Plan.objects.create(service=service, name="Top", history_period_days=400)  # protected, not in the file
    account_ops.update_account(actor=admin, account=service, changes={"plan": top_plan})
    top = account_ops.create_operator(actor=admin, username=f"top-{tag}", password="Tracker-fleet-2026!",
                                      account=service, role=Role.TOP_USER)

    def csv(count, fmt="csv"):
        data = tablib.Dataset(headers=["plan", "name", "type", "interval", "cost table", "description"])
        for index in range(count):
            name, kind = names[index % len(names)]
            data.append([plans[index // len(names)].name, name, kind, "daily", "1:0;10:1.5;100:0.75;-1",
                         f"bench row {index}"])
        content = data.export(fmt)
        return content.encode() if isinstance(content, str) else content

    client = Client()
    client.force_login(top)

    def preview(count, fmt="csv"):
        upload = SimpleUploadedFile(f"bench.{fmt}", csv(count, fmt), content_type="application/octet-stream")
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.post(reverse("admin:plans_planservice_import"),
                                   {"import_file": upload, "format": "0" if fmt == "csv" else "1",
                                    "mode": "replace", "resource": "0"})
            elapsed = time.perf_counter() - started
        assert response.status_code == 200 and b"Confirm import" in response.content, response.content[:3000]
        return elapsed, len(queries), len(response.content)

    print(f"service {service.name}: {plan_count} plans, {len(names)} catalogue names, "
          f"{PlanService.objects.filter(plan__service=service).count()} existing rows")
    preview(100)  # warm-up (templates, catalogue)
    for count in (1_000, ROWS):
        elapsed, queries, size = preview(count)
        print(f"admin preview of {count:>6,} rows: {elapsed:6.2f} s, {queries} queries, page {size / 1e6:.1f} MB")
    elapsed, queries, size = preview(ROWS, "xlsx")
    print(f"admin preview of {ROWS:>6,} rows, XLSX: {elapsed:6.2f} s, {queries} queries")

    rows = [(n, dict(zip(["plan", "name", "type", "interval", "cost table", "description"], values)))
            for n, values in enumerate(tablib.Dataset().load(csv(ROWS).decode(), format="csv"), 1)]
    started = time.perf_counter()
    check = operations.check_file_rows(actor=top, service=service, rows=rows, mode="replace")
    print(f"check_file_rows, {ROWS:,} rows:        {time.perf_counter() - started:6.2f} s  {check.counts()}")
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        check = operations.import_file_rows(actor=top, service=service, rows=rows, mode="replace")
    print(f"import_file_rows, {ROWS:,} rows:       {time.perf_counter() - started:6.2f} s, {len(queries)} queries")
    Account.objects.filter(pk=service.pk).update(plan=None)


if __name__ == "__main__":
    main()
