"""The set-based helpers: array literals read back by PostgreSQL exactly as given, VALUES lists on
both databases."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from apps.core.bulk import array_literal, values_cte
from tests.conftest import requires_postgres

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
