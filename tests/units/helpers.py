"""Helpers the units tests import (fixtures stay in ``conftest.py``)."""

from apps.services.models import ObjectCounter


def counter(account, service: str) -> tuple[int, int]:
    """The kernel's (own, subtree) object count of ``service`` for ``account``."""
    row = ObjectCounter.objects.filter(account=account, service=service).first()
    return (row.own, row.subtree) if row else (0, 0)
