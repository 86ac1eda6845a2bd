"""Issue 15 item 6: the scheduled jobs page, list exports, the restricted distributor's home, the refused page,
the API docs' sign-in, and accounts named by their real path."""

import csv
import io

import openpyxl
import pytest
from django.test import Client

from apps.core.jobs import record_outcome
from apps.core.models import JobOutcome


@pytest.fixture
def as_(client):
    def _as(user):
        client.force_login(user)
        return client

    return _as


def test_scheduled_jobs_page_lists_every_job_with_its_schedule_result_and_zone(world, as_):
    class Task:
        name = "apps.codes.tasks.expire_codes"

    record_outcome(task=Task, retval=3, state="SUCCESS")
    record_outcome(task=Task, retval=4, state="SUCCESS")  # the last outcome only
    record_outcome(task=type("T", (), {"name": "apps.codes.tasks.send_notice_email"}), retval=1, state="SUCCESS")
    assert list(JobOutcome.objects.values_list("task", "summary")) == [("apps.codes.tasks.expire_codes", "4")]
    for user in (world.top, world.north_op, world.platform):
        page = as_(user).get("/admin/jobs/")
        html = page.content.decode()
        assert page.status_code == 200
        assert "Expire activation codes" in html and "Every 1 minute(s)" in html and "Succeeded" in html
        assert "Send expiry notices" in html and "No run recorded yet" in html
    assert "Times in Europe/Berlin" in as_(world.top).get("/admin/jobs/").content.decode()
    assert as_(world.north_restricted).get("/admin/jobs/").status_code == 403


def test_beat_models_are_the_platform_operators_only(world, as_):
    assert as_(world.top).get("/admin/django_celery_beat/periodictask/").status_code == 403
    assert "django_celery_beat" not in as_(world.top).get("/admin/").content.decode()
    assert as_(world.platform).get("/admin/django_celery_beat/periodictask/").status_code == 200


def test_accounts_export_csv_and_xlsx_in_scope_with_names_and_paths(world, as_):
    response = as_(world.north_op).get("/admin/accounts/account/export/", {"format": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["name", "path", "parent", "plan"]
    by_name = {r[0]: r for r in rows[1:]}
    assert set(by_name) == {"North", "North-East", "North Client", "North-East Client"}
    assert by_name["North-East Client"][1] == "North › North-East › North-East Client"
    assert by_name["North-East Client"][2] == "North-East" and by_name["North Client"][3] == "Base"
    response = as_(world.top).get("/admin/accounts/account/export/", {"format": "xlsx", "dealer_rights__exact": "1"})
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    names = {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert names == {"North", "South", "North-East"}
    assert as_(world.top).get("/admin/accounts/account/export/", {"format": "pdf"}).status_code == 400
    assert as_(world.north_restricted).get("/admin/accounts/account/export/").status_code == 403
    page = as_(world.top).get("/admin/accounts/account/")
    assert "/admin/accounts/account/export/?format=xlsx" in page.content.decode()


def test_units_export_in_scope(world, as_):
    from apps.units.models import Unit

    Unit.objects.create(service=world.acme, account=world.north_east_client, name="NE van", unique_id="IMEI-NE")
    Unit.objects.create(service=world.acme, account=world.south_client, name="S bus", unique_id="IMEI-S")
    response = as_(world.north_op).get("/admin/units/unit/export/", {"format": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r[:4] for r in rows[1:]] == [["NE van", "IMEI-NE", "North-East Client",
                                          "North › North-East › North-East Client"]]
    response = as_(world.top).get("/admin/units/unit/export/", {"format": "csv", "account": "x"})
    assert response.status_code == 400


def test_the_restricted_distributors_home_is_apply(world, as_):
    response = as_(world.north_restricted).get("/admin/")
    assert response.status_code == 302 and response.url == "/admin/codes/apply/"
    assert as_(world.top).get("/admin/").status_code == 200


def test_a_refused_admin_page_is_styled_with_a_way_back_and_the_api_keeps_json(world, as_):
    page = as_(world.north_restricted).get("/admin/accounts/account/")
    html = page.content.decode()
    assert page.status_code == 403 and "Back to the home page" in html and 'id="header"' in html
    api = Client()
    api.force_login(world.north_restricted)
    answer = api.get("/api/v1/accounts/")
    assert answer.status_code == 403 and answer.json()["code"]


def test_api_docs_ask_an_anonymous_visitor_to_sign_in(world, as_):
    page = Client().get("/api/docs/")
    assert page.status_code == 401 and "/admin/login/?next=%2Fapi%2Fdocs%2F" in page.content.decode()
    assert as_(world.top).get("/api/docs/").status_code == 200
    assert Client().get("/api/schema/").status_code == 401


def test_account_pickers_name_the_real_path_in_the_viewers_scope(world, as_):
    url = "/admin/autocomplete/?app_label=units&model_name=unit&field_name=account&term=North-East"
    labels = {r["text"] for r in as_(world.north_op).get(url).json()["results"]}
    assert labels == {"North › North-East", "North › North-East › North-East Client"}
    labels = {r["text"] for r in as_(world.platform).get(url).json()["results"]}
    assert "Acme Telematics › North › North-East" in labels
