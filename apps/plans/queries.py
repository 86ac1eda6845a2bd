"""Every read of plans, plan services and the catalogues that an interface needs, scoped.

Visibility (SPEC §8.1): the platform operator sees every plan; a top user the plans of its service;
a distributor its own account's plan and the sub-plans it may hand out; a restricted distributor none.
"""

from django.db.models import Q
from django.http import Http404

from apps.accounts import rights
from apps.core.scoping import is_platform

from .models import CatalogueService, Plan, PlanEvent, PlanService


def plans_visible_to(user):
    qs = Plan.objects.select_related("service", "parent")
    if not (user and user.is_authenticated and user.is_active):
        return qs.none()
    if is_platform(user):
        return qs
    account = getattr(user, "account", None)
    if account is None:
        return qs.none()
    if rights.sees_whole_service(user):
        return qs.filter(service_id=account.service_id)
    if rights.may_read_plans_by_dealing(user):
        return qs.filter(Q(pk=account.plan_id) | Q(dealers=account)).distinct()
    return qs.none()


def plans_manageable_by(user):
    """Plans the user may change: the visible ones minus the top account's chain for a top user."""
    from .operations import protected_plan_ids

    qs = plans_visible_to(user)
    if is_platform(user):
        return qs
    if not rights.may_manage_plans(user):
        return qs.none()
    return qs.exclude(pk__in=protected_plan_ids(user.account.service))


def get_visible_plan(user, pk) -> Plan:
    try:
        return plans_visible_to(user).get(pk=pk)
    except (Plan.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def plan_services_visible_to(user):
    return PlanService.objects.filter(plan__in=plans_visible_to(user).values("pk")).select_related(
        "plan", "plan__service")


def catalogue_visible_to(user, service_id: int | None = None):
    """Global names plus the ``Apps:`` entries of the user's service (every service's for the platform
    operator, or only ``service_id``'s when given)."""
    qs = CatalogueService.objects.select_related("service")
    if is_platform(user):
        return qs if service_id is None else qs.filter(Q(service__isnull=True) | Q(service_id=service_id))
    account = getattr(user, "account", None)
    if account is None:
        return qs.none()
    return qs.filter(Q(service__isnull=True) | Q(service_id=account.service_id))


def plan_events_visible_to(user):
    qs = PlanEvent.objects.select_related("service")
    if is_platform(user):
        return qs
    account = getattr(user, "account", None)
    if account is None or not rights.may_read_plan_events(user):
        return qs.none()
    return qs.filter(service_id=account.service_id)


def effective_plan(plan: Plan) -> dict:
    """The "effective plan" view: every setting and every service with the plan it comes from."""
    from .inheritance import effective_device_types, effective_services, effective_settings

    settings = effective_settings(plan)
    mode, device_types, mode_source = effective_device_types(plan)
    return {
        "plan": plan,
        "settings": settings,
        "device_type_limit": mode,
        "device_types": device_types,
        "device_types_source": mode_source,
        "modems": list(plan.modems.filter(limit_by_plans=True)),
        "services": effective_services(plan),
    }
