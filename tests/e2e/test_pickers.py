"""Searchable pickers in the browser (issue 16): type into the account picker, pick, save; the list
filter's picker narrows the list. Screenshots at 1366 px."""

from playwright.sync_api import expect

from apps.units.models import Unit
from tests import factories
from tests.e2e.helpers import pick
from tests.e2e.test_units import _bill_units


def test_top_user_picks_an_account_by_typing_and_filters_by_it(world, login, shot, live_server, page):
    _bill_units(world)
    for i in range(30):  # more than one page of the picker (20 rows)
        factories.account(world.north, name=f"Fleet client {i:02d}", actor=world.platform)
    page.set_viewport_size({"width": 1366, "height": 900})
    page = login("top")
    page.goto(f"{live_server.url}/admin/units/unit/add/")
    assert page.locator("#id_account option").count() <= 1  # no select of every account
    page.fill("#id_name", "Picker crane")
    page.locator("#id_account + .select2 .select2-selection").click()
    page.locator(".select2-container--open .select2-search__field").fill("fleet client 2")
    # Opening the picker lists the first accounts and each keystroke searches again: wait for the answer
    # to the whole text (12 rows, "Fleet client 00" gone), not for the first list that shows client 29.
    options = page.locator(".select2-results__option")
    expect(options).to_have_count(12)
    expect(options.filter(has_text="Fleet client 00")).to_have_count(0)
    texts = options.all_inner_texts()
    # Every word matches (the admin's search): 02, 12 and 20–29, nothing else, nothing out of scope.
    assert sorted(texts) == [f"North › Fleet client {n:02d}" for n in (2, 12, *range(20, 30))], texts  # paths
    shot("pickers-unit-account-search-1366")
    page.locator(".select2-results__option", has_text="Fleet client 27").click()
    page.fill("#id_unique_id", "356938035640001")
    page.click("input[name=_save]")
    page.wait_for_load_state()
    assert "was added successfully" in page.locator(".messagelist").inner_text()
    chosen = Unit.objects.get(unique_id="356938035640001").account
    assert chosen.name == "Fleet client 27"

    # The list's account filter is a picker too: pick, "Filter", the list narrows and keeps the choice.
    page.goto(f"{live_server.url}/admin/units/unit/")
    pick(page, "#changelist-filter select[name=account]", "fleet client 27", "Fleet client 27")
    page.locator("#changelist-filter details.picker-filter input[type=submit]").click()
    page.wait_for_load_state()
    assert f"account={chosen.pk}" in page.url
    assert "Picker crane" in page.locator("#result_list").inner_text()
    assert "Fleet client 27" in page.locator("#changelist-filter").inner_text()
    shot("pickers-unit-list-filter-1366")


def test_code_log_names_its_zone_and_shows_its_default_range(world, login, shot, live_server, page):
    from django.utils import timezone

    page.set_viewport_size({"width": 1366, "height": 900})
    page = login("top")
    page.goto(f"{live_server.url}/admin/codes/log/")
    today = timezone.localdate(timezone.now(), timezone=__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert page.input_value("#id_since") == today.isoformat() == page.input_value("#id_until")
    assert page.locator("#page-timezone").inner_text() == "Times in Europe/Berlin."
    assert f"No events from {today:%Y-%m-%d} to {today:%Y-%m-%d}" in page.locator("#code-log").inner_text()
    shot("times-code-log-default-range-1366")
