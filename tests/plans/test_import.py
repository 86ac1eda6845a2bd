"""CSV/XLSX import of plan services: refused columns, pairs twice, set-based checks, and big files
imported by the Celery task (eager in tests) with a progress page."""

import io
from datetime import timedelta

import pytest
import tablib
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.plans import operations, tasks
from apps.plans.models import Plan, PlanEvent, PlanImportJob, PlanService
from apps.plans.models import CatalogueService

pytestmark = pytest.mark.django_db

HEADERS = ["plan", "name", "type", "interval", "cost table", "description"]


def _file(rows, headers=HEADERS, fmt="csv"):
    data = tablib.Dataset(headers=headers)
    for row in rows:
        data.append(row)
    return data.export(fmt)


def _upload(client, content, mode="add", name="services.csv", fmt="0", **extra):
    upload = io.BytesIO(content.encode() if isinstance(content, str) else content)
    upload.name = name
    return client.post(reverse("admin:plans_planservice_import"),
                       {"import_file": upload, "format": fmt, "mode": mode, "resource": "0", **extra})


def _confirm(client, preview, **kwargs):
    return client.post(reverse("admin:plans_planservice_process_import"), preview.context["confirm_form"].initial,
                       **kwargs)


def _global_names(kind=None):
    rows = CatalogueService.objects.filter(service__isnull=True)
    if kind:
        rows = rows.filter(type=kind)
    return list(rows.order_by("name").values_list("name", flat=True))


def _plans(world, count):
    """``count`` plans in Acme (root plans: no inheritance to resolve)."""
    Plan.objects.bulk_create([Plan(service=world.acme, name=f"Bulk {n:03}", history_period_days=400)
                              for n in range(count)])
    return list(Plan.objects.filter(service=world.acme, name__startswith="Bulk ").order_by("name"))


