"""Who may do what (SPEC §8.1), as named checks: the one place a role is compared.

Operations, admin, API views, forms, templates (through the ``rights`` template tags of the accounts app)
and the permission table test all ask here. Each check takes the operator (``None`` and anonymous users
may nothing) and, where the rule depends on it, the object acted on. Scope (what an operator *sees*) is
``core.scoping`` and each app's ``queries.py``; these checks say what it may *do* with what it sees.

The platform operator is a superuser with no account (``is_platform``) and may do everything.
"""

from django.utils.translation import gettext as _

from apps.core.scoping import is_platform

from .models import ROLE_RANK, Account, Role

# Roles allowed on API views (``allowed_roles``; the platform operator always passes). Named by what the
# view does, so a view and the permission table read the same set.
DEALING_ROLES = frozenset({Role.TOP_USER, Role.DISTRIBUTOR})  # write in their subtree: accounts, units, codes
TOP_ONLY = frozenset({Role.TOP_USER})
CODE_APPLYING_ROLES = frozenset({Role.TOP_USER, Role.DISTRIBUTOR, Role.RESTRICTED_DISTRIBUTOR})

__all__ = [
    "DEALING_ROLES", "TOP_ONLY", "CODE_APPLYING_ROLES", "may_manage_plans", "may_read_plans", "may_read_audit",
    "may_read_plan_events", "may_replay_charges",
    "is_platform", "is_top_user", "is_distributor", "is_restricted", "role_of",
    "in_reach", "may_manage", "may_create_accounts_under", "may_hand_out_any_plan", "may_block",
    "may_change_service_settings", "may_change_currency_format", "may_rename",
    "may_manage_service_plans", "may_read_plans_by_dealing", "may_write_units", "may_create_operators",
    "may_create_operator_in", "may_give_role", "role_refusal", "operator_role_choices", "may_change_operator",
    "may_rotate_token_of",
    "may_use_codes_window", "may_generate_codes", "may_open_discount_module", "sees_whole_service", "view_extent",
    "may_see_dashboard",
    "may_see_jobs", "home_is_apply_code",
]


