"""The automatic blocking rule (SPEC §9.8): an account's balance or days below its plan's thresholds
blocks it; a manual block is left alone, a suspension holds until its date.

Above plans (the kernel) because the thresholds are the plans' settings overlaid with the account's
own overrides. Manual blocks and unblocks are the accounts app's (``block_account``, ``unblock_account``).
"""

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace

from django.db import connection
from django.utils.translation import gettext as _

from apps.accounts import audit
from apps.accounts.models import Account, BlockedBy
from apps.accounts.operations import OVERRIDE_FIELDS
from apps.core import clock
from apps.core.bulk import many_ids, values_cte
from apps.core.money import format_money
from apps.plans.inheritance import combined_settings, currency_of
from apps.plans.models import Plan


# What the blocking rule reads of an account: loaded for thousands at once.
_BLOCKING_FIELDS = ("id", "name", "path", "service_id", "plan_id", "balance", "days", "blocked", "blocked_by",
                    "blocked_reason", "blocked_at", "auto_block_suspended_until", *OVERRIDE_FIELDS)


def evaluate_blocking_many(account_ids: Sequence[int], *, now: datetime, lock: bool = False) -> int:
    """``evaluate_blocking`` for many accounts in a fixed number of statements; returns how many
    blocks were set, changed or lifted.

    Reads the accounts and their services' plans (two queries), applies the one blocking rule in
    memory (settings computed once per plan and set of account overrides: the rule reads only
    their values) and writes the changes in at most two statements. Caller holds a transaction.
    ``lock``: for callers that have not locked the rows yet (the daily re-evaluation); an account
    locked by someone else is skipped, since every ledger write re-evaluates its own account.
    """
    rows = Account.objects.filter(pk__in=many_ids(account_ids)).order_by("pk").values(*_BLOCKING_FIELDS)
    # Plain records, not model instances: building 100,000 instances took longer than the statements.
    accounts = [SimpleNamespace(pk=row["id"], **row)
                for row in (rows.select_for_update(skip_locked=True) if lock else rows)]
    was = {a.pk: (a.blocked, a.blocked_by) for a in accounts}
    plans = Plan.objects.filter(service_id__in={a.service_id for a in accounts}).in_bulk()
    settings_by_key, blocked, lifted = {}, [], []
    for account in accounts:
        key = (account.plan_id, *(getattr(account, name) for name in OVERRIDE_FIELDS))
        if key not in settings_by_key:
            settings_by_key[key] = combined_settings(account, plans)
        if _apply_blocking_rule(account, settings_by_key[key], now=now):
            (blocked if account.blocked else lifted).append(account)
    _write_blocks(blocked, lifted, now=now)
    audit.record_many([_block_event(a, was[a.pk], now=now) for a in (*blocked, *lifted)], now=now)
    return len(blocked) + len(lifted)


def _write_blocks(blocked: list, lifted: list, *, now: datetime):
    """Store blocks set or changed (one joined UPDATE) and blocks lifted (one UPDATE)."""
    table = Account._meta.db_table
    with connection.cursor() as cursor:
        if blocked:
            cte, params = values_cte("v", (("id", "bigint"), ("blocked_by", "text"), ("reason", "text")),
                                     [(a.pk, a.blocked_by, a.blocked_reason) for a in blocked])
            # A block already set keeps its date (only its reason changes), as in evaluate_blocking.
            cursor.execute(
                f"WITH {cte} UPDATE {table} SET blocked_at = CASE WHEN {table}.blocked THEN {table}.blocked_at "
                f"ELSE %s END, blocked = TRUE, blocked_by = v.blocked_by, blocked_reason = v.reason "
                f"FROM v WHERE {table}.id = v.id", [*params, connection.ops.adapt_datetimefield_value(now)])
        if lifted:
            Account.objects.filter(pk__in=many_ids([a.pk for a in lifted])).update(
                blocked=False, blocked_by="", blocked_reason="", blocked_at=None)


def _automatic_block_reason(account, settings) -> tuple[str, str] | None:
    """The automatic block's kind and reason. The reason is stored (``Account.blocked_reason``) and goes
    into the trail as the event's reason, written by jobs as well as requests: one plain English text,
    never the language of whoever's write happened to cross the threshold (SPEC §9.8)."""
    if settings["block_by_balance"].value and account.balance < Decimal(settings["block_balance"].value):
        return BlockedBy.BALANCE, (f"Balance {account.balance:.2f} is below the block balance "
                                   f"{Decimal(settings['block_balance'].value):.2f}.")
    if settings["block_by_days"].value and account.days < int(settings["min_days"].value):
        return BlockedBy.DAYS, f"Days counter {account.days} is below the minimum {settings['min_days'].value}."
    return None