def _rows(plans, count):
    """``count`` distinct good rows spread over ``plans`` (every global catalogue name once per plan)."""
    names = _global_names()
    assert count <= len(names) * len(plans)
    rows = []
    for index in range(count):
        plan, name = plans[index // len(names)], names[index % len(names)]
        rows.append([plan.name, name, "", "daily", "1:0;10:1.5;-1", f"row {index}"])
    return rows


# --- the file as a whole ----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, index, name", [("csv", "0", "s.csv"), ("xlsx", "1", "s.xlsx")])
def test_a_file_without_the_cost_table_column_is_refused(world, client, fmt, index, name):
    client.force_login(world.top)
    headers = ["plan", "name", "type", "interval", "description"]
    content = _file([["Dealer", "sms", "on_demand", "daily", ""]], headers=headers, fmt=fmt)
    response = _upload(client, content, mode="replace", name=name, fmt=index)
    html = response.content.decode()
    assert response.status_code == 200
    assert "The file has no column “cost table”" in html
    assert "Confirm import" not in html
    assert not world.dealer_plan.services.exists()


def test_missing_columns_are_all_named_and_type_may_be_left_out(world, client):
    client.force_login(world.top)
    missing = _upload(client, _file([["Dealer", "sms"]], headers=["plan", "name"]))
    assert "no columns “interval”, “cost table”, “description”" in missing.content.decode()
    twice = _upload(client, _file([["Dealer", "sms", "daily", "1:2", "", "-1"]],
                                  headers=["plan", "name", "interval", "cost table", "description", "Cost table"]))
    assert "The file has the column “cost table” more than once." in twice.content.decode()
    headers = [" Plan", "NAME", "interval", "Cost Table ", "description"]  # case and spaces do not matter
    preview = _upload(client, _file([["Dealer", "sms", "daily", "1:2", ""]], headers=headers))
    assert "Confirm import" in preview.content.decode()
    _confirm(client, preview)
    row = world.dealer_plan.services.get()
    assert (row.name, row.type, row.interval, row.cost_table) == ("sms", "on_demand", "daily", "1:2")


@pytest.mark.parametrize("mode", ["add", "replace", "sync"])
def test_a_pair_twice_in_one_file_is_refused_in_every_mode(world, client, mode):
    PlanService.objects.create(plan=world.dealer_plan, name="sms", type="on_demand", cost_table="-1")
    client.force_login(world.top)
    response = _upload(client, _file([
        ["Dealer", "sms", "on_demand", "daily", "1:2", ""],
        ["Base", "sms", "on_demand", "daily", "1:2", ""],  # another plan: fine
        ["Dealer", "jobs", "periodic", "none", "", ""],
        ["Dealer", "sms", "on_demand", "none", "1:3", ""],
    ]), mode=mode)
    html = response.content.decode()
    assert "Confirm import" not in html
    assert html.count("“sms” is listed for the plan “Dealer” on rows 1, 4") == 2  # under both rows
    assert dict(world.dealer_plan.services.values_list("name", "cost_table")) == {"sms": "-1"}


def test_bad_rows_show_their_reasons_and_the_in_request_import_refuses_a_file_gone_bad(world, client):
    client.force_login(world.top)
    preview = _upload(client, _file([["Dealer", "sms", "on_demand", "daily", "1:2", ""],
                                     ["Base", "drivers", "periodic", "monthly", "5:0;-1", ""]]))
    assert "Confirm import" in preview.content.decode()
    # between the preview and the confirmation the plan becomes the top account's (protected) plan
    from apps.accounts import operations as account_ops

    account_ops.update_account(actor=world.platform, account=world.acme, changes={"plan": world.dealer_plan})
    response = _confirm(client, preview)
    html = response.content.decode()
    assert response.status_code == 200
    assert "You may not change the plan “Dealer”" in html
    assert "You may not change the plan “Base”" in html  # Dealer's parent: protected too
    assert not PlanService.objects.filter(plan__in=[world.dealer_plan, world.base_plan], name__in=["sms", "drivers"])


def test_sync_preview_lists_the_removals_and_the_import_records_one_event_per_row(world, client):
    PlanService.objects.create(plan=world.dealer_plan, name="sms", type="on_demand", cost_table="-1")
    PlanService.objects.create(plan=world.dealer_plan, name="jobs", type="periodic")
    client.force_login(world.top)
    preview = _upload(client, _file([["Dealer", "sms", "", "daily", "1:5", "texts"],
                                     ["Dealer", "drivers", "", "monthly", "", ""]]), mode="sync")
    html = preview.content.decode()
    assert "Removed by synchronisation" in html and "jobs" in html
    assert "<del>-1</del> <ins>1:5</ins>" in html
    _confirm(client, preview)
    assert dict(world.dealer_plan.services.values_list("name", "cost_table")) == {"sms": "1:5", "drivers": ""}
    actions = sorted(PlanEvent.objects.filter(plan_id_snapshot=world.dealer_plan.pk).values_list("action", flat=True))
    assert actions == ["service_added", "service_changed", "service_removed"]


# --- set-based ------------------------------------------------------------------------------------

def test_the_preview_query_count_does_not_grow_with_the_rows(world, client):
    plans = _plans(world, 6)
    for plan in plans:  # existing rows to compare with
        PlanService.objects.create(plan=plan, name=_global_names("on_demand")[0], type="on_demand")
    client.force_login(world.top)

    def preview_queries(count):
        content = _file(_rows(plans, count))
        with CaptureQueriesContext(connection) as queries:
            response = _upload(client, content, mode="replace")
        assert "Confirm import" in response.content.decode()
        return len(queries)

    small, large = preview_queries(10), preview_queries(200)
    assert small == large, (small, large)


def test_check_file_rows_reads_plans_catalogue_and_rows_once(world, django_assert_max_num_queries):
    plans = _plans(world, 4)
    rows = [(n, dict(zip(HEADERS, cells))) for n, cells in enumerate(_rows(plans, 150), 1)]
    with django_assert_max_num_queries(6):
        check = operations.check_file_rows(actor=world.top, service=world.acme, rows=rows, mode="add")
    assert check.counts()["new"] == 150 and not check.bad_rows


# --- big files: the Celery task -------------------------------------------------------------------

def test_a_big_file_is_imported_by_the_task_with_a_progress_page(world, client, monkeypatch):
    monkeypatch.setattr(tasks, "BACKGROUND_ROWS", 100)
    plans = _plans(world, 3)  # the last plan gets only the first names of the catalogue
    last = CatalogueService.objects.filter(service__isnull=True).order_by("-name").first()
    PlanService.objects.create(plan=plans[2], name=last.name, type=last.type)  # not in the file: synced away
    client.force_login(world.top)
    preview = _upload(client, _file(_rows(plans, 140)), mode="sync")
    assert "imported in the background" in preview.content.decode()
    assert not PlanService.objects.filter(plan__in=plans, name="sms").exists()
    response = _confirm(client, preview)  # the task runs eagerly here
    job = PlanImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:plans_planservice_import_job", args=[job.pk])
    assert (job.state, job.total_rows, job.checked_rows) == ("done", 140, 140)
    assert job.result["counts"]["new"] == 140, job.result
    assert job.result["removed"] == {plans[2].name: [last.name]}
    assert PlanService.objects.filter(plan__in=plans).count() == 140
    assert PlanEvent.objects.filter(action="service_added", plan_id_snapshot__in=[p.pk for p in plans]).count() == 140
    page = client.get(response["Location"])
    html = page.content.decode()
    assert "Import finished: 140 new, 0 updated, 0 left as they are, 1 removed." in html and 'http-equiv="refresh"' not in html
    status = client.get(response["Location"], {"format": "json"}).json()
    assert status["state"] == "done" and status["percent"] == 100
    # the job is its owner's: another top user gets a 404
    client.force_login(world.other_top)
    assert client.get(response["Location"]).status_code == 404


def test_a_running_job_page_refreshes_itself(world, client):
    job = PlanImportJob.objects.create(actor=world.top, service=world.acme, mode="add", file_name="big.csv",
                                       file_format=0, tmp_name="gone", total_rows=5000, checked_rows=1000,
                                       state="checking", created_at=timezone.now())
    client.force_login(world.top)
    html = client.get(reverse("admin:plans_planservice_import_job", args=[job.pk])).content.decode()
    assert 'http-equiv="refresh"' in html and "1000 of 5000 rows checked" in html
    assert 'value="18"' in html  # 90 % of the way is the checking
    PlanImportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(hours=2))
    html = client.get(reverse("admin:plans_planservice_import_job", args=[job.pk])).content.decode()
    assert 'http-equiv="refresh"' not in html and "its worker most likely stopped" in html


