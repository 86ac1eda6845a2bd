"""The ledger list's cost follows the page, not the ledger (issue 16): a capped count and service-name
choices read from the plans, never a ``DISTINCT`` over the ledger."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import LedgerEntry
from apps.core.admin import CappedPaginator
from apps.plans.models import AccountServiceOverride, Plan, PlanService

LEDGER = "/admin/accounts/ledgerentry/"


def add_rows(account, count: int, service: str = "drivers"):
    now = timezone.now()
    LedgerEntry.objects.bulk_create([
        LedgerEntry(account=account, kind="charge", amount=Decimal("-1"), service=service, description="bench",
                    at=now) for _ in range(count)])


def ledger_queries(client, query: str = "") -> tuple[list[str], str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(LEDGER + query)
    assert response.status_code == 200
    return [q["sql"] for q in ctx.captured_queries], response.content.decode()


@pytest.fixture
def top_client(client, world):
    client.force_login(world.top)
    return client


def test_no_query_reads_the_ledger_with_distinct_and_the_count_is_capped(top_client, world):
    add_rows(world.north_client, 3)
    ledger_queries(top_client)  # warm the session's caches
    before, _ = ledger_queries(top_client)
    add_rows(world.south_client, 120, service="jobs")
    after, page = ledger_queries(top_client)
    assert len(after) == len(before)
    ledger_table = LedgerEntry._meta.db_table
    for sql in after:
        assert not ("DISTINCT" in sql.upper() and ledger_table in sql), sql
    counts = [sql for sql in after if "COUNT(" in sql.upper() and ledger_table in sql]
    assert counts and all(f"LIMIT {CappedPaginator.CAP + 1}" in sql for sql in counts), counts
    assert "South Client" in page


def test_service_choices_come_from_the_plans_and_overrides_in_scope(client, world):
    PlanService.objects.create(plan=world.base_plan, name="acme_tracking", type="periodic")
    other_plan = Plan.objects.get(service=world.other_service, name="Other base")
    PlanService.objects.create(plan=other_plan, name="other_tracking", type="periodic")
    AccountServiceOverride.objects.create(account=world.south_client, name="south_extra", type="on_demand")
    add_rows(world.north_client, 2, service="acme_tracking")
    client.force_login(world.top)
    _, page = ledger_queries(client)
    assert "?service__exact=acme_tracking" in page and "?service__exact=south_extra" in page
    assert "other_tracking" not in page
    # The filter still filters (and a name no plan configures, e.g. an old one, too).
    _, page = ledger_queries(client, "?service__exact=acme_tracking")
    assert page.count("North Client") >= 2
    _, page = ledger_queries(client, "?service__exact=no_such_service")
    assert "North Client</a>" not in page
    client.force_login(world.north_op)  # a distributor: overrides of accounts outside its branch are left out
    _, page = ledger_queries(client)
    assert "?service__exact=acme_tracking" in page and "south_extra" not in page
    client.force_login(world.platform)  # the platform operator: every service's, or the chosen service's
    _, page = ledger_queries(client)
    assert "?service__exact=other_tracking" in page and "?service__exact=acme_tracking" in page
    _, page = ledger_queries(client, f"?service={world.other_service.pk}")
    assert "service__exact=other_tracking" in page and "service__exact=acme_tracking" not in page
