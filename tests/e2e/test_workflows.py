"""Issue 15's daily workflows in Chromium at 1366 px, as a top user, a distributor and a restricted
distributor: reassign from the codes window and read the code's history, filter by account, vouchers of a
batch, a big batch generated in the background with its progress page, the scheduled jobs, the exports,
the refused page, the API docs' sign-in, and the account page and ledger without overlap or cut columns."""

from datetime import timedelta

import time_machine  # noqa: F401  (kept for symmetry with the other browser tests)

from apps.codes import operations as ops
from apps.codes.models import ActivationCode, CodeEvent
from apps.core import clock
from apps.services import ledger
from tests.codes.conftest import cw  # noqa: F401  (the codes world fixture)
from tests.e2e.helpers import pick

WIDE = {"width": 1366, "height": 900}


def _no_horizontal_scroll(page, selector: str):
    """The element fits the page: no column cut, no sideways scrolling."""
    width = page.evaluate(f"document.querySelector('{selector}').scrollWidth")
    box = page.evaluate(f"document.querySelector('{selector}').parentElement.clientWidth")
    assert width <= box + 1, (selector, width, box)


def _boxes_apart(page, a: str, b: str):
    """Two elements do not overlap."""
    ra, rb = page.locator(a).first.bounding_box(), page.locator(b).first.bounding_box()
    apart = (ra["x"] + ra["width"] <= rb["x"] or rb["x"] + rb["width"] <= ra["x"]
             or ra["y"] + ra["height"] <= rb["y"] or rb["y"] + rb["height"] <= ra["y"])
    assert apart, (a, ra, b, rb)


