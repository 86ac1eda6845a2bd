"""The audit trail's hash has one definition that Python and PostgreSQL both write (issue 13, SPEC §9.8):
an event's digest is taken over its content as ``jsonb_build_array(…)::text`` prints it (the server writes
that text with ``json_build_array``, ``audit.digest_sql``), so the events a
job derives inside the database (``audit.record_select``) and those built in Python (``record_many``) share
one chain that ``verify_chains`` checks."""

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.accounts import audit
from apps.accounts.models import AuditChain, AuditEvent
from apps.core import guards
from tests.helpers import requires_postgres

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

# Text as names and reasons can hold it: any character PostgreSQL stores (no NUL, no lone surrogate).
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
scalars = st.none() | st.booleans() | st.integers(-(2**62), 2**62) | texts
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=4),
                      max_leaves=8)


def _event(**overrides) -> dict:
    row = audit.event("account_updated", job="bench", subject_type="account", subject_id=7, subject_name="North",
                      account_fields=(7, "North", "/1/7/", 1), before={"name": "Nord"}, after={"name": "North"},
                      at=NOW)
    row.update(overrides)
    return row


def _server_digests(row: dict) -> tuple[str, str]:
    """The digest PostgreSQL computes for ``row`` with the expression ``record_select`` uses
    (``audit.digest_sql``), and over ``jsonb_build_array(…)::text``, the text that expression stands for."""
    columns = ", ".join(
        f"{audit.iso_sql('%s::timestamptz')}" if name == "at" else
        "%s::jsonb" if name in ("before", "after") else "%s" for name in audit._CONTENT)
    params = []
    for name in audit._CONTENT:
        value = row[name]
        if name == "at":
            params += [value] * 3  # ``iso_sql`` reads its expression three times
        elif name in ("before", "after"):
            params.append(audit._pg_json(value))
        else:
            params.append(value)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {audit.digest_sql(columns)}, "
                       f"encode(sha256(convert_to(jsonb_build_array({columns})::text, 'UTF8')), 'hex')", params * 2)
        return cursor.fetchone()


def _python_digest(row: dict) -> str:
    return hashlib.sha256(audit.content_text(row).encode()).hexdigest()


@requires_postgres
@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=texts, reason=texts, before=st.dictionaries(texts, values, max_size=4),
       after=st.dictionaries(texts, values, max_size=4), micro=st.integers(0, 999_999))
