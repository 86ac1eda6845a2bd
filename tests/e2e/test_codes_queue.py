"""The renewal queue in the browser at 1366 px: a distributor queues a code on a unit from the codes
window, the top user sees it queued (filter, column) and on the unit page with both expiries, and a
restricted distributor is offered to queue when applying a code to a unit that holds a live one."""

from apps.codes import operations as ops
from apps.codes.models import ActivationCode
from apps.core import clock
from tests.codes.conftest import cw  # noqa: F401  (the codes world fixture)
from tests.e2e.helpers import pick

WIDE = {"width": 1366, "height": 900}


def test_queue_a_renewal_in_the_browser(cw, login, shot, live_server):  # noqa: F811
    now = clock.now()
    gen = lambda days=30: ops.generate_codes(actor=cw.top, service=cw.acme, quantity=1,  # noqa: E731
                                             validity_days=days, shared_with=cw.north, now=now)[0]
    ops.assign_code(actor=cw.top, code=gen(), unit=cw.north_unit, now=now)
    ops.assign_code(actor=cw.top, code=gen(), unit=cw.north_unit2, now=now)
    renewal = gen(90)
    spare = gen(365)

    # Distributor North queues the 90-day code on North truck 1 from the window.
    page = login("north")
    page.set_viewport_size(WIDE)
    page.goto(f"{live_server.url}/admin/codes/activationcode/?state=new")
    page.locator(f"input.action-select[value='{renewal.pk}']").check()
    page.select_option("select[name=action]", "queue_on_units")
    page.click("button[name=index]")
    page.wait_for_selector("#id_units")
    pick(page, "#id_units", cw.north_unit.name)
    shot("codes-queue-confirmation-distributor")
    page.click("input.default")
    page.wait_for_selector(".messagelist")
    assert "Queued: 1 done, 0 skipped" in page.inner_text(".messagelist")
    row = ActivationCode.objects.get(pk=renewal.pk)
    assert (row.status, row.queued_on_id) == ("queued", cw.north_unit.pk)
    page.goto(f"{live_server.url}/admin/codes/activationcode/")
    assert "Queued" in page.inner_text("#result_list")
    shot("codes-window-queued-distributor")

    # The top user filters the window by the new state and opens the unit page.
    page.context.clear_cookies()
    page = login("top")
    page.set_viewport_size(WIDE)
    page.goto(f"{live_server.url}/admin/codes/activationcode/?state=queued")
    assert page.locator("#result_list tbody tr").count() == 1
    assert "queued, next after the live code" in page.inner_text("#result_list")
    shot("codes-window-state-queued-top")
    page.goto(f"{live_server.url}/admin/units/unit/{cw.north_unit.pk}/change/")
    assert "Queued next:" in page.content() and renewal.display in page.content()
    shot("unit-page-live-and-queued-top")

    # A restricted distributor applies a code to North truck 2, which holds a live code: offered to queue.
    page.context.clear_cookies()
    page = login("north_restricted")
    page.set_viewport_size(WIDE)
    page.goto(f"{live_server.url}/admin/codes/apply/")
    page.fill("#id_code", spare.display)
    pick(page, "#id_unit", cw.north_unit2.name)
    page.click("#apply-form input[type=submit]")
    page.wait_for_selector("#id_queue")
    shot("codes-apply-offers-queue")
    page.check("#id_queue")
    page.click("#apply-form input[type=submit]")
    page.wait_for_selector(".messagelist")
    assert "Code queued on North truck 2" in page.inner_text(".messagelist")
    shot("codes-apply-queued")
    assert ActivationCode.objects.get(pk=spare.pk).queued_on_id == cw.north_unit2.pk