def _active(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def role_of(user) -> str:
    """The operator's role, ``platform`` for the platform operator, ``""`` for anyone else."""
    if is_platform(user):
        return Role.PLATFORM
    return getattr(user, "role", "") or ""


def is_top_user(user) -> bool:
    return getattr(user, "role", "") == Role.TOP_USER and not is_platform(user)


def is_distributor(user) -> bool:
    """A distributor with the full codes window (not the restricted one)."""
    return getattr(user, "role", "") == Role.DISTRIBUTOR and not is_platform(user)


def is_restricted(user) -> bool:
    return getattr(user, "role", "") == Role.RESTRICTED_DISTRIBUTOR and not is_platform(user)


# --- accounts -------------------------------------------------------------------------------------

def may_manage(actor, account: Account) -> bool:
    """The strict-ancestor rule: only an operator of a strict ancestor of X changes X (payments, plan,
    sub-plans, overrides, dealer rights); for a top account that is the platform operator."""
    if is_platform(actor):
        return True
    own = getattr(actor, "account", None)
    if own is None or is_restricted(actor):
        return False
    return account.is_strictly_below(own)


def in_reach(actor, account: Account) -> bool:
    """The account lies in the actor's subtree (its own account included): where a writer of units,
    monitoring users and grants may act."""
    return is_platform(actor) or account.is_in_subtree_of(actor.account)


def may_create_accounts_under(actor, parent: Account) -> bool:
    """A child of ``parent``: the platform operator anywhere, a top user or distributor in its subtree."""
    if is_platform(actor):
        return True
    own = getattr(actor, "account", None)
    return own is not None and not is_restricted(actor) and parent.is_in_subtree_of(own)


def may_hand_out_any_plan(actor) -> bool:
    """A distributor hands out only its own sub-plans; everyone else any plan of the service."""
    return not is_distributor(actor)


def may_block(actor) -> bool:
    """Manual block and unblock (of a strict descendant, ``may_manage``): platform operator and top users."""
    return is_platform(actor) or is_top_user(actor)


def may_change_service_settings(actor) -> bool:
    """Billing method, time zone, basic-package and purchased units, discount enabled."""
    return is_platform(actor)


def may_change_currency_format(actor, service: Account) -> bool:
    return is_platform(actor) or (is_top_user(actor) and actor.account_id == service.pk)


def may_rename(actor, account: Account) -> bool:
    """An account's name: who manages it, and a top user its own top account."""
    return may_manage(actor, account) or (is_top_user(actor) and actor.account_id == account.pk)


# --- plans ----------------------------------------------------------------------------------------

def may_manage_service_plans(actor, service: Account) -> bool:
    """Creating and changing the plans of a service: the platform operator, or a top user of that service
    (the plans app further protects the top account's own plan chain)."""
    if is_platform(actor):
        return True
    own = getattr(actor, "account", None)
    return own is not None and is_top_user(actor) and own.service_id == service.pk


def may_manage_plans(user) -> bool:
    """Plans at all (which ones: ``may_manage_service_plans`` and the plans app's protected chain):
    the platform operator and top users."""
    return is_platform(user) or is_top_user(user)


def may_read_plans(user) -> bool:
    """The plan pages: the platform operator, top users, and distributors (their plan and sub-plans)."""
    return is_platform(user) or is_top_user(user) or is_distributor(user)


def may_read_plan_events(user) -> bool:
    return is_platform(user) or is_top_user(user)


def may_replay_charges(user) -> bool:
    """The charge replay (read only, a whole service's ledger): the platform operator and top users."""
    return is_platform(user) or is_top_user(user)


def may_read_plans_by_dealing(actor) -> bool:
    """A distributor reads its own plan and its sub-plans (not the service's others)."""
    return is_distributor(actor)


# --- units ----------------------------------------------------------------------------------------

def may_write_units(actor) -> bool:
    """Units and their features, monitoring users and grants: platform operator, top users, distributors."""
    return is_platform(actor) or is_top_user(actor) or is_distributor(actor)


# --- operators ------------------------------------------------------------------------------------

def may_create_operators(actor) -> bool:
    return is_platform(actor) or is_top_user(actor) or is_distributor(actor)


def may_create_operator_in(actor, account: Account) -> bool:
    """A top user in its service (its own account too), a distributor strictly below its account."""
    if is_platform(actor):
        return True
    if is_top_user(actor):
        return account.is_in_subtree_of(actor.account)
    return is_distributor(actor) and account.is_strictly_below(actor.account)


def may_give_role(actor, role: str) -> bool:
    """Roles not above the actor's own."""
    return is_platform(actor) or ROLE_RANK.get(role, 99) <= ROLE_RANK[actor.role]


def role_refusal(role: str, account: Account | None) -> str | None:
    """Why an operator of ``role`` may not belong to ``account``, or None: a top user belongs to a top
    account, a distributor to an account with dealer rights, the platform operator to none."""
    if role == Role.PLATFORM:
        return _("Platform operators are created with 'createsuperuser'.")
    if account is None:
        return _("An operator belongs to an account.")
    if role == Role.TOP_USER and not account.is_top:
        return _("A top user belongs to a top account.")
    if role in (Role.DISTRIBUTOR, Role.RESTRICTED_DISTRIBUTOR) and (account.is_top or not account.dealer_rights):
        return _("A distributor belongs to an account with dealer rights.")
    if role not in Role.values:
        return _("Unknown role '%(role)s'.") % {"role": role}
    return None


def operator_role_choices() -> list[tuple[str, str]]:
    """The roles an operator is created with here (the platform operator comes from ``createsuperuser``)."""
    return [choice for choice in Role.choices if choice[0] != Role.PLATFORM]


def may_change_operator(actor, operator) -> bool:
    """Another operator's e-mail and active flag (and its token): top users in their service, distributors
    strictly below their account; everyone its own."""
    if is_platform(actor) or operator.pk == actor.pk:
        return True
    if is_restricted(actor):
        return False
    return not (is_distributor(actor) and not operator.account.is_strictly_below(actor.account))


def may_rotate_token_of(actor, operator) -> bool:
    """A restricted distributor rotates only its own token; otherwise as ``may_change_operator``."""
    return may_change_operator(actor, operator)


# --- codes and discounts --------------------------------------------------------------------------

def may_use_codes_window(user) -> bool:
    """Assign, unassign, reassign, share, unshare (codes held in its subtree, for a distributor)."""
    return is_platform(user) or is_top_user(user) or is_distributor(user)


def may_generate_codes(user) -> bool:
    """Generating codes: the platform operator and top users (the admin also asks the group permission
    ``codes.generate_codes``)."""
    return is_platform(user) or is_top_user(user)


def may_open_discount_module(user) -> bool:
    """Top users and the platform operator; everyone else gets a 404."""
    return _active(user) and (is_platform(user) or is_top_user(user))


def sees_whole_service(user) -> bool:
    """Whether the operator's view of its service is the whole service (a top user), not a branch."""
    return is_top_user(user)


def may_see_dashboard(user) -> bool:
    """The service at a glance (SPEC §9.4): the platform operator, top users and distributors with an account."""
    return _active(user) and (is_platform(user) or ((is_top_user(user) or is_distributor(user))
                                                    and user.account_id is not None))


def view_extent(user) -> str:
    """How much the operator sees: ``platform`` (every service), ``service`` (its whole service) or ``branch``
    (its own subtree). Caches of scoped figures key on it with the viewer's account."""
    if is_platform(user):
        return "platform"
    return "service" if sees_whole_service(user) else "branch"


def may_read_audit(user) -> bool:
    """The audit trail: the platform operator, top users and distributors (a restricted distributor does not)."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    return is_platform(user) or (getattr(user, "account", None) is not None
                                 and getattr(user, "role", "") in DEALING_ROLES)


# --- the core's own pages (registered with ``apps.core.rights`` in ``AccountsConfig.ready``) ---------------

def may_see_jobs(user) -> bool:
    """The "Scheduled jobs" page and its link on the admin index: the platform operator, top users and
    distributors."""
    return is_platform(user) or getattr(user, "role", "") in DEALING_ROLES


def home_is_apply_code(user) -> bool:
    """A restricted distributor's only page is "Apply a code", so that is its admin home."""
    return getattr(user, "role", "") == Role.RESTRICTED_DISTRIBUTOR
