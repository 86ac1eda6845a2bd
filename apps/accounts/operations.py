"""Every write to accounts and operators. Admin, API, jobs and imports call these.

Each operation runs in one transaction, locks what it changes, validates and writes. The ledger and
the automatic blocking rule read the plans' thresholds, so they live above plans, in the kernel
(``services/ledger.py``, ``services/blocking.py``); what an account change asks of them (an opening
payment, a re-evaluation of the block, the plan's history) goes through ``signals``.
"""

import secrets
import zoneinfo
from datetime import datetime, timedelta

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.core import clock
from apps.core.errors import DoesNotExist, Forbidden, InvalidInput
from apps.core.money import clean_money, currency_format_error

from . import audit, rights, signals
from .models import SERVICE_SETTING_FIELDS, Account, BillingMethod, BlockedBy, Language, Operator, OperatorToken
from .rights import may_manage
from .roles import group_for

OVERRIDE_FIELDS = ("block_by_balance", "block_balance", "limit_by_balance", "deny_balance", "block_by_days",
                   "min_days", "allow_unknown_services", "history_period_days")
MAX_UNBLOCK_SUSPENSION = timedelta(days=30)


# --- rights ---------------------------------------------------------------------------------------

def actor_name(actor) -> str:
    return actor.get_username() if actor is not None else "system"


def require_manage(actor, account: Account):
    if not may_manage(actor, account):
        raise Forbidden(_("Only an operator of an account above this one may change it."), code="outside_branch")


def require_not_blocked(actor):
    from .queries import is_blocked

    account = getattr(actor, "account", None)
    if account is not None and is_blocked(account):
        raise Forbidden(_("Your account is blocked: you may read but not change anything."), code="account_blocked")


def lock_account(account: Account) -> Account:
    return Account.objects.select_for_update().get(pk=account.pk)


def _audit_values(account: Account) -> dict:
    """What the trail shows of an account's settings: names, not ids (SPEC §9.8)."""
    values = {"name": account.name, "plan": account.plan.name if account.plan_id else None,
              "sub_plans": sorted(p.name for p in account.sub_plans.all()) if account.pk else [],
              "dealer_rights": account.dealer_rights,
              **{name: getattr(account, name) for name in OVERRIDE_FIELDS}}
    if account.is_top:
        values.update({name: getattr(account, name) for name in (*SERVICE_SETTING_FIELDS, "currency_format")})
    return values


# --- accounts -------------------------------------------------------------------------------------

def _validate_plan_for(actor, plan, service_id: int | None, field: str = "plan"):
    if plan is None:
        return
    if service_id is not None and plan.service_id != service_id:
        raise DoesNotExist.field(field)
    if not rights.may_hand_out_any_plan(actor):
        if not actor.account.sub_plans.filter(pk=plan.pk).exists():
            raise InvalidInput.field(field, _("A distributor may hand out only its own sub-plans."))


def require_may_have_children(parent: Account):
    """SPEC §9.1/§9.8: only a top account or an account with dealer rights has child accounts."""
    if not parent.is_top and not parent.dealer_rights:
        raise InvalidInput.field("parent", _(
            "'%(name)s' has no dealer rights: only a top account or an account with dealer rights may have "
            "child accounts.") % {"name": parent.name})


def _validate_overrides(values: dict):
    for name in ("block_balance", "deny_balance"):
        if values.get(name) is not None:
            values[name] = clean_money(values[name], name)
    if values.get("min_days") is not None and values["min_days"] < 0:
        raise InvalidInput.field("min_days", _("Must be 0 or more."))


def _validate_service_settings(values: dict):
    if "timezone" in values:
        try:
            zoneinfo.ZoneInfo(values["timezone"])
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            reason = _("Unknown time zone '%(zone)s'.") % {"zone": values["timezone"]}
            raise InvalidInput.field("timezone", reason) from None
    if "billing_method" in values and values["billing_method"] not in BillingMethod.values:
        raise InvalidInput.field("billing_method", _("Must be 'monthly' or 'activation_codes'."))
    if values.get("currency_format"):
        error = currency_format_error(values["currency_format"])
        if error:
            raise InvalidInput.field("currency_format", error)


