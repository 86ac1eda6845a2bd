"""Times told honestly (issue 15 item 2): one time zone for a person on every admin page, named on the page;
the code log's default range (today, in that zone) is written in its date boxes and its empty state says
which days it searched."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from apps.codes import operations as code_ops
from apps.units.models import Unit
from apps.services import ledger
from tests.codes.helpers import make_unit

# 23:43 UTC on 15 January is 00:43 on the 16th in Berlin (Acme's zone): the day differs too.
T = datetime(2026, 1, 15, 23, 43, tzinfo=UTC)


@pytest.fixture
def same_instant(world):
    """A payment, a code assignment (its log event and activation) and a unit deactivation, all at ``T``."""
    with time_machine.travel(T, tick=False):
        code_ops.switch_billing_method(actor=world.platform, service=world.acme, method="activation_codes",
                                       confirm=True, now=T - timedelta(days=1))
        world.acme.refresh_from_db()
        ledger.record_payment(actor=world.top, account=world.north, amount=5, description="tz check")
        unit = make_unit(world.north_client, "Clock truck")
        code = code_ops.generate_codes(actor=world.top, service=world.acme, quantity=1, validity_days=30,
                                       shared_with=world.north)[0]  # North's distributor sees it too
        code_ops.assign_code(actor=world.top, code=code, unit=unit)
        stopped = make_unit(world.north_client, "Stopped truck")
        Unit.objects.filter(pk=stopped.pk).update(deactivated_at=T, deactivation_reason="manual")
    return world


def pages(service: str = "") -> dict[str, str]:
    extra = f"&service={service}" if service else ""
    return {"codes window": f"/admin/codes/activationcode/?state=all{extra}",
            "code log": f"{reverse('codes-log')}?since=2026-01-01&until=2026-01-31{extra}",
            "ledger": f"/admin/accounts/ledgerentry/?{extra.lstrip('&')}",
            "units list": f"/admin/units/unit/?active=0{extra}"}


# Each page's own format, the same instant: the codes window and the ledger split date and time over two lines.
SHOWN = {
    "Europe/Berlin": {"codes window": r"2026-01-16</span><br><small>00:43", "code log": r"2026-01-16 00:43:00",
                      "ledger": r"2026-01-16</span><br><small>00:43", "units list": r"2026-01-16 00:43"},
    "UTC": {"codes window": r"2026-01-15</span><br><small>23:43", "code log": r"2026-01-15 23:43:00",
            "ledger": r"2026-01-15</span><br><small>23:43", "units list": r"2026-01-15 23:43"},
}


@pytest.mark.parametrize("who", ["top", "north_op", "platform with Acme chosen", "platform"])
def test_the_same_instant_reads_the_same_on_every_page(client, same_instant, who):
    world = same_instant
    operator = {"top": world.top, "north_op": world.north_op}.get(who, world.platform)
    service = str(world.acme.pk) if who == "platform with Acme chosen" else ""
    zone = "UTC" if who == "platform" else "Europe/Berlin"
    client.force_login(operator)
    with time_machine.travel(T + timedelta(minutes=5), tick=False):
        for name, url in pages(service).items():
            page = client.get(url).content.decode()
            assert re.search(SHOWN[zone][name], page), (who, name)
            other = "UTC" if zone != "UTC" else "Europe/Berlin"
            assert not re.search(SHOWN[other][name], page), (who, name)
            assert f"Times in {zone}." in page, (who, name)


def test_the_code_log_shows_its_default_range_and_says_what_it_searched(client, same_instant):
    world = same_instant
    client.force_login(world.top)
    with time_machine.travel(T + timedelta(minutes=5), tick=False):  # 00:48 on the 16th in Berlin
        page = client.get(reverse("codes-log")).content.decode()
        # Today is Berlin's day (the 16th), not UTC's (the 15th): the event at 00:43 is listed.
        assert 'name="since" value="2026-01-16"' in page and 'name="until" value="2026-01-16"' in page
        assert "2026-01-16 00:43:00" in page
        page = client.get(reverse("codes-log"), {"since": "2026-01-10", "until": "2026-01-12"}).content.decode()
        assert "No events from 2026-01-10 to 2026-01-12 (both days included, Europe/Berlin)." in page
    client.force_login(world.platform)
    with time_machine.travel(T + timedelta(minutes=5), tick=False):
        page = client.get(reverse("codes-log")).content.decode()
        assert 'name="since" value="2026-01-15"' in page and "2026-01-15 23:43:00" in page  # UTC's day


def test_the_codes_window_date_filter_counts_days_in_the_page_zone(client, same_instant):
    world = same_instant
    client.force_login(world.top)
    with time_machine.travel(T + timedelta(minutes=5), tick=False):
        url = "/admin/codes/activationcode/?state=all&activated_at__from={0}&activated_at__to={0}"
        assert "Clock truck" in client.get(url.format("2026-01-16")).content.decode()  # Berlin's day
        assert "Clock truck" not in client.get(url.format("2026-01-15")).content.decode()


def test_a_date_filter_value_that_is_no_date_is_the_invalid_filter_answer(client, same_instant):
    client.force_login(same_instant.top)
    for value in ("2026-02-31", "yesterday"):
        response = client.get("/admin/codes/activationcode/", {"activated_at__from": value})
        assert response.status_code == 302 and "e=1" in response["Location"], value