def _apply_blocking_rule(account, settings, *, now: datetime) -> bool:
    """Set or lift the automatic block on ``account`` (in memory) from its combined settings.

    ``account``: an ``Account`` or a record with the same blocking fields (the bulk path).

    The one blocking rule, shared by ``evaluate_blocking`` (one account) and
    ``post_ledger_entries`` (thousands): manual blocks are left alone, a suspension (a manual
    unblock of an automatic block) holds until its date. Returns whether anything changed.
    """
    if account.blocked_by == BlockedBy.MANUAL:
        return False
    suspended = account.auto_block_suspended_until and account.auto_block_suspended_until > now
    reason = None if suspended else _automatic_block_reason(account, settings)
    if reason and not account.blocked:
        account.blocked, account.blocked_by, account.blocked_reason, account.blocked_at = True, reason[0], reason[1], now
    elif reason and account.blocked and account.blocked_by != reason[0]:
        account.blocked_by, account.blocked_reason = reason[0], reason[1]
    elif not reason and account.blocked:
        account.blocked, account.blocked_by, account.blocked_reason, account.blocked_at = False, "", "", None
    else:
        return False
    return True


def evaluate_blocking(account: Account, *, now: datetime | None = None, actor=None) -> Account:
    """Set or lift an automatic block from the thresholds. Manual blocks are left alone.

    Called in the transaction of every ledger write (the account row is locked by then) and daily.
    """
    now = now or clock.now()
    if account.blocked_by == BlockedBy.MANUAL:
        return account
    was = (account.blocked, account.blocked_by)
    if _apply_blocking_rule(account, combined_settings(account), now=now):
        Account.objects.filter(pk=account.pk).update(
            blocked=account.blocked, blocked_by=account.blocked_by, blocked_reason=account.blocked_reason,
            blocked_at=account.blocked_at)
        audit.record_many([_block_event(account, was, actor=actor, now=now)], now=now)
    return account


def _block_event(account, was: tuple[bool, str], *, actor=None, job: str = "", now: datetime) -> dict:
    """The event of an automatic block set, changed or lifted (the blocking rule, after a ledger write)."""
    before, after = audit.changes({"blocked": was[0], "blocked_by": was[1] or None},
                                  {"blocked": account.blocked, "blocked_by": account.blocked_by or None})
    return audit.event(
        "account_blocked" if account.blocked else "account_unblocked", actor=actor, job=job or "blocking rule",
        subject_type="account", subject_id=account.pk, subject_name=account.name,
        account_fields=(account.pk, account.name, account.path, account.service_id), before=before, after=after,
        reason=account.blocked_reason, at=now)


def payment_block_warning(account: Account, amount, days) -> str | None:
    """What the account's blocking rule will do once this payment is posted, when it blocks (or keeps
    blocking) the account: the kernel's own rule (``_apply_blocking_rule``, with the account's combined
    thresholds) run on a copy holding the balance and days after the payment. None when it does not block."""
    if account.blocked_by == BlockedBy.MANUAL:
        return None  # a manual block stays whatever the payment: the page says nothing new
    after = SimpleNamespace(**{name: getattr(account, "pk" if name == "id" else name) for name in _BLOCKING_FIELDS})
    after.balance, after.days = account.balance + amount, account.days + days
    settings = combined_settings(account)
    _apply_blocking_rule(after, settings, now=clock.now())
    if not after.blocked:
        return None
    pattern = currency_of(account)
    if after.blocked_by == BlockedBy.BALANCE:
        reason = _("the balance after it, %(balance)s, is below the block balance %(threshold)s") % {
            "balance": format_money(after.balance, pattern),
            "threshold": format_money(settings["block_balance"].value, pattern)}
    else:
        reason = _("the days counter after it, %(days)s, is below the minimum %(minimum)s") % {
            "days": after.days, "minimum": settings["min_days"].value}
    if account.blocked:
        return _("After this payment %(account)s stays blocked: %(reason)s.") % {"account": account.name,
                                                                                 "reason": reason}
    return _("This payment will block %(account)s: %(reason)s.") % {"account": account.name, "reason": reason}
