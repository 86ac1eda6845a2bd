"""The one scoping rule: an operator sees its own account and the accounts below it.

Every app's ``queries.py`` builds its ``*_visible_to(operator)`` on ``in_scope``; admin
``get_queryset``, form choices, API ``get_queryset`` and exports all go through those.
The platform operator (a superuser with no account) sees every service.
"""

from django.db.models import Q, QuerySet


def is_platform(user) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or getattr(user, "role", "") == "platform"))


def account_path_q(user, account_field: str = "") -> Q:
    """Q for "this row's account lies in the user's subtree"; ``account_field`` leads to the account."""
    if is_platform(user):
        return Q()
    account = getattr(user, "account", None)
    if account is None:
        return Q(pk__in=[])
    prefix = f"{account_field}__" if account_field else ""
    return Q(**{f"{prefix}path__startswith": account.path})


def in_scope(qs: QuerySet, user, account_field: str = "") -> QuerySet:
    """Filter ``qs`` to what ``user`` may see, following ``account_field`` to the owning account."""
    if not (user and user.is_authenticated and user.is_active):
        return qs.none()
    if is_platform(user):
        return qs
    return qs.filter(account_path_q(user, account_field))


def sees(user, account) -> bool:
    """``in_scope`` for one account already read, without a query: the same rule, in Python (for the
    kernel, which reads the account with its chain in one statement)."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    if is_platform(user):
        return True
    own = getattr(user, "account", None)
    return own is not None and account.path.startswith(own.path)


def service_id_of(user) -> int | None:
    """The user's service (top account id); None for the platform operator."""
    account = getattr(user, "account", None)
    return account.service_id if account is not None else None
