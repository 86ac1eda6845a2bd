"""Helpers the codes tests import (fixtures stay in ``conftest.py``)."""

import itertools
from datetime import UTC, datetime

from apps.codes.models import CodeEvent
from apps.units.models import Unit

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
_imei = itertools.count(100000)


def make_unit(account, name: str, *, active: bool = False) -> Unit:
    """A unit as the units app creates it under codes billing: inactive until it gets a code."""
    return Unit.objects.create(service_id=account.service_id, account=account, name=name,
                               unique_id=f"IMEI{next(_imei)}", active=active,
                               deactivation_reason="" if active else "no_code")


def events_of(code) -> list[str]:
    return list(CodeEvent.objects.filter(code=code.code).order_by("id").values_list("action", flat=True))
