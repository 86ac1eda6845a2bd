"""The dashboard in Chromium at 1366 px, as top user, distributor and platform operator: the figures, their
links to the filtered lists, the forecast chart and table, the service chooser; screenshots to look at."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from apps.core import clock
from tests.dashboard.helpers import build_dash_world

WIDE = {"width": 1366, "height": 900}


@pytest.fixture
def dash(world):
    return build_dash_world(world, clock.now() - timedelta(hours=1))


def _no_horizontal_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_top_user_reads_the_service_and_follows_a_figure(live_server, login, shot, page, dash):
    page.set_viewport_size(WIDE)
    login("top")
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#units-active")).to_have_text("5")
    expect(page.locator("#codes-queued")).to_have_text("1")
    expect(page.locator("#codes-expiring-7")).to_have_text("2")
    expect(page.locator("#accounts-blocking-soon")).to_have_text("1")
    expect(page.locator("#lowest-balances tr")).to_have_count(7)
    expect(page.locator(".dashboard-asof")).to_contain_text("(Europe/Berlin)")
    expect(page.locator("svg.forecast-chart rect.bar")).to_have_count(5)  # five units, five days within 90
    expect(page.locator("#content-main .app-accounts")).to_be_visible()  # the usual list stays below
    _no_horizontal_scroll(page)
    shot("dashboard_top_user")
    page.click("#dash-codes >> text=Expiring within 7 days")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    page.goto(f"{live_server.url}/admin/")
    page.click("#dash-forecast h2 a")
    expect(page.locator("#forecast-table thead")).to_contain_text("North")
    expect(page.locator("#forecast-table tfoot")).to_contain_text("5")
    _no_horizontal_scroll(page)
    shot("dashboard_forecast_top_user")


def test_distributor_sees_its_branch_only(live_server, login, shot, page, dash):
    page.set_viewport_size(WIDE)
    login("north")
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#units-active")).to_have_text("3")
    expect(page.locator("#dash-discount")).to_have_count(0)
    assert "South" not in page.content()
    _no_horizontal_scroll(page)
    shot("dashboard_distributor")


def test_platform_operator_picks_a_service(live_server, login, shot, page, dash):
    page.set_viewport_size(WIDE)
    login("root")
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#units-active")).to_have_count(0)
    page.select_option("#id_dashboard_service", label="Acme Telematics")
    page.click("#dashboard-chooser input[type=submit]")
    expect(page.locator("#units-active")).to_have_text("5")
    _no_horizontal_scroll(page)
    shot("dashboard_platform")


@pytest.mark.parametrize("who", ["top", "north"])
def test_an_application_index_shows_its_models_not_the_dashboard(live_server, login, shot, page, dash, who):
    """/admin/codes/ is the codes application's own index: its models, without the home's figures and forecast
    (Django renders it from the home's template)."""
    page.set_viewport_size(WIDE)
    login(who)
    page.goto(f"{live_server.url}/admin/codes/")
    expect(page.locator("#content-main .app-codes")).to_be_visible()
    expect(page.locator("#dashboard")).to_have_count(0)
    expect(page.locator("#jobs-link")).to_have_count(0)
    _no_horizontal_scroll(page)
    shot(f"app-index-codes-{who}")
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#dashboard")).to_be_visible()
    page.reload()  # the figures again, read back between two writes: the same page
    expect(page.locator("#dashboard")).to_be_visible()
    shot(f"home-kept-figures-{who}")
