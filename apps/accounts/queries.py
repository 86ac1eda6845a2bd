"""Every read of accounts, operators and the ledger that an interface needs, scoped."""

from decimal import Decimal

from django.db.models import DecimalField, F, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import Http404

from apps.core.scoping import in_scope, is_platform

from .models import Account, LedgerEntry, Operator
from . import rights
from .rights import may_read_audit


def accounts_visible_to(user):
    return in_scope(Account.objects.all(), user)


def operators_visible_to(user):
    """Operators of accounts in the user's subtree; a restricted distributor sees only itself."""
    qs = Operator.objects.select_related("account")
    if is_platform(user):
        return qs
    if rights.is_restricted(user):
        return qs.filter(pk=user.pk)
    return in_scope(qs, user, "account")


def ledger_visible_to(user):
    return in_scope(LedgerEntry.objects.select_related("account", "actor"), user, "account")


def get_visible_account(user, pk) -> Account:
    try:
        return accounts_visible_to(user).get(pk=pk)
    except (Account.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def is_blocked(account: Account) -> bool:
    """Blocked "for every purpose": the account or one of its ancestors (SPEC §8.3); read fresh, one query."""
    return Account.objects.filter(pk__in=[*account.ancestor_ids(), account.pk], blocked=True).exists()


def blocking_account(account: Account) -> Account | None:
    """The account (itself or the nearest ancestor) that blocks it, if any."""
    ids = [*account.ancestor_ids(), account.pk]
    return Account.objects.filter(pk__in=ids, blocked=True).order_by("-depth").first()


def ledger_mismatches():
    """Accounts whose cached balance or days differ from their ledger's sums (one query)."""
    sums = LedgerEntry.objects.filter(account=OuterRef("pk")).values("account")
    return Account.objects.annotate(
        ledger_amount=Coalesce(Subquery(sums.annotate(s=Sum("amount")).values("s")), Value(Decimal("0")),
                               output_field=DecimalField(max_digits=20, decimal_places=4)),
        ledger_days=Coalesce(Subquery(sums.annotate(s=Sum("days")).values("s")), Value(0),
                             output_field=IntegerField()),
    ).filter(~Q(balance=F("ledger_amount")) | ~Q(days=F("ledger_days")))


def audit_events_visible_to(user):
    """The audit trail in scope: the platform operator every chain; others the events of their account
    and every account below it (``account_path``), the one scoping rule."""
    from .models import AuditEvent

    qs = AuditEvent.objects.all()
    if not may_read_audit(user):
        return qs.none()
    if is_platform(user):
        return qs
    return qs.filter(account_path__startswith=user.account.path)


def audit_in_subtree(qs, account: Account):
    """Events of ``account`` and every account below it."""
    return qs.filter(account_path__startswith=account.path)