def test_reassign_history_account_filter_and_vouchers(cw, login, shot, live_server):  # noqa: F811
    now = clock.now()
    codes = ops.generate_codes(actor=cw.top, service=cw.acme, quantity=3, validity_days=90, shared_with=cw.north,
                               now=now)
    ops.assign_code(actor=cw.top, code=codes[0], unit=cw.north_unit, now=now)
    page = login("north")
    page.set_viewport_size(WIDE)

    # The distributor filters the window by account (a searchable picker), then reassigns the code.
    page.goto(f"{live_server.url}/admin/codes/activationcode/")
    pick(page, "#changelist-filter select[name=account]", "North Client", "North Client")
    page.locator("details[data-filter-title=account] input[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("#result_list tbody tr").count() == 1
    shot("workflows-codes-account-filter-distributor")
    page.locator("input.action-select").first.check()
    page.select_option("select[name=action]", "reassign")
    page.click("button[name=index]")
    page.wait_for_selector("#reassign-form")
    pick(page, "#id_unit", cw.north_unit2.name)
    shot("workflows-reassign-distributor")
    page.click("#reassign-form input[type=submit]")
    page.wait_for_selector("#code-history")
    assert "moved from North truck 1 to North truck 2" in page.inner_text(".messagelist")
    assert CodeEvent.objects.filter(code_id=codes[0].pk, action="reassigned").count() == 1
    assert not CodeEvent.objects.filter(code_id=codes[0].pk, action="unassigned").exists()
    history = page.inner_text("#code-history")
    assert "Reassigned" in history and "North truck 1 → North truck 2" in history
    _no_horizontal_scroll(page, "#code-history")
    shot("workflows-code-detail-distributor")

    # Vouchers of the batch, from the code's page.
    page.click("text=Vouchers of its batch")
    page.wait_for_selector("#vouchers")
    assert page.locator(".voucher").count() == 3
    shot("workflows-vouchers-distributor")

    # The top user sees the same code's page, with the generation at the top of its history.
    page.context.clear_cookies()
    page = login("top")
    page.set_viewport_size(WIDE)
    page.goto(f"{live_server.url}/admin/codes/activationcode/{codes[0].pk}/change/")
    assert "Generated" in page.inner_text("#code-history")
    shot("workflows-code-detail-top")


def test_a_big_batch_runs_in_the_background_with_a_progress_page(cw, login, shot, live_server,  # noqa: F811
                                                                   monkeypatch):
    monkeypatch.setattr("apps.codes.views.BACKGROUND_CODES", 20)
    page = login("top")
    page.set_viewport_size(WIDE)
    page.goto(f"{live_server.url}/admin/codes/generate/")
    page.fill("#id_quantity", "25")
    page.select_option("#id_validity_preset", "90")
    page.click("#generate-form input[type=submit]")
    page.wait_for_selector("#content-main[data-state]")
    # Eager Celery: the job ran when it was committed; the page shows its batch (or refreshes until then).
    page.wait_for_selector("#job-done", timeout=15000)
    assert "25 codes generated" in page.inner_text("#job-done")
    assert ActivationCode.objects.count() == 25
    shot("workflows-generation-job-top")
    # A job still running: the progress bar, and the page refreshes itself (no JavaScript needed).
    from apps.codes.models import CodeGenerationJob

    running = CodeGenerationJob.objects.create(actor=cw.top, service=cw.acme, quantity=20_000, validity_days=90,
                                               state="running", done=5_000, created_at=clock.now())
    page.goto(f"{live_server.url}/admin/codes/generate/jobs/{running.pk}/")
    assert page.locator("#job-progress").get_attribute("value") == "25"
    assert page.locator("meta[http-equiv=refresh]").count() == 1
    shot("workflows-generation-progress-top")
    page.goto(f"{live_server.url}/admin/codes/generate/jobs/{CodeGenerationJob.objects.earliest('pk').pk}/")
    page.click("#batch-vouchers")
    page.wait_for_selector("#vouchers")
    assert page.locator(".voucher").count() == 25
    shot("workflows-vouchers-top")


def test_jobs_exports_home_refusals_docs_and_layout(cw, login, shot, live_server, page):  # noqa: F811
    ledger.record_payment(actor=cw.top, account=cw.north_client, amount=12, days=3,
                               description="A long payment description to fill the column " * 2)
    page.goto(f"{live_server.url}/api/docs/")
    page.set_viewport_size(WIDE)
    assert "Sign in" in page.inner_text("#api-sign-in")
    shot("workflows-api-docs-anonymous")
    page.click("#api-sign-in")
    page.fill("#id_username", "top")
    from tests.factories import PASSWORD

    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/api/docs/")

    for username in ("top", "north"):
        page.context.clear_cookies()
        page = login(username)
        page.set_viewport_size(WIDE)
        page.goto(f"{live_server.url}/admin/")
        page.click("text=Scheduled jobs")
        page.wait_for_selector("#scheduled-jobs")
        assert "Expire activation codes" in page.inner_text("#scheduled-jobs")
        _no_horizontal_scroll(page, "#scheduled-jobs")
        shot(f"workflows-scheduled-jobs-{username}")
        for url, name in (("/admin/accounts/account/", "accounts"), ("/admin/units/unit/", "units")):
            page.goto(f"{live_server.url}{url}")
            with page.expect_download() as download:
                page.click("text=Export XLSX")
            assert download.value.suggested_filename == f"{name}.xlsx"
            _no_horizontal_scroll(page, "#result_list")
            shot(f"workflows-{name}-list-{username}")
        # The account page: its buttons do not overlap its title.
        page.goto(f"{live_server.url}/admin/accounts/account/{cw.north_client.pk}/change/")
        _boxes_apart(page, "#content h1", ".object-tools")
        shot(f"workflows-account-page-{username}")
        # The ledger: every column fits at 1366 px.
        page.goto(f"{live_server.url}/admin/accounts/ledgerentry/")
        _no_horizontal_scroll(page, "#result_list")
        shot(f"workflows-ledger-{username}")
        # A distributor's pickers name the real path of an account.
        if username == "north":
            page.goto(f"{live_server.url}/admin/units/unit/add/")
            container = page.locator("#id_account + .select2")
            container.locator(".select2-selection").click()
            page.locator(".select2-container--open .select2-search__field").fill("North-East")
            option = page.locator(".select2-container--open .select2-results__option",
                                  has_text="North › North-East › North-East Client")
            option.wait_for()
            shot("workflows-path-picker-distributor")

    # The restricted distributor lands on Apply; a refused page keeps the admin's look and a way back.
    page.context.clear_cookies()
    page = login("north_restricted")
    page.set_viewport_size(WIDE)
    assert page.url.endswith("/admin/codes/apply/")
    shot("workflows-home-restricted")
    page.goto(f"{live_server.url}/admin/accounts/account/")
    assert "Back to the home page" in page.inner_text("#content")
    shot("workflows-refused-restricted")
    page.click("text=Back to the home page")
    page.wait_for_selector("#apply-form")
    _ = timedelta  # noqa: F841