def test_python_writes_the_text_postgresql_prints(name, reason, before, after, micro):
    row = _event(account_name=name, subject_name=name, reason=reason, before=audit.plain(before),
                 after=audit.plain(after), at=NOW + timedelta(microseconds=micro))
    assert (_python_digest(row), _python_digest(row)) == _server_digests(row)


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_events_recorded_in_the_database_and_in_python_share_one_chain():
    """A chain written in turns by ``record_many`` (Python) and ``record_select`` (the server's digests)
    verifies; changing one staged event's stored content breaks it at that event."""
    with transaction.atomic():
        audit.record_many([_event(chain=1, service_id=1, reason="first")], now=NOW)
    select = f"""
        SELECT n AS ord, 1::bigint AS chain, %(at)s::timestamptz AS at, 'code_expired'::text AS action,
               1::bigint AS service_id, 7::bigint AS account_id, 'Nörth "quoted"\\ name'::text AS account_name,
               '/1/7/'::text AS account_path, 'code'::text AS subject_type, n::bigint AS subject_id,
               'CODE-' || n AS subject_name, NULL::bigint AS actor_id, 'expire_codes'::text AS actor_name,
               '{{"status": "active"}}'::jsonb AS before,
               jsonb_build_object('status', 'expired', 'expires_at', {audit.iso_sql('%(at)s::timestamptz')},
                                  'unit_deactivated', 'Truck ' || n) AS after,
               ''::text AS reason
        FROM generate_series(1, 120) AS n
    """
    with transaction.atomic():
        counts = audit.record_select(select, {"at": NOW + timedelta(microseconds=250)})
    assert counts == {(1, "code_expired"): 120}
    with transaction.atomic():
        audit.record_many([_event(chain=1, service_id=1, reason=f"after {i}") for i in range(60)], now=NOW)
    seqs = list(AuditEvent.objects.filter(chain=1).order_by("id").values_list("seq", flat=True))
    assert seqs == list(range(1, 182))
    assert dict((chain, bad) for chain, _, bad in audit.verify_chains()) == {1: None}
    staged = AuditEvent.objects.get(chain=1, seq=50)
    assert staged.after == {"status": "expired", "expires_at": "2026-12-01T09:00:00.000250+00:00",
                            "unit_deactivated": "Truck 49"}
    with transaction.atomic(), guards.lifted(), connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_auditevent SET subject_name = 'CODE-X' WHERE id = %s", [staged.pk])
    assert dict((chain, bad) for chain, _, bad in audit.verify_chains()) == {1: staged.pk}


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_set_based_and_python_writers_racing_over_two_chains_keep_both_chains():
    """Threads writing at once: ``record_select`` batches spanning chains 1 and 2 (the heads locked in
    ascending order by the statement that hashes the events) beside ``record_many`` writers of each chain.
    Nobody deadlocks, every chain stays numbered 1, 2, 3… and verifies."""
    import threading

    from django.db import connections

    select = """
        SELECT n AS ord, c AS chain, %(at)s::timestamptz AS at, 'code_expired'::text AS action, c AS service_id,
               NULL::bigint AS account_id, ''::text AS account_name, ''::text AS account_path,
               'code'::text AS subject_type, n::bigint AS subject_id, 'CODE-' || n AS subject_name,
               NULL::bigint AS actor_id, 'expire_codes'::text AS actor_name, '{}'::jsonb AS before,
               jsonb_build_object('n', n) AS after, ''::text AS reason
        FROM generate_series(1, 40) AS n, (VALUES (1::bigint), (2::bigint)) AS chains(c)
    """
    barrier = threading.Barrier(6)
    errors = []

    def write(kind: str, i: int):
        try:
            barrier.wait()
            for n in range(5):
                with transaction.atomic():
                    if kind == "select":
                        audit.record_select(select, {"at": NOW})
                    else:
                        chain = 1 + i % 2
                        audit.record_many([_event(chain=chain, service_id=chain, reason=f"{i}/{n}")], now=NOW)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(kind, i))
               for i, kind in enumerate(["select", "select", "many", "many", "many", "many"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for chain in (1, 2):
        seqs = list(AuditEvent.objects.filter(chain=chain).order_by("seq").values_list("seq", flat=True))
        # Two set-based writers × 5 batches × 40 events, and two Python writers × 5 events, per chain.
        assert seqs == list(range(1, 2 * 5 * 40 + 2 * 5 + 1))
    assert {chain: bad for chain, _, bad in audit.verify_chains()} == {1: None, 2: None}


@requires_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("ord_sql", ["n + 1", "n * 2", "1"], ids=["from_two", "with_gaps", "repeated"])
def test_a_set_based_batch_not_numbered_one_two_three_in_its_chain_writes_nothing(ord_sql):
    """``chain_ctes`` numbers each event after its chain's head by the source's ``ord``: a source whose ``ord``
    is not 1, 2, 3… within each chain is refused (by ``move_heads``, or by the unique number for a repeat),
    and its transaction leaves neither events nor a moved head."""
    with transaction.atomic():
        audit.record_many([_event(chain=1, service_id=1, reason="before")], now=NOW)
    select = f"""
        SELECT {ord_sql} AS ord, 1::bigint AS chain, %(at)s::timestamptz AS at, 'code_expired'::text AS action,
               1::bigint AS service_id, NULL::bigint AS account_id, ''::text AS account_name,
               ''::text AS account_path, 'code'::text AS subject_type, n::bigint AS subject_id,
               'CODE-' || n AS subject_name, NULL::bigint AS actor_id, 'expire_codes'::text AS actor_name,
               '{{}}'::jsonb AS before, '{{}}'::jsonb AS after, ''::text AS reason
        FROM generate_series(1, 3) AS n
    """
    with pytest.raises(Exception, match="audit_event_chain_seq|chain_ctes needs ord"), transaction.atomic():
        audit.record_select(select, {"at": NOW})
    assert list(AuditEvent.objects.filter(chain=1).values_list("seq", flat=True)) == [1]
    assert AuditChain.objects.get(chain=1).seq == 1
    assert {chain: bad for chain, _, bad in audit.verify_chains()} == {1: None}
    with transaction.atomic():
        audit.record_select(select.replace(f"{ord_sql} AS ord", "n AS ord"), {"at": NOW})
    assert sorted(AuditEvent.objects.filter(chain=1).values_list("seq", flat=True)) == [1, 2, 3, 4]
    assert AuditChain.objects.get(chain=1).seq == 4
    assert {chain: bad for chain, _, bad in audit.verify_chains()} == {1: None}