@transaction.atomic
def create_account(*, actor, name: str, parent: Account | None, plan=None, dealer_rights: bool = False,
                   sub_plans=(), overrides: dict | None = None, service_settings: dict | None = None,
                   payment: dict | None = None, now: datetime | None = None) -> Account:
    """Create an account below ``parent`` (a top account when ``parent`` is None: platform only)."""
    now = now or clock.now()
    name = (name or "").strip()
    if not name:
        raise InvalidInput.field("name", _("This field is required."))
    overrides = dict(overrides or {})
    service_settings = dict(service_settings or {})
    if parent is None:
        if not rights.may_change_service_settings(actor):  # a service is its top account's settings
            raise Forbidden(_("Only the platform operator creates top accounts (services)."))
        _validate_service_settings(service_settings)
        service_id = None
    else:
        require_not_blocked(actor)
        if not rights.may_create_accounts_under(actor, parent):
            raise DoesNotExist.field("parent")
        if service_settings:
            raise InvalidInput.field(next(iter(service_settings)), _("Only a top account has service settings."))
        if plan is None:
            raise InvalidInput.field("plan", _("Every account below a top account needs a plan."))
        service_id = parent.service_id
        # Serialises sibling creation for the name check, and creation against a revocation of the
        # parent's dealer rights (set_dealer_rights locks the same row and counts its children).
        parent = lock_account(parent)
        require_may_have_children(parent)
    _validate_plan_for(actor, plan, service_id)
    _validate_overrides(overrides)
    if service_id is not None and Account.objects.filter(service_id=service_id, name__iexact=name).exists():
        raise InvalidInput.field("name", _("An account with this name already exists in this service."))
    account = Account(name=name, parent=parent, plan=plan, dealer_rights=dealer_rights,
                      depth=0 if parent is None else parent.depth + 1, service_id=service_id,
                      **overrides, **service_settings)
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        raise InvalidInput.field("name", _("An account with this name already exists in this service.")) from None
    account.path = f"{parent.path if parent else '/'}{account.pk}/"
    if parent is None:
        account.service_id = account.pk
    Account.objects.filter(pk=account.pk).update(path=account.path, service_id=account.service_id)
    # The plan in force from now (replay, SPEC §9.8): plans.receivers.record_account_plan.
    signals.account_plan_changed.send(sender=Account, account=account, now=now)
    if parent is not None:
        # The kernel counts the child against the parent's limits and may refuse it, which leaves this
        # transaction (services.receivers.count_new_child_account).
        signals.account_created.send(sender=Account, account=account, parent=parent, actor=actor, now=now)
    if sub_plans:
        for sub in sub_plans:
            _validate_plan_for(actor, sub, account.service_id, "sub_plans")
        account.sub_plans.set(sub_plans)
    if payment and (payment.get("amount") or payment.get("days")):
        # The ledger records it (services.receivers.record_opening_payment).
        signals.opening_payment.send(sender=Account, account=account, payment=payment, actor=actor, now=now)
        account.refresh_from_db()
    after = {k: v for k, v in _audit_values(account).items() if v not in (None, [], "")}
    if parent is not None:
        after["parent"] = parent.name
    audit.record("account_created", actor=actor, subject_type="account", subject_id=account.pk,
                 subject_name=account.name, account=account, after=after, now=now)
    return account


