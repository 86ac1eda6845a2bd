"""Payments, the ledger as the truth of balances, and blocking on both sides of each threshold."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from apps.accounts import operations
from apps.accounts.models import Account, LedgerEntry
from apps.accounts.queries import ledger_mismatches
from apps.core.errors import Conflict, Forbidden, InvalidInput
from apps.services import ledger


def pay(world, account, amount="0", days=0, description="test", **kw):
    return ledger.record_payment(actor=world.top, account=account, amount=Decimal(amount), days=days,
                                     description=description, **kw)


def test_payment_moves_balance_and_days_and_writes_one_ledger_row(world):
    entry = pay(world, world.north, "100.50", 30, "Invoice 42")
    world.north.refresh_from_db()
    assert (world.north.balance, world.north.days) == (Decimal("100.5000"), 30)
    assert (entry.kind, entry.amount, entry.days, entry.actor, entry.description) == (
        "payment", Decimal("100.5000"), 30, world.top, "Invoice 42")
    assert not ledger_mismatches().exists()


def test_negative_payments_are_allowed_and_balance_stays_the_ledger_sum(world):
    pay(world, world.north, "10")
    pay(world, world.north, "-25.2500", -3)
    world.north.refresh_from_db()
    assert world.north.balance == Decimal("-15.2500") and world.north.days == -3
    call_command("verify_ledger")  # exits 0


def test_verify_ledger_reports_a_tampered_balance(world, capsys):
    pay(world, world.north, "10")
    Account.objects.filter(pk=world.north.pk).update(balance=Decimal("99"))
    with pytest.raises(SystemExit):
        call_command("verify_ledger")
    assert "North" in capsys.readouterr().out


@pytest.mark.parametrize("amount,days,field", [("0", 0, "amount"), ("1.23456", 0, "amount")])
def test_bad_payments_are_refused_and_write_nothing(world, amount, days, field):
    with pytest.raises(InvalidInput) as exc:
        pay(world, world.north, amount, days)
    assert field in exc.value.fields
    assert not LedgerEntry.objects.exists()


def test_payment_needs_a_description(world):
    with pytest.raises(InvalidInput) as exc:
        pay(world, world.north, "5", description="  ")
    assert "description" in exc.value.fields


def test_nobody_pays_into_its_own_account_or_a_sibling(world):
    with pytest.raises(Forbidden):
        ledger.record_payment(actor=world.north_op, account=world.north, amount=5, description="self")
    with pytest.raises(Forbidden):
        ledger.record_payment(actor=world.north_op, account=world.south_client, amount=5, description="x")
    ledger.record_payment(actor=world.north_op, account=world.north_client, amount=5, description="ok")


def test_payment_idempotency_key_replays_and_refuses_other_parameters(world):
    first = pay(world, world.north, "10", idempotency_key="inv-1")
    again = pay(world, world.north, "10", idempotency_key="inv-1")
    assert first.pk == again.pk and LedgerEntry.objects.count() == 1
    with pytest.raises(Conflict) as exc:
        pay(world, world.north, "11", idempotency_key="inv-1")
    assert exc.value.code == "idempotency_key_reused"


@pytest.mark.parametrize("balance,blocked", [("-10.0001", True), ("-10", False), ("-9.9999", False)])
def test_block_by_balance_is_strict(world, balance, blocked):
    acc = world.north_client
    operations.update_account(actor=world.top, account=acc, changes={"block_by_balance": True,
                                                                      "block_balance": Decimal("-10")})
    pay(world, acc, balance)
    acc.refresh_from_db()
    assert acc.blocked is blocked
    assert acc.blocked_by == ("balance" if blocked else "")


@pytest.mark.parametrize("days,blocked", [(2, True), (3, False), (4, False)])
def test_block_by_days_is_strict(world, days, blocked):
    acc = world.north_client
    operations.update_account(actor=world.top, account=acc, changes={"block_by_days": True, "min_days": 3})
    acc.refresh_from_db()
    assert acc.blocked  # 0 days < 3
    pay(world, acc, days=days)
    acc.refresh_from_db()
    assert acc.blocked is blocked


def test_payment_that_clears_the_threshold_unblocks_at_once(world):
    acc = world.north_client
    operations.update_account(actor=world.top, account=acc, changes={"block_by_balance": True,
                                                                      "block_balance": Decimal("0")})
    pay(world, acc, "-1")
    acc.refresh_from_db()
    assert acc.blocked and acc.blocked_by == "balance"
    pay(world, acc, "1")
    acc.refresh_from_db()
    assert not acc.blocked and acc.blocked_at is None


def test_manual_block_holds_until_lifted_by_hand(world):
    acc = world.north_client
    operations.block_account(actor=world.top, account=acc, reason="Unpaid invoice")
    pay(world, acc, "1000")
    acc.refresh_from_db()
    assert acc.blocked and acc.blocked_by == "manual" and "Unpaid invoice" in acc.blocked_reason
    operations.unblock_account(actor=world.top, account=acc, reason="Paid")
    acc.refresh_from_db()
    assert not acc.blocked


def test_unblocking_an_automatic_block_needs_an_until_and_suspends_automatic_blocking(world):
    acc = world.north_client
    operations.update_account(actor=world.top, account=acc, changes={"block_by_balance": True,
                                                                      "block_balance": Decimal("0")})
    pay(world, acc, "-5")
    acc.refresh_from_db()
    with pytest.raises(InvalidInput) as exc:
        operations.unblock_account(actor=world.top, account=acc, reason="grace")
    assert "unblock_until" in exc.value.fields
    now = timezone.now()
    with pytest.raises(InvalidInput):
        operations.unblock_account(actor=world.top, account=acc, reason="grace", until=now + timedelta(days=31))
    operations.unblock_account(actor=world.top, account=acc, reason="grace", until=now + timedelta(days=7))
    pay(world, acc, "-1")
    acc.refresh_from_db()
    assert not acc.blocked  # suspended
    with time_machine.travel(now + timedelta(days=8)):
        pay(world, acc, "-1")
    acc.refresh_from_db()
    assert acc.blocked and acc.blocked_by == "balance"


def test_block_needs_a_reason_and_a_top_user(world):
    with pytest.raises(InvalidInput):
        operations.block_account(actor=world.top, account=world.north, reason="")
    with pytest.raises(Forbidden):
        operations.block_account(actor=world.north_op, account=world.north_client, reason="x")


def test_operators_of_a_blocked_account_may_not_write(world):
    operations.block_account(actor=world.top, account=world.north, reason="audit")
    with pytest.raises(Forbidden) as exc:
        ledger.record_payment(actor=world.north_op, account=world.north_client, amount=1, description="x")
    assert exc.value.code == "account_blocked"
    # a sub-dealer's operator is blocked through its ancestor
    with pytest.raises(Forbidden):
        ledger.record_payment(actor=world.north_east_op, account=world.north_east_client, amount=1,
                                  description="x")
