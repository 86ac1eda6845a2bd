"""check / consume / objects: every denial reason, chain charging, idempotency, statement budget."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction

from apps.accounts import operations as account_ops
from apps.accounts.models import Account, IdempotencyKey, LedgerEntry
from apps.accounts.queries import ledger_mismatches
from apps.core.errors import Conflict, Forbidden, InvalidInput
from apps.plans.models import AccountServiceOverride
from apps.services import counters
from apps.services.models import ObjectChange, ObjectCounter, UsageCounter
from apps.services import ledger
from apps.services.operations import (
    KernelDenied,
    check_service,
    consume_service,
    move_objects,
)
from tests import factories
from tests.helpers import requires_postgres
from tests.services.helpers import key, row

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def charges(account):
    return list(LedgerEntry.objects.filter(account=account, kind="charge").values_list("amount", flat=True))


def test_every_check_in_a_service_without_plan_is_no_plan(world):
    planless = factories.top_account(name="Planless", actor=world.platform)
    result = check_service(account=planless, service="sms")
    assert (result.allowed, result.reason) == (False, "no_plan")


def test_unknown_service_is_denied_unless_allowed(billed):
    assert check_service(account=billed.north_client, service="sms").reason == "service_unknown"
    billed.base_plan.allow_unknown_services = True
    billed.base_plan.save()
    result = check_service(account=billed.north_client, service="sms")
    assert (result.allowed, result.cost) == (True, Decimal("0"))


def test_service_denied_by_the_plan(billed):
    row(billed.base_plan, "sms", "-1", interval="daily")
    assert check_service(account=billed.north_client, service="sms").reason == "service_denied"


def test_blocked_account_and_blocked_ancestor(billed):
    row(billed.base_plan, "sms", "", interval="daily")
    account_ops.block_account(actor=billed.top, account=billed.north, reason="unpaid")
    assert check_service(account=billed.north, service="sms").reason == "account_blocked"
    assert check_service(account=billed.north_east_client, service="sms").reason == "ancestor_blocked"
    assert check_service(account=billed.south_client, service="sms").allowed


def test_consume_counts_in_the_daily_window_and_denies_the_fourth(billed):
    row(billed.base_plan, "sms", "3:0;-1", interval="daily")
    with time_machine.travel(NOW, tick=False):
        for n in (1, 2, 3):
            assert consume_service(account=billed.north_client, service="sms", idempotency_key=key())["usage"] == n
        with pytest.raises(KernelDenied) as denied:
            consume_service(account=billed.north_client, service="sms", idempotency_key=key())
    assert denied.value.reason == "limit_reached"
    assert denied.value.as_dict()["allowed"] is False
    assert UsageCounter.objects.get(account=billed.north_client, service="sms").total == 3


def test_a_new_local_day_opens_a_new_window(billed):
    row(billed.base_plan, "sms", "1:0;-1", interval="daily")
    # Berlin midnight is 23:00 UTC in March before the DST change.
    with time_machine.travel(datetime(2026, 3, 10, 22, 59, tzinfo=UTC), tick=False):
        consume_service(account=billed.north_client, service="sms", idempotency_key=key())
        with pytest.raises(KernelDenied):
            consume_service(account=billed.north_client, service="sms", idempotency_key=key())
    with time_machine.travel(datetime(2026, 3, 10, 23, 0, tzinfo=UTC), tick=False):
        assert consume_service(account=billed.north_client, service="sms", idempotency_key=key())["usage"] == 1


def test_dealer_limit_caps_its_whole_subtree(billed):
    row(billed.base_plan, "sms", "", interval="daily")
    row(billed.dealer_plan, "sms", "2:0;-1", interval="daily")
    consume_service(account=billed.north_client, service="sms", idempotency_key=key(), now=NOW)
    consume_service(account=billed.north_east_client, service="sms", idempotency_key=key(), now=NOW)
    with pytest.raises(KernelDenied) as denied:
        consume_service(account=billed.north_client, service="sms", idempotency_key=key(), now=NOW)
    assert denied.value.reason == "limit_reached"
    assert denied.value.limiting_account_id == billed.north.pk
    # South is another branch: its own Dealer-plan limit is untouched.
    assert consume_service(account=billed.south_client, service="sms", idempotency_key=key(), now=NOW)["allowed"]
    assert UsageCounter.objects.get(account=billed.north, service="sms").total == 2


def test_every_account_of_the_chain_pays_its_own_price(billed):
    row(billed.base_plan, "sms", "1.5", interval="daily")  # clients and Acme (Base)
    row(billed.dealer_plan, "sms", "1:0;0.5", interval="daily")  # dealers: first free, then 0.5
    body = consume_service(account=billed.north_east_client, service="sms", quantity=2, idempotency_key=key(),
                           now=NOW)
    assert body == {"allowed": True, "cost": "3.0000", "usage": 2, "balance": "-3.0000"}
    assert charges(billed.north_east_client) == [Decimal("-3.0000")]
    assert charges(billed.north_east) == [Decimal("-0.5000")]
    assert charges(billed.north) == [Decimal("-0.5000")]
    assert charges(billed.acme) == [Decimal("-3.0000")]
    assert not ledger_mismatches().exists()


def test_limit_by_balance_denies_a_paid_use_that_would_go_below_the_deny_balance(billed):
    row(billed.base_plan, "sms", "2", interval="daily")
    # North and Acme pay for the same SMS (through the Base plan) without a limit; the client has one.
    account_ops.update_account(actor=billed.platform, account=billed.north_client,
                               changes={"limit_by_balance": True, "deny_balance": Decimal("-3")})
    ledger.record_payment(actor=billed.top, account=billed.north_client, amount="1", description="topup")
    consume_service(account=billed.north_client, service="sms", quantity=2, idempotency_key=key(), now=NOW)
    assert check_service(account=billed.north_client, service="sms", quantity=1, now=NOW).reason == "balance_limit"
    with pytest.raises(KernelDenied) as denied:
        consume_service(account=billed.north_client, service="sms", quantity=1, idempotency_key=key(), now=NOW)
    assert denied.value.reason == "balance_limit"
    billed.north_client.refresh_from_db()
    assert billed.north_client.balance == Decimal("-3.0000")
    assert UsageCounter.objects.get(account=billed.north_client, service="sms").total == 2


def test_repeated_key_returns_the_first_answer_and_charges_once(billed):
    row(billed.base_plan, "sms", "1", interval="daily")
    first = consume_service(account=billed.north_client, service="sms", idempotency_key="abc", now=NOW)
    again = consume_service(account=billed.north_client, service="sms", idempotency_key="abc", now=NOW)
    assert first == again
    assert charges(billed.north_client) == [Decimal("-1.0000")]
    with pytest.raises(Conflict) as conflict:
        consume_service(account=billed.north_client, service="sms", quantity=2, idempotency_key="abc", now=NOW)
    assert conflict.value.code == "idempotency_key_reused"


def test_a_denial_is_stored_and_replayed(billed):
    row(billed.base_plan, "sms", "-1", interval="daily")
    with pytest.raises(KernelDenied):
        consume_service(account=billed.north_client, service="sms", idempotency_key="k1", now=NOW)
    row(billed.base_plan, "sms", "", interval="daily")  # allowed now, but the key keeps its first answer
    with pytest.raises(KernelDenied) as replay:
        consume_service(account=billed.north_client, service="sms", idempotency_key="k1", now=NOW)
    assert replay.value.reason == "service_denied"
    assert IdempotencyKey.objects.get(key="k1").status_code == 403
    assert not UsageCounter.objects.filter(service="sms").exists()


def test_consume_takes_only_on_demand_catalogue_services(billed):
    with pytest.raises(InvalidInput) as bad:
        consume_service(account=billed.north_client, service="zones_library", idempotency_key=key())
    assert "service" in bad.value.fields
    with pytest.raises(InvalidInput):
        consume_service(account=billed.north_client, service="no_such_thing", idempotency_key=key())
    with pytest.raises(InvalidInput) as bad_quantity:
        consume_service(account=billed.north_client, service="sms", quantity=0, idempotency_key=key())
    assert "quantity" in bad_quantity.value.fields


def test_consume_statement_budget_does_not_grow_with_depth(billed, django_assert_num_queries):
    row(billed.base_plan, "sms", "1", interval="daily")
    row(billed.dealer_plan, "sms", "1", interval="daily")
    # Four paying accounts on the path: the chain, the counters, then the balances, ledger rows and
    # key in one statement on PostgreSQL (three on SQLite); within SPEC §8.3's 5 either way, plus the
    # savepoint pair of the test transaction.
    statements = 3 if connection.vendor == "postgresql" else 5
    with django_assert_num_queries(statements + 2):
        consume_service(account=billed.north_east_client, service="sms", idempotency_key=key(), now=NOW)


@requires_postgres
def test_a_consumes_statements_are_prepared_once_per_connection(billed):
    """The chain, the counters and the post run prepared (``apps.core.statements``): each is one
    prepared statement of the connection however many consumes run."""
    row(billed.base_plan, "sms", "1", interval="daily")
    for _ in range(4):
        consume_service(account=billed.north_east_client.pk, service="sms", idempotency_key=key(), now=NOW)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        prepared = cursor.fetchall()
    for marker in ("chain_of", "INSERT INTO services_usagecounter", "debited AS"):
        mine = [runs for statement, runs in prepared if marker in statement]
        assert len(mine) == 1 and mine[0] >= 4, (marker, prepared)


@requires_postgres
def test_a_prepared_statement_outlives_a_rollback_and_a_new_connection_prepares_it_again(billed):
    """A prepared statement belongs to the session: a consume rolled back leaves it prepared (the
    next consume runs it without preparing again); another connection prepares its own; with
    preparing off the text runs as it is."""
    from django.test import override_settings

    from apps.core.statements import prepared

    row(billed.base_plan, "sms", "1", interval="daily")

    def names():
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'site\\_%%'")
            return {name for (name,) in cursor.fetchall()}

    with transaction.atomic():
        consume_service(account=billed.north_east_client.pk, service="sms", idempotency_key=key(), now=NOW)
        transaction.set_rollback(True)
    before = names()
    assert len(before) >= 3
    consume_service(account=billed.north_east_client.pk, service="sms", idempotency_key=key(), now=NOW)
    assert names() == before
    with override_settings(DATABASE_PREPARED_STATEMENTS=False):
        assert prepared("SELECT %s + 1") == "SELECT %s + 1"
    assert prepared("SELECT %s::int + 1 WHERE 'a%%' LIKE 'a%%'").startswith("EXECUTE site_")
    with connection.cursor() as cursor:
        cursor.execute(prepared("SELECT %s::int + 1 WHERE 'a%%' LIKE 'a%%'"), [41])
        assert cursor.fetchall() == [(42,)]

    def on_another_connection():
        try:
            with connection.cursor() as cursor:
                cursor.execute(prepared("SELECT %s::int + 1 WHERE 'a%%' LIKE 'a%%'"), [1])
                return cursor.fetchall(), names()
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        answer, theirs = pool.submit(on_another_connection).result()
    assert answer == [(2,)] and len(theirs) == 1


def _consume_and_read_back(account, **kwargs) -> tuple:
    """Consume in a savepoint rolled back afterwards; return the answer and every row it wrote."""
    with transaction.atomic():
        answer = consume_service(account=account, service="sms", now=NOW, **kwargs)
        written = (
            answer,
            list(LedgerEntry.objects.filter(kind="charge").order_by("account_id")
                 .values_list(*[f.attname for f in LedgerEntry._meta.concrete_fields if not f.primary_key])),
            list(IdempotencyKey.objects.values_list("account_id", "key", "fingerprint", "status_code", "body",
                                                    "created_at")),
            list(Account.objects.order_by("pk").values_list("pk", "balance", "blocked")),
            list(UsageCounter.objects.order_by("account_id").values_list("account_id", "own", "total")),
        )
        transaction.set_rollback(True)
    return written


@requires_postgres
@pytest.mark.parametrize("client_pays", [True, False], ids=["the-client-pays", "only-ancestors-pay"])
def test_the_one_statement_post_writes_what_the_three_statements_write(billed, monkeypatch, client_pays):
    row(billed.base_plan, "sms", "1:0;1.25" if client_pays else "", interval="daily")
    row(billed.dealer_plan, "sms", "0.5", interval="daily")
    ledger.record_payment(actor=billed.top, account=billed.north_east_client, amount="7.5", description="topup")
    kwargs = {"quantity": 3, "idempotency_key": "same", "actor": billed.top}
    in_one = _consume_and_read_back(billed.north_east_client, **kwargs)
    monkeypatch.setattr(counters, "_post_consumption_in_one", counters._post_consumption_in_three)
    in_three = _consume_and_read_back(billed.north_east_client, **kwargs)
    assert in_one == in_three
    answer, ledger_rows, keys = in_one[:3]
    assert answer == keys[0][4] == {"allowed": True, "cost": "2.5000" if client_pays else "0.0000", "usage": 3,
                                    "balance": "5.0000" if client_pays else "7.5000"}
    # The dealers North-East and North pay; the client and Acme (both on Base) too when Base charges.
    assert len(ledger_rows) == (4 if client_pays else 2)


def test_objects_count_subtree_and_journal_every_change(billed):
    row(billed.base_plan, "zones_library", "")
    row(billed.dealer_plan, "zones_library", "3:0;-1")
    assert move_objects(account=billed.north_client, service="zones_library", delta=2, now=NOW) == 2
    assert move_objects(account=billed.north_east_client, service="zones_library", delta=1, now=NOW) == 1
    with pytest.raises(KernelDenied) as denied:
        move_objects(account=billed.north_client, service="zones_library", delta=1, now=NOW)
    assert denied.value.reason == "limit_reached" and denied.value.limiting_account_id == billed.north.pk
    assert move_objects(account=billed.north_client, service="zones_library", delta=-1, now=NOW) == 1
    counts = {c.account_id: (c.own, c.subtree) for c in ObjectCounter.objects.filter(service="zones_library")}
    assert counts[billed.north.pk] == (0, 2)
    assert counts[billed.acme.pk] == (0, 2)
    assert counts[billed.north_client.pk] == (1, 1)
    assert list(ObjectChange.objects.filter(service="zones_library").order_by("id")
                .values_list("delta", flat=True)) == [2, 1, -1]


def test_objects_never_go_below_zero_and_internal_names_are_refused(billed):
    row(billed.base_plan, "zones_library", "")
    with pytest.raises(InvalidInput) as below:
        move_objects(account=billed.north_client, service="zones_library", delta=-1)
    assert "delta" in below.value.fields
    with pytest.raises(InvalidInput):
        move_objects(account=billed.north_client, service="avl_unit", delta=1)
    with pytest.raises(InvalidInput):
        move_objects(account=billed.north_client, service="sms", delta=1, internal=True)
    assert not ObjectChange.objects.exclude(service="avl_resource").exists()  # the world's accounts only


def test_move_objects_statement_budget(billed, django_assert_max_num_queries):
    row(billed.base_plan, "zones_library", "")
    with django_assert_max_num_queries(5):  # 3 statements + the savepoint pair
        move_objects(account=billed.north_east_client, service="zones_library", delta=1, now=NOW)


def test_account_override_wins_over_the_plan(billed):
    from apps.services.operations import delete_service_override, set_service_override

    row(billed.base_plan, "sms", "", interval="daily")
    set_service_override(actor=billed.north_op, account=billed.north_client, name="sms", interval="daily",
                         cost_table="-1")
    assert check_service(account=billed.north_client, service="sms").reason == "service_denied"
    set_service_override(actor=billed.north_op, account=billed.north_client, name="sms", interval="daily",
                         cost_table="1:0; 2:1.50")
    assert AccountServiceOverride.objects.get(account=billed.north_client).cost_table == "1:0;2:1.5"
    assert check_service(account=billed.north_client, service="sms").allowed
    delete_service_override(actor=billed.north_op, account=billed.north_client, name="sms")
    assert not AccountServiceOverride.objects.exists()
    with pytest.raises(InvalidInput) as bad:
        set_service_override(actor=billed.north_op, account=billed.north_client, name="sms", cost_table="1:x")
    assert "cost_table" in bad.value.fields
    with pytest.raises(Forbidden):  # nobody changes its own account
        set_service_override(actor=billed.north_op, account=billed.north, name="sms", cost_table="")


def test_per_unit_service_check_prices_one_units_positions(billed):
    from apps.services.queries import own_object_counts

    row(billed.base_plan, "unit_sensors", "2:0;4:1;-1", interval="monthly")
    move_objects(account=billed.north_client, service="unit_sensors", delta=4, internal=True, unit_count=4)
    move_objects(account=billed.north_client, service="unit_sensors", delta=4, internal=True, unit_count=4)
    assert own_object_counts([billed.north_client.pk], ["unit_sensors"]) == {(billed.north_client.pk,
                                                                             "unit_sensors"): 8}
    assert check_service(account=billed.north_client, service="unit_sensors", quantity=4).cost == Decimal("2")
    refused = check_service(account=billed.north_client, service="unit_sensors", quantity=5)
    assert (refused.allowed, refused.reason) == (False, "limit_reached")
    with pytest.raises(KernelDenied):
        move_objects(account=billed.north_client, service="unit_sensors", delta=1, internal=True, unit_count=5)
    with pytest.raises(InvalidInput) as missing:
        move_objects(account=billed.north_client, service="unit_sensors", delta=1, internal=True)
    assert "unit_count" in missing.value.fields
    assert list(ObjectChange.objects.filter(service="unit_sensors").values_list("delta", flat=True)) == [4, 4]