@transaction.atomic
def update_account(*, actor, account: Account, changes: dict, now: datetime | None = None) -> Account:
    """Change an account's name, plan, sub-plans, dealer rights, overrides or service settings."""
    now = now or clock.now()
    require_not_blocked(actor)
    account = lock_account(account)
    audit_before = _audit_values(account)
    changes = dict(changes)
    if "parent" in changes and (changes["parent"].pk if changes["parent"] else None) != account.parent_id:
        raise InvalidInput.field("parent", _("An account's parent cannot change."))
    changes.pop("parent", None)
    settings_changes = {k: changes.pop(k) for k in list(changes) if k in SERVICE_SETTING_FIELDS}
    currency = changes.pop("currency_format", None) if "currency_format" in changes else None
    touches_billing = any(k in changes for k in ("plan", "sub_plans", "dealer_rights", *OVERRIDE_FIELDS))
    if touches_billing:
        require_manage(actor, account)
    if settings_changes:
        if not account.is_top:
            raise InvalidInput.field(next(iter(settings_changes)), _("Only a top account has service settings."))
        if not rights.may_change_service_settings(actor):
            raise Forbidden(_("Only the platform operator changes service settings."))
        _validate_service_settings(settings_changes)
        if "billing_method" in settings_changes and settings_changes["billing_method"] != account.billing_method:
            raise InvalidInput.field("billing_method",
                                         _("Use the billing-method switch, which asks for a confirmation."))
    if currency is not None:
        if not account.is_top:
            raise InvalidInput.field("currency_format", _("Only a top account has a currency format."))
        if not rights.may_change_currency_format(actor, account):
            raise Forbidden(_("Only the top user or the platform operator changes the currency format."))
        _validate_service_settings({"currency_format": currency})
        account.currency_format = currency
    if "name" in changes:
        name = (changes.pop("name") or "").strip()
        if not name:
            raise InvalidInput.field("name", _("This field is required."))
        if Account.objects.filter(service_id=account.service_id, name__iexact=name).exclude(pk=account.pk).exists():
            raise InvalidInput.field("name", _("An account with this name already exists in this service."))
        if not rights.may_rename(actor, account):
            raise Forbidden(_("Only an operator of an account above this one may rename it."), code="outside_branch")
        account.name = name
    plan_changed = False
    if "plan" in changes:
        plan = changes.pop("plan")
        if plan is None and not account.is_top:
            raise InvalidInput.field("plan", _("Every account below a top account needs a plan."))
        _validate_plan_for(actor, plan, account.service_id)
        plan_changed = plan != account.plan
        account.plan = plan
    sub_plans = changes.pop("sub_plans", None)
    dealer = changes.pop("dealer_rights", None)
    overrides = {k: changes.pop(k) for k in list(changes) if k in OVERRIDE_FIELDS}
    if changes:
        raise InvalidInput.field(next(iter(changes)), _("This field cannot be changed here."))
    _validate_overrides(overrides)
    for k, v in {**overrides, **settings_changes}.items():
        setattr(account, k, v)
    # The plan's history (replay, SPEC §9.8): plans.receivers.seed_account_plan / record_account_plan.
    if plan_changed:
        signals.account_plan_changing.send(sender=Account, account=account, now=now)
    account.save()
    if plan_changed:
        signals.account_plan_changed.send(sender=Account, account=account, now=now)
    if sub_plans is not None:
        for sub in sub_plans:
            _validate_plan_for(actor, sub, account.service_id, "sub_plans")
        account.sub_plans.set(sub_plans)
    if overrides:
        # The thresholds may have moved: services.receivers.evaluate_blocking_of_account.
        signals.account_overrides_changed.send(sender=Account, account=account, now=now)
    _record_settings(actor, account, audit_before, now=now)
    if dealer is not None and dealer != account.dealer_rights:
        set_dealer_rights(actor=actor, account=account, dealer_rights=dealer, now=now)
    return account


def _record_settings(actor, account: Account, before: dict, *, now: datetime):
    """``account_plan_changed`` for a new plan, ``account_updated`` for the other settings that changed."""
    after = _audit_values(account)
    after["dealer_rights"] = before["dealer_rights"]  # set_dealer_rights records its own event
    old, new = audit.changes(before, after)
    if "plan" in old or "plan" in new:
        plan_before = {"plan": old.pop("plan")} if "plan" in old else {}
        plan_after = {"plan": new.pop("plan")} if "plan" in new else {}
        audit.record("account_plan_changed", actor=actor, subject_type="account", subject_id=account.pk,
                     subject_name=account.name, account=account, before=plan_before, after=plan_after, now=now)
    if old or new:
        audit.record("account_updated", actor=actor, subject_type="account", subject_id=account.pk,
                     subject_name=account.name, account=account, before=old, after=new, now=now)


