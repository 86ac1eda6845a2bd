"""The operator's blocked state is read once a request (issue 16: top-user pages repeated it 5–11 times)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

PAGES = ["admin:index", "admin:accounts_account_changelist", "admin:units_unit_changelist",
         "admin:plans_plan_changelist", "admin:plans_planservice_changelist", "admin:codes_activationcode_changelist",
         "admin:accounts_ledgerentry_changelist", "admin:accounts_operator_changelist", "admin:units_unit_add",
         "admin:accounts_account_add"]


def blocked_reads(queries) -> list[str]:
    """The blocked check's query: ``Account … WHERE id IN (…) AND blocked`` (``is_blocked``), read per
    operator account."""
    return [q["sql"] for q in queries
            if '"accounts_account"."blocked"' in q["sql"] and q["sql"].lstrip().upper().startswith("SELECT 1 AS")]


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("role", ["top", "north_op"])
def test_the_blocked_check_runs_at_most_once_a_request(client, db, shared_world, name, role):
    client.force_login(getattr(shared_world, role))
    url = reverse(name)
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    assert len(blocked_reads(ctx.captured_queries)) <= 1, blocked_reads(ctx.captured_queries)