def test_the_task_refuses_a_file_with_bad_rows_and_keeps_their_reasons(world, client):
    from django.contrib import admin
    from django.core.files.uploadedfile import InMemoryUploadedFile
    from import_export.formats.base_formats import CSV

    plans = _plans(world, 2)
    rows = _rows(plans, 30) + [[plans[0].name, "no_such_service", "", "none", "", ""],
                               [plans[1].name, "sms", "", "none", "1:x", ""]]
    model_admin = admin.site._registry[PlanService]
    upload = io.BytesIO(_file(rows).encode())
    upload.name = "bad.csv"
    stored = model_admin.write_to_tmp_storage(
        InMemoryUploadedFile(upload, "import_file", "bad.csv", "text/csv", len(upload.getvalue()), "utf-8"), CSV())
    job = PlanImportJob.objects.create(actor=world.top, service=world.acme, mode="replace", file_name="bad.csv",
                                       file_format=0, tmp_name=stored.name, created_at=timezone.now())
    assert tasks.import_plan_services_file.delay(job.pk).get() == "failed"
    job.refresh_from_db()
    assert job.result["bad_count"] == 2
    assert [bad["row"] for bad in job.result["bad_rows"]] == [31, 32]
    assert "not in the service catalogue" in " ".join(job.result["bad_rows"][0]["errors"]["name"])
    assert "cost table" in job.result["bad_rows"][1]["errors"]
    assert not PlanService.objects.filter(plan__in=plans).exists()
    assert tasks.import_plan_services_file.delay(job.pk).get() == "claimed"  # a job runs once
    client.force_login(world.top)
    html = client.get(reverse("admin:plans_planservice_import_job", args=[job.pk])).content.decode()
    assert "2 rows of the file are bad; nothing was imported." in html and "no_such_service" in html


def test_a_file_above_the_row_cap_is_refused_before_any_check(world, client, monkeypatch):
    from apps.plans import resources

    monkeypatch.setattr(resources, "MAX_FILE_ROWS", 5)
    client.force_login(world.top)
    plans = _plans(world, 1)
    html = _upload(client, _file(_rows(plans, 6))).content.decode()
    assert "The file has 6 rows; at most 5 are read at once. Split the file." in html
    assert "Confirm import" not in html


def test_the_preview_writes_every_bad_rows_reason_in_the_row(world, client):
    """Issue 15 item 4: the reasons are on the page, not in import-export's hover box."""
    client.force_login(world.top)
    content = _file([["Dealer", "sms", "on_demand", "daily", "1:0;10:1.5;-1", "good"],
                     ["Nowhere", "sms", "on_demand", "daily", "1:0", "no such plan"],
                     ["Dealer", _global_names()[0], "", "daily", "1:x", "bad table"]])
    html = _upload(client, content).content.decode()
    assert 'id="bad-rows"' in html and "validation-error-container" not in html
    assert html.count('class="bad-row"') == 2
    bad_plan = html.split('data-row="2"')[1].split("</tr>")[0]
    bad_table = html.split('data-row="3"')[1].split("</tr>")[0]
    assert "<strong>plan</strong>" in bad_plan and "<strong>cost table</strong>" in bad_table
    assert not PlanService.objects.filter(plan=world.dealer_plan).exists()
