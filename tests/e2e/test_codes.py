"""Activation codes in the browser: generate and share (top user), assign (distributor), apply by
hand (restricted distributor), then expiry deactivates the unit and the log says why."""

import zoneinfo
from datetime import timedelta

from django.utils import timezone

from apps.codes import operations as ops
from apps.codes.models import ActivationCode
from apps.core import clock
from apps.units.models import Unit
from tests.codes.conftest import cw  # noqa: F401  (the codes world fixture)
from tests.e2e.helpers import pick


def test_codes_from_generation_to_expiry(cw, login, shot, live_server):  # noqa: F811
    page = login("top")

    # A top user generates three 30-day codes.
    page.goto(f"{live_server.url}/admin/codes/generate/")
    page.fill("#id_quantity", "3")
    page.select_option("#id_validity_preset", "30")
    shot("codes-generate-form")
    page.click("#generate-form input[type=submit]")
    page.wait_for_selector("#generated-codes")
    assert page.locator("#generated-codes tbody tr").count() == 3
    shot("codes-generated")

    # … and shares two of them with distributor North from the codes window.
    page.goto(f"{live_server.url}/admin/codes/activationcode/")
    boxes = page.locator("input.action-select")
    assert boxes.count() == 3
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.select_option("select[name=action]", "share")
    page.click("button[name=index]")
    page.wait_for_selector("#id_account")
    assert "2 selected" in page.content() or "<strong>2</strong> selected" in page.content()
    pick(page, "#id_account", "North", "North")
    shot("codes-share-confirmation")
    page.click("input.default")
    page.wait_for_selector(".messagelist")
    assert "2 done, 0 skipped" in page.inner_text(".messagelist")
    shot("codes-window-top")
    shared = list(ActivationCode.objects.filter(shared_with=cw.north))
    assert len(shared) == 2
    unshared = ActivationCode.objects.get(shared_with__isnull=True)

    # Distributor North sees its two codes and assigns one to North truck 1.
    page.context.clear_cookies()
    page = login("north")
    page.goto(f"{live_server.url}/admin/codes/activationcode/")
    assert page.locator("input.action-select").count() == 2
    page.locator("input.action-select").nth(0).check()
    page.select_option("select[name=action]", "assign_to_units")
    page.click("button[name=index]")
    page.wait_for_selector("#id_units")
    pick(page, "#id_units", cw.north_unit.name)
    shot("codes-assign-confirmation")
    page.click("input.default")
    page.wait_for_selector(".messagelist")
    assert "1 done, 0 skipped" in page.inner_text(".messagelist")
    page.goto(f"{live_server.url}/admin/codes/activationcode/?assigned=yes")
    row = page.locator("#result_list tbody tr").first
    assert "North truck 1" in row.inner_text() and "Active" in row.inner_text()
    shot("codes-window-distributor")
    assert Unit.objects.get(pk=cw.north_unit.pk).active

    # The restricted distributor lands on "Apply a code" and applies the unshared code by hand.
    page.context.clear_cookies()
    page = login("north_restricted")
    assert page.url.endswith("/admin/codes/apply/")  # its home (issue 15)
    page.wait_for_selector("#apply-form")
    page.fill("#id_code", unshared.display.upper())
    pick(page, "#id_unit", cw.north_unit2.name)
    page.click("#apply-form input[type=submit]")
    page.wait_for_selector(".messagelist")
    assert "Code applied to North truck 2" in page.inner_text(".messagelist")
    shot("codes-apply")
    assert Unit.objects.get(pk=cw.north_unit2.pk).active

    # Thirty-one days later the sweep has run: the units are deactivated and the log says why.
    later = clock.now() + timedelta(days=31)
    assert ops.expire_codes(now=later) == 2
    assert not Unit.objects.filter(pk__in=[cw.north_unit.pk, cw.north_unit2.pk], active=True).exists()
    page.context.clear_cookies()
    page = login("top")
    day = timezone.localtime(later, zoneinfo.ZoneInfo(cw.acme.timezone)).date().isoformat()  # the log's days
    page.goto(f"{live_server.url}/admin/codes/log/?since={day}&until={day}")
    log = page.inner_text("#code-log")
    assert "Expired" in log and "Unit deactivated" in log and "North truck 1" in log
    assert "code_expired" in log
    shot("codes-log-after-expiry")