@transaction.atomic
def set_dealer_rights(*, actor, account: Account, dealer_rights: bool, now: datetime | None = None):
    """Grant or revoke dealer rights. Revoking deactivates the account's operators, empties its
    sub-plans and (through ``signals.dealer_rights_revoked``) returns its unassigned codes to the top."""
    now = now or clock.now()
    require_manage(actor, account)
    account = lock_account(account)
    if account.is_top:
        raise InvalidInput.field("dealer_rights", _("A top account's rights are those of the service."))
    if not dealer_rights and account.dealer_rights:
        # The row lock above orders this against create_account under this account (which locks it too).
        children = Account.objects.filter(parent_id=account.pk).count()
        if children:
            reason = ngettext(
                "This account has %(count)d child account: an account without dealer rights may have none, so "
                "its dealer rights stay.",
                "This account has %(count)d child accounts: an account without dealer rights may have none, so "
                "its dealer rights stay.", children) % {"count": children}
            raise InvalidInput(f"dealer_rights: {reason}", code="has_child_accounts",
                               fields={"dealer_rights": [reason]})
    was = account.dealer_rights
    account.dealer_rights = dealer_rights
    account.save(update_fields=["dealer_rights"])
    before, after = {"dealer_rights": was}, {"dealer_rights": dealer_rights}
    if not dealer_rights:
        deactivated = sorted(Operator.objects.filter(account=account, is_active=True)
                             .values_list("username", flat=True))
        if deactivated:
            after["operators_deactivated"] = deactivated
        sub_plans = sorted(account.sub_plans.values_list("name", flat=True))
        if sub_plans:
            before["sub_plans"], after["sub_plans"] = sub_plans, []
        Operator.objects.filter(account=account).update(is_active=False)
        OperatorToken.objects.filter(operator__account=account).delete()
        account.sub_plans.clear()
        signals.dealer_rights_revoked.send(sender=Account, account=account, actor=actor, now=now)
    if was != dealer_rights:
        audit.record("dealer_rights_granted" if dealer_rights else "dealer_rights_revoked", actor=actor,
                     subject_type="account", subject_id=account.pk, subject_name=account.name, account=account,
                     before=before, after=after, now=now)
    return account


# --- manual blocks (the automatic rule and the ledger: services/blocking.py, services/ledger.py) ----------

def _require_blocker(actor, account):
    require_not_blocked(actor)
    require_manage(actor, account)
    if not rights.may_block(actor):
        raise Forbidden(_("Only the top user or the platform operator blocks and unblocks accounts."))


@transaction.atomic
def block_account(*, actor, account: Account, reason: str, now: datetime | None = None) -> Account:
    now = now or clock.now()
    _require_blocker(actor, account)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput.field("blocked_reason", _("A reason is required to block an account."))
    account = lock_account(account)
    before = {"blocked": account.blocked, "blocked_by": account.blocked_by or None}
    account.blocked, account.blocked_by, account.blocked_at = True, BlockedBy.MANUAL, account.blocked_at or now
    # Stored on the account and read by everyone in their own language: the operator's words and a plain
    # suffix, not a translated sentence (SPEC §9.8, like the trail's values).
    account.blocked_reason = f"{reason} (by {actor_name(actor)})"
    account.auto_block_suspended_until = None
    account.save(update_fields=["blocked", "blocked_by", "blocked_at", "blocked_reason", "auto_block_suspended_until"])
    old, new = audit.changes(before, {"blocked": True, "blocked_by": BlockedBy.MANUAL})
    audit.record("account_blocked", actor=actor, subject_type="account", subject_id=account.pk,
                 subject_name=account.name, account=account, before=old, after=new, reason=reason, now=now)
    return account


@transaction.atomic
def unblock_account(*, actor, account: Account, reason: str, until: datetime | None = None,
                    now: datetime | None = None) -> Account:
    """Lift a block by hand. Lifting an automatic block suspends automatic blocking ``until`` (≤ 30 days)."""
    now = now or clock.now()
    _require_blocker(actor, account)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput.field("blocked_reason", _("A reason is required to unblock an account."))
    account = lock_account(account)
    if not account.blocked:
        raise InvalidInput.field("blocked", _("The account is not blocked."))
    if account.blocked_by != BlockedBy.MANUAL:
        if until is None:
            raise InvalidInput.field("unblock_until", _("Lifting an automatic block needs an 'until' date."))
        if not (now < until <= now + MAX_UNBLOCK_SUSPENSION):
            raise InvalidInput.field("unblock_until", _("Must be in the future and at most 30 days away."))
        account.auto_block_suspended_until = until
    before = {"blocked": True, "blocked_by": account.blocked_by}
    account.blocked, account.blocked_by, account.blocked_reason, account.blocked_at = False, "", "", None
    account.save(update_fields=["blocked", "blocked_by", "blocked_at", "blocked_reason", "auto_block_suspended_until"])
    after = {"blocked": False}
    if before["blocked_by"] != BlockedBy.MANUAL:
        after["automatic_blocking_suspended_until"] = until
    audit.record("account_unblocked", actor=actor, subject_type="account", subject_id=account.pk,
                 subject_name=account.name, account=account, before=before, after=after, reason=reason, now=now)
    return account


