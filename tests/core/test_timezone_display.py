"""The admin shows the service's time zone; the API answers in UTC (SPEC §8.3)."""

from datetime import datetime, timezone

import time_machine

from apps.services import ledger


def test_admin_shows_service_time_and_api_utc(world, client, as_user):
    with time_machine.travel(datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc), tick=False):
        ledger.record_payment(actor=world.top, account=world.north, amount=5, description="tz check")
    client.force_login(world.top)  # Acme Telematics runs on Europe/Berlin (UTC+1 in January)
    page = client.get("/admin/accounts/ledgerentry/").content.decode()
    assert "2026-01-15</span><br><small>13:00" in page
    body = as_user(world.top).get(f"/api/v1/accounts/{world.north.pk}/ledger/").json()
    assert body["results"][0]["at"] == "2026-01-15T12:00:00Z"
