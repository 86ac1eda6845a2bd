"""Issue 15 item 4: the payment confirmation page warns when the payment will block the account, with the
account's own thresholds (its plan chain and overrides) and the kernel's blocking rule."""

from decimal import Decimal

import pytest
from django.urls import reverse

from apps.accounts.models import Account, LedgerEntry
from apps.plans.models import Plan
from apps.services import ledger

pytestmark = pytest.mark.django_db


def _confirm_page(client, world, account, amount, days="0"):
    client.force_login(world.top)
    url = reverse("admin:accounts_account_payment", args=[account.pk])
    response = client.post(url, {"amount": amount, "days": days, "description": "correction"})
    assert response.status_code == 200 and response.context["confirming"]
    return response.content.decode()


@pytest.fixture
def thresholds(world):
    Plan.objects.filter(pk=world.base_plan.pk).update(block_by_balance=True, block_balance=Decimal("-1000"),
                                                     block_by_days=True, min_days=0)
    Account.objects.filter(pk=world.acme.pk).update(currency_format="€%.02f")  # the service's currency


def test_a_payment_that_takes_the_balance_below_the_block_balance_warns(world, client, thresholds):
    html = _confirm_page(client, world, world.north, "-1500")
    assert 'class="errornote payment-block-warning"' in html
    assert "This payment will block North: the balance after it, €-1,500.00, is below the block balance " \
           "€-1,000.00." in html
    assert not LedgerEntry.objects.filter(account=world.north).exists()  # a warning, nothing recorded yet


def test_days_below_the_minimum_warn(world, client, thresholds):
    html = _confirm_page(client, world, world.north, "0", days="-3")
    assert "the days counter after it, -3, is below the minimum 0" in html


def test_a_payment_that_does_not_block_says_nothing(world, client, thresholds):
    html = _confirm_page(client, world, world.north, "-999.99")
    assert "payment-block-warning" not in html


def test_no_threshold_no_warning(world, client):
    html = _confirm_page(client, world, world.north, "-5000")  # block by balance is off in this chain
    assert "payment-block-warning" not in html


def test_an_account_override_counts(world, client, thresholds):
    Account.objects.filter(pk=world.north.pk).update(block_balance=Decimal("50"))
    html = _confirm_page(client, world, Account.objects.get(pk=world.north.pk), "20")
    assert "the balance after it, €20.00, is below the block balance €50.00" in html


def test_a_blocked_account_that_stays_blocked_is_told_so(world, client, thresholds):

    ledger.record_payment(actor=world.top, account=world.north, amount=Decimal("-1200"), days=0,
                              description="usage")
    north = Account.objects.get(pk=world.north.pk)
    assert north.blocked
    html = _confirm_page(client, world, north, "100")
    assert "After this payment North stays blocked" in html
    assert "payment-block-warning" not in _confirm_page(client, world, north, "300")


def test_a_manual_block_is_left_alone(world, client, thresholds):
    Account.objects.filter(pk=world.north.pk).update(blocked=True, blocked_by="manual", blocked_reason="x")
    html = _confirm_page(client, world, Account.objects.get(pk=world.north.pk), "-5000")
    assert "payment-block-warning" not in html
