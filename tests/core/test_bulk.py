"""The set-based helpers: array literals read back by PostgreSQL exactly as given, VALUES lists on
both databases."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from apps.core.bulk import array_literal, values_cte
from tests.helpers import requires_postgres

pytestmark = pytest.mark.django_db

AWKWARD_TEXT = ['plain', 'with "quotes"', "back\\slash", "comma, {brace}", "", "NULL", " spaces ", "é✓"]


def test_array_literal_shapes():
    assert array_literal([1, 2, 3]) == "{1,2,3}"
    assert array_literal([]) == "{}"
    assert array_literal([None, True, False]) == "{NULL,t,f}"
    assert array_literal([Decimal("-1.5000")]) == "{-1.5000}"
    assert array_literal(['a"b']) == '{"a\\"b"}'


@requires_postgres
@pytest.mark.parametrize(("kind", "values"), [
    ("bigint", [1, -2, 9_000_000_000_000, None]),
    ("numeric", [Decimal("0"), Decimal("-12.3456"), Decimal("1E+3"), None]),
    ("text", [*AWKWARD_TEXT, None]),
    ("timestamptz", [datetime(2026, 2, 28, 23, 0, tzinfo=UTC), datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=UTC)]),
    ("boolean", [True, False, None]),
])
def test_array_literal_round_trips_on_postgresql(kind, values):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT unnest(%s::{kind}[])", [array_literal(values)])
        assert [value for (value,) in cursor.fetchall()] == values


def test_values_cte_reads_back_every_row():
    rows = [(1, text, Decimal(f"{i}.25")) for i, text in enumerate(AWKWARD_TEXT)]
    cte, params = values_cte("v", (("id", "bigint"), ("label", "text"), ("amount", "numeric")), rows)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {cte} SELECT id, label, amount FROM v", params)
        back = cursor.fetchall()
    assert [(pk, label, Decimal(str(amount))) for pk, label, amount in back] == rows


def test_insert_rows_writes_every_value_as_given(world):
    """``insert_rows`` (COPY's text format on PostgreSQL, multi-row INSERT on SQLite): text with tabs,
    line breaks and backslashes, NULLs, booleans, money and times come back unchanged."""
    from apps.accounts.models import LedgerEntry
    from apps.core.bulk import insert_rows

    at = datetime(2026, 11, 22, 23, 0, 0, 123456, tzinfo=UTC)
    texts = ["tab\there", "line\nbreak\r\n", "back\\slash \\N", 'quote " and \'', "é✓"]
    rows = [(world.north_client.pk, "adjustment", Decimal(f"-{i}.1234"), i, "", None, None, None, False, "",
             text, "system", at) for i, text in enumerate(texts)]
    ids = insert_rows(LedgerEntry, ("account_id", "kind", "amount", "days", "service", "quantity", "window_start",
                                    "window_end", "periodic", "cost_table", "description", "actor_name", "at"), rows)
    back = LedgerEntry.objects.in_bulk(ids)
    assert [(back[pk].description, back[pk].amount, back[pk].days, back[pk].quantity, back[pk].at)
            for pk in ids] == [(text, Decimal(f"-{i}.1234"), i, None, at) for i, text in enumerate(texts)]
