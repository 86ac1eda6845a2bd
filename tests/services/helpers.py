"""Helpers the services tests import (fixtures stay in ``conftest.py``)."""

import itertools

from apps.plans.models import CatalogueService, PlanService

_keys = itertools.count(1)


def row(plan, name, cost_table="", *, interval="none", type_=None):
    """Give ``plan`` a row for ``name`` (type from the catalogue's usual kind when not given)."""
    kind = type_ or CatalogueService.objects.get(name=name, service__isnull=True).type
    PlanService.objects.update_or_create(plan=plan, name=name,
                                         defaults={"type": kind, "interval": interval, "cost_table": cost_table})


def key() -> str:
    return f"key-{next(_keys)}"
