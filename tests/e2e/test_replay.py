"""The charge replay page in a browser at 1366 px: the top user and the platform operator open it from
an account's page, give a range and see the one window that differs from the plans."""

from datetime import timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from apps.accounts.models import LedgerEntry
from apps.core import clock, periods


@pytest.fixture
def extra_charge(world):
    """A periodic charge nobody's plan explains, for yesterday's local day, written by hand."""
    tz = world.acme.timezone
    yesterday = periods.local_day(clock.now(), tz) - timedelta(days=1)
    start = periods.local_midnight(yesterday, tz)
    LedgerEntry.objects.create(account=world.north_client, kind="charge", amount=Decimal("-4.5"), service="drivers",
                               quantity=3, window_start=start, window_end=start + timedelta(days=1), periodic=True,
                               description="by hand", at=start + timedelta(days=1))
    return yesterday


@pytest.mark.parametrize("who", ["top", "root"])
def test_replay_page_shows_the_difference(live_server, page, login, shot, world, extra_charge, who):
    page.set_viewport_size({"width": 1366, "height": 900})
    login(who)
    page.goto(f"{live_server.url}/admin/accounts/account/{world.north_client.pk}/change/")
    page.click("text=Replay charges")
    expect(page.locator("h1")).to_have_text("Replay charges")
    page.fill("#id_since", extra_charge.isoformat())
    page.fill("#id_until", periods.local_day(clock.now(), world.acme.timezone).isoformat())
    page.click("#replay-form input[type=submit]")
    table = page.locator("#replay-differences")
    expect(table).to_contain_text("North Client")
    expect(table).to_contain_text("drivers")
    expect(table).to_contain_text("4.50")
    expect(table).to_contain_text("no window")
    zone = periods.as_zone(world.acme.timezone)  # the service's zone, for both (CET or CEST)
    expect(table).to_contain_text(f"{periods.local_midnight(extra_charge, zone).astimezone(zone):%Y-%m-%d %H:%M %Z}")
    shot(f"replay-{who}")