# --- operators --------------------------------------------------------------------------------------

@transaction.atomic
def create_operator(*, actor, username: str, password: str, email: str = "", account: Account, role: str,
                    language: str = "") -> Operator:
    require_not_blocked(actor)
    _check_language(language)
    if not rights.may_create_operators(actor):
        raise Forbidden(_("Your role may not create operators."))
    if not rights.may_create_operator_in(actor, account):
        raise DoesNotExist.field("account")
    if not rights.may_give_role(actor, role):
        raise InvalidInput.field("role", _("You may not create an operator with a role above your own."))
    error = rights.role_refusal(role, account)
    if error:
        raise InvalidInput.field("role", error)
    username = (username or "").strip()
    if not username:
        raise InvalidInput.field("username", _("This field is required."))
    if Operator.objects.filter(username__iexact=username).exists():
        raise InvalidInput.field("username", _("This username is taken."))
    operator = Operator(username=username, email=email or "", account=account, role=role, is_staff=True,
                        language=language)
    try:
        validate_password(password, operator)
    except ValidationError as exc:
        raise InvalidInput.field("password", " ".join(exc.messages)) from None
    operator.set_password(password)
    operator.save()
    operator.groups.set([group_for(role)])
    audit.record("operator_created", actor=actor, subject_type="operator", subject_id=operator.pk,
                 subject_name=operator.username, account=account,
                 after={"username": operator.username, "email": operator.email or None, "role": role,
                        "account": account.name})
    return operator


@transaction.atomic
def update_operator(*, actor, operator: Operator, email: str | None = None, is_active: bool | None = None,
                    language: str | None = None) -> Operator:
    require_not_blocked(actor)
    if not rights.may_change_operator(actor, operator):
        raise Forbidden(_("You may not change this operator."), code="outside_branch")
    if is_active is not None and operator.pk == actor.pk:
        raise InvalidInput.field("is_active", _("You cannot deactivate yourself."))
    before = {"email": operator.email, "is_active": operator.is_active, "language": operator.language}
    if language is not None:
        _check_language(language)
        operator.language = language
    if email is not None:
        operator.email = email
    if is_active is not None:
        operator.is_active = is_active
        if not is_active:
            OperatorToken.objects.filter(operator=operator).delete()
    operator.save(update_fields=["email", "is_active", "language"])
    old, new = audit.changes(before, {"email": operator.email, "is_active": operator.is_active,
                                      "language": operator.language})
    if old or new:
        audit.record("operator_updated", actor=actor, subject_type="operator", subject_id=operator.pk,
                     subject_name=operator.username, account=operator.account, before=old, after=new)
    return operator


def _check_language(language: str) -> None:
    if language not in Language.values:
        raise InvalidInput.field("language", _("Not a language of this site: choose en, fr, es or empty "
                                               "(the browser's)."))


@transaction.atomic
def set_own_language(*, operator: Operator, language: str) -> Operator:
    """The header's language switcher (SPEC §9.8): an operator's own display setting. Any signed-in
    operator may set their own, a blocked one too (it changes what they read, nothing of the business)."""
    _check_language(language)
    before = operator.language
    Operator.objects.filter(pk=operator.pk).update(language=language)
    operator.language = language
    if before != language:
        audit.record("operator_updated", actor=operator, subject_type="operator", subject_id=operator.pk,
                     subject_name=operator.username, account=operator.account,
                     before={"language": before}, after={"language": language})
    return operator


@transaction.atomic
def rotate_token(*, actor, operator: Operator) -> str:
    """Create a new API key for ``operator`` (the old one stops at once) and return it: shown once."""
    if not rights.may_rotate_token_of(actor, operator):
        if rights.is_restricted(actor):
            raise Forbidden(_("You may only rotate your own token."))
        raise Forbidden(_("You may not change this operator."), code="outside_branch")
    key = secrets.token_hex(20)
    had = OperatorToken.objects.filter(operator=operator).delete()[0] > 0
    OperatorToken.objects.create(operator=operator, key_hash=OperatorToken.hash_key(key), prefix=key[:8])
    # Never the key (nor its prefix): only that a token was replaced or created.
    audit.record("token_rotated", actor=actor, subject_type="operator", subject_id=operator.pk,
                 subject_name=operator.username, account=operator.account,
                 before={"token": "set" if had else "none"}, after={"token": "new"})
    return key
