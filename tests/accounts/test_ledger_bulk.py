"""The ledger's set-based path: ``post_ledger_entries`` and ``evaluate_blocking_many``."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from apps.accounts import operations as ops
from apps.accounts.models import Account, LedgerEntry, LedgerKind
from apps.accounts.queries import ledger_mismatches
from apps.services import blocking
from apps.services import ledger
from tests import factories

NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)


def charge(account, amount, *, days=0, service="periodic"):
    return ledger.LedgerRow(account_id=account.pk, kind=LedgerKind.CHARGE, description=f"{service} charge",
                         amount=Decimal(amount), days=days, service=service, quantity=1,
                         window_start=NOW - timedelta(days=1), window_end=NOW)


def test_rows_are_written_in_order_and_balances_and_days_move_with_them(world):
    rows = [charge(world.north_client, "-2.5"), charge(world.south_client, "-1"),
            charge(world.north_client, "-0.1234", days=-2)]
    ids = ledger.post_ledger_entries(rows, now=NOW)
    entries = LedgerEntry.objects.in_bulk(ids)
    assert [(entries[pk].account_id, entries[pk].amount, entries[pk].days) for pk in ids] == [
        (world.north_client.pk, Decimal("-2.5000"), 0), (world.south_client.pk, Decimal("-1.0000"), 0),
        (world.north_client.pk, Decimal("-0.1234"), -2)]
    first = entries[ids[0]]
    assert (first.kind, first.service, first.quantity, first.window_end, first.at, first.actor_name) == (
        "charge", "periodic", 1, NOW, NOW, "system")
    north = Account.objects.get(pk=world.north_client.pk)
    assert (north.balance, north.days) == (Decimal("-2.6234"), -2)
    assert Account.objects.get(pk=world.south_client.pk).balance == Decimal("-1.0000")
    assert not ledger_mismatches().exists()


def test_blocking_follows_the_rule_of_evaluate_blocking(world):
    """Crossing the block balance blocks; a manual block and a suspended block are left alone;
    an automatic block whose reason is gone is lifted."""
    for account in (world.north_client, world.south_client, world.north_east_client, world.north):
        ops.update_account(actor=world.platform, account=account,
                           changes={"block_by_balance": True, "block_balance": Decimal("-5")}, now=NOW)
    ops.block_account(actor=world.top, account=world.south_client, reason="fraud check", now=NOW)
    ledger.post_ledger_entries([charge(world.north_east_client, "-6")], now=NOW)  # blocked by balance
    ops.unblock_account(actor=world.top, account=world.north_east_client, reason="promised to pay",
                        until=NOW + timedelta(days=3), now=NOW)
    Account.objects.filter(pk=world.north.pk).update(blocked=True, blocked_by="balance", blocked_at=NOW,
                                                     blocked_reason="old")

    later = NOW + timedelta(hours=1)
    ledger.post_ledger_entries([charge(world.north_client, "-6"), charge(world.south_client, "-6"),
                             charge(world.north_east_client, "-1"), charge(world.north, "1")], now=later)

    def state(account):
        a = Account.objects.get(pk=account.pk)
        return a.blocked, a.blocked_by, a.blocked_at

    assert state(world.north_client) == (True, "balance", later)
    assert Account.objects.get(pk=world.north_client.pk).blocked_reason == \
        "Balance -6.00 is below the block balance -5.00."
    assert state(world.south_client) == (True, "manual", NOW)
    assert state(world.north_east_client) == (False, "", None)  # suspended for three days
    assert state(world.north) == (False, "", None)  # balance 1 is above -5: lifted


def test_an_account_blocked_by_days_that_falls_below_the_balance_keeps_its_block_date(world):
    ops.update_account(actor=world.platform, account=world.north_client, now=NOW, changes={
        "block_by_days": True, "min_days": 0, "block_by_balance": True, "block_balance": Decimal("0")})
    ledger.post_ledger_entries([ledger.LedgerRow(account_id=world.north_client.pk, kind=LedgerKind.DAYS_DECREMENTED,
                                           days=-1, description="Days counter")], now=NOW)
    ledger.post_ledger_entries([charge(world.north_client, "-1")], now=NOW + timedelta(hours=1))
    client = Account.objects.get(pk=world.north_client.pk)
    # Balance comes first in the rule: the reason changes, the block's date stays.
    assert (client.blocked, client.blocked_by, client.blocked_at) == (True, "balance", NOW)


def test_statements_do_not_grow_with_the_number_of_rows_or_accounts(world, django_assert_max_num_queries):
    accounts = [factories.account(world.north, plan_=world.base_plan, actor=world.platform) for _ in range(30)]
    for account in accounts[:10]:
        ops.update_account(actor=world.platform, account=account,
                           changes={"block_by_balance": True, "block_balance": Decimal("0")}, now=NOW)
    rows = [charge(account, "-1", service=name) for account in accounts for name in ("a", "b", "c")]
    # Savepoint pair, ledger rows, totals, accounts, plans, blocks set, and the blocks' audit events
    # (the chain's head locked, the events, the head moved: three, however many accounts).
    with django_assert_max_num_queries(11):
        ids = ledger.post_ledger_entries(rows, now=NOW)
    assert len(ids) == len(set(ids)) == 90
    assert Account.objects.filter(pk__in=[a.pk for a in accounts], blocked=True).count() == 10
    assert set(Account.objects.filter(pk__in=[a.pk for a in accounts]).values_list("balance", flat=True)) == \
        {Decimal("-3.0000")}
    assert not ledger_mismatches().exists()
    from apps.accounts.models import AuditEvent

    assert AuditEvent.objects.filter(action="account_blocked", actor_name="blocking rule",
                                     account_id__in=[a.pk for a in accounts]).count() == 10


def test_evaluate_blocking_many_agrees_with_evaluate_blocking(world):
    """The same accounts evaluated one by one and all at once end in the same state."""
    accounts = [world.north_client, world.south_client, world.north_east_client]
    settings = [{"block_by_balance": True, "block_balance": Decimal("1")},
                {"block_by_days": True, "min_days": 1},
                {"block_by_balance": True, "block_balance": Decimal("-1")}]
    for account, changes in zip(accounts, settings, strict=True):
        ops.update_account(actor=world.platform, account=account, changes=changes, now=NOW)
    Account.objects.filter(pk__in=[a.pk for a in accounts]).update(blocked=False, blocked_by="", blocked_at=None)
    one_by_one = {}
    for account in accounts:
        evaluated = blocking.evaluate_blocking(Account.objects.get(pk=account.pk), now=NOW)
        one_by_one[account.pk] = (evaluated.blocked, evaluated.blocked_by, evaluated.blocked_reason)
    Account.objects.filter(pk__in=[a.pk for a in accounts]).update(blocked=False, blocked_by="", blocked_at=None,
                                                                   blocked_reason="")
    assert blocking.evaluate_blocking_many([a.pk for a in accounts], now=NOW) == 2
    at_once = {a.pk: (a.blocked, a.blocked_by, a.blocked_reason)
               for a in Account.objects.filter(pk__in=[a.pk for a in accounts])}
    assert at_once == one_by_one
    assert at_once[world.north_client.pk][:2] == (True, "balance")
    assert at_once[world.south_client.pk][:2] == (True, "days")
    assert at_once[world.north_east_client.pk] == (False, "", "")
