"""Every read of units, monitoring users and grants that an interface needs, scoped by one rule.

Scope: the operator's account and the accounts below it (``apps.core.scoping.in_scope``). The
restricted distributor's scope is the same; the interfaces decide where it may use it (only the
codes app's apply-a-code picker), exactly as for accounts.
"""

from django.db.models import Prefetch
from django.http import Http404

from apps.accounts import rights
from apps.core.scoping import in_scope, is_platform
from apps.plans.models import DeviceType, Modem

from .models import (AccessGrant, MonitoringUser, Sensor, ServiceInterval, Unit, UnitCommand,
                     UnitEvent)


def scoped_units(user, *, include_archived: bool = False):
    """Units in the user's scope, without joins (the codes app's unit pickers and searches use it too);
    archived units are hidden unless asked for.

    A top user's subtree is its whole service, so its scope is read from the unit's denormalised
    ``service``: the same rows as ``in_scope``'s path match, without the join to accounts (which
    PostgreSQL plans as one probe per account of the path prefix), so the first page of a 100,000-unit
    service walks the (service, name, id) index instead of sorting every unit.
    """
    qs = Unit.objects.all() if include_archived else Unit.objects.filter(archived_at__isnull=True)
    if rights.sees_whole_service(user) and user.is_active and user.account is not None:
        return qs.filter(service_id=user.account.service_id)
    if not is_platform(user) and getattr(user, "account", None) is not None:
        # Implied by the path (a subtree lies in one service), and it lets PostgreSQL walk the (service, name, id)
        # index for a distributor's first page instead of sorting every unit of its branch (issue 16).
        qs = qs.filter(service_id=user.account.service_id)
    return in_scope(qs, user, "account")


def units_visible_to(user, *, include_archived: bool = False):
    """``scoped_units`` with each unit's account, device type and modem (list pages and the API)."""
    return scoped_units(user, include_archived=include_archived).select_related("account", "device_type", "modem")


def with_features(qs):
    """Prefetch a unit's feature lists: three queries for a whole page, whatever its size."""
    return qs.prefetch_related(
        Prefetch("sensors", queryset=Sensor.objects.order_by("id")),
        Prefetch("commands", queryset=UnitCommand.objects.order_by("id")),
        Prefetch("service_intervals", queryset=ServiceInterval.objects.order_by("id")),
    )


def get_visible_unit(user, pk) -> Unit:
    try:
        return units_visible_to(user).get(pk=pk)
    except (Unit.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def monitoring_users_visible_to(user):
    return in_scope(MonitoringUser.objects.select_related("account"), user, "account")


def get_visible_monitoring_user(user, pk) -> MonitoringUser:
    try:
        return monitoring_users_visible_to(user).get(pk=pk)
    except (MonitoringUser.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def grants_visible_to(user):
    """Grants of the monitoring users in the user's scope (the grant belongs to its user)."""
    return in_scope(AccessGrant.objects.select_related("user__account", "unit", "account"), user, "user__account")


def unit_events_visible_to(user):
    """Unit events whose account (at the time) lies in the user's subtree."""
    qs = UnitEvent.objects.all()
    if is_platform(user):
        return qs
    account = getattr(user, "account", None)
    if account is None or not (user.is_authenticated and user.is_active):
        return qs.none()
    return qs.filter(account_path__startswith=account.path)


def device_types():
    """The global device-type catalogue: readable by every operator."""
    return DeviceType.objects.all()


def modems():
    """The global modem catalogue: readable by every operator."""
    return Modem.objects.all()
