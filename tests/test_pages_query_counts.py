"""Issue 16: the pages of ``bench/pages_bench.py`` (every admin list's first page, the change and add pages of
accounts, units, plans and codes, the code log, the ledger, the dashboard and the discount module), as a top
user and as a distributor, ask the database the same number of queries however much data there is. The
benchmark times them at a tenth and at the full data; this asserts the counts at a small scale."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.accounts import operations as account_ops
from apps.accounts.models import LedgerEntry
from apps.codes import operations as code_ops
from apps.codes.models import ActivationCode, CodeStatus
from apps.plans.models import Plan
from apps.units.models import Unit
from tests import factories
from tests.codes.helpers import T0, make_unit

NOW = T0 + timedelta(days=1)


def _urls(world, root) -> dict[str, str]:
    account = world.north_client
    unit = Unit.objects.filter(account__path__startswith=root.path).order_by("pk").first()
    code = ActivationCode.objects.filter(service=world.acme, holder_path__startswith=root.path).order_by("pk").first()
    plan = Plan.objects.filter(service=world.acme).order_by("pk").first()
    urls = {f"list {m._meta.app_label}.{m._meta.model_name}": f"/admin/{m._meta.app_label}/{m._meta.model_name}/"
            for m in admin.site._registry}
    urls.update({
        "account change": f"/admin/accounts/account/{account.pk}/change/", "account add": "/admin/accounts/account/add/",
        "unit change": f"/admin/units/unit/{unit.pk}/change/", "unit add": "/admin/units/unit/add/",
        "plan change": f"/admin/plans/plan/{plan.pk}/change/", "plan add": "/admin/plans/plan/add/",
        "code change": f"/admin/codes/activationcode/{code.pk}/change/", "code log": "/admin/codes/log/",
        "dashboard": "/admin/", "discount module": "/admin/discounts/",
        "codes, default": "/admin/codes/activationcode/", "codes, on a unit": "/admin/codes/activationcode/?assigned=yes",
        "codes, active": "/admin/codes/activationcode/?state=active",
        "codes, validity": "/admin/codes/activationcode/?validity_days=30",
        "codes, not on a unit": "/admin/codes/activationcode/?assigned=no",
        "codes, expired": "/admin/codes/activationcode/?state=expired",
        "codes, active on a unit": "/admin/codes/activationcode/?state=active_assigned",
    })
    return urls


def _counts(world, operator, root) -> dict[str, tuple[int, int]]:
    client = Client()
    client.force_login(operator)
    out = {}
    for name, url in _urls(world, root).items():
        client.get(url)  # warm: the session, caches
        with CaptureQueriesContext(connection) as ctx:
            status = client.get(url).status_code
        out[name] = (status, len(ctx.captured_queries) if status == 200 else 0)
    return out


def _grow(world, n: int):
    """``n`` more client accounts under each dealer, units, codes in every state, code events and ledger rows."""
    for dealer in (world.north, world.south):
        for i in range(n):
            account = factories.account(dealer, name=f"Grown {dealer.name} {i}", plan_=world.base_plan,
                                        actor=world.platform)
            units = [make_unit(account, f"Grown unit {account.pk}-{k}") for k in range(2)]
            codes = code_ops.generate_codes(actor=world.top, service=world.acme, quantity=4, validity_days=30,
                                            shared_with=dealer, now=T0)
            code_ops.assign_code(actor=world.top, code=codes[0], unit=units[0], now=T0)
            ActivationCode.objects.filter(pk=codes[1].pk).update(status=CodeStatus.ACTIVE, activated_at=T0,
                                                                 expires_at=NOW - timedelta(hours=1))
            LedgerEntry.objects.bulk_create([LedgerEntry(account=account, kind="charge", amount=-1, service="sms",
                                                         description="grown", at=T0) for _ in range(3)])


@pytest.fixture
def codes_world(world):
    code_ops.switch_billing_method(actor=world.platform, service=world.acme, method="activation_codes",
                                   confirm=True, now=T0)
    account_ops.update_account(actor=world.platform, account=world.acme, changes={"discount_enabled": True})
    world.acme.refresh_from_db()
    unit = make_unit(world.north_client, "First unit")
    code, _, expired = code_ops.generate_codes(actor=world.top, service=world.acme, quantity=3, validity_days=30,
                                               shared_with=world.north, now=T0)
    code_ops.assign_code(actor=world.top, code=code, unit=unit, now=T0)
    # An expired code from the start: a filter's page with rows at both sizes (an empty page reads no rows).
    ActivationCode.objects.filter(pk=expired.pk).update(status=CodeStatus.EXPIRED, activated_at=T0 - timedelta(days=40),
                                                        expires_at=T0 - timedelta(days=10))
    for account in (world.north_client, world.south_client):  # the ledger has rows from the start
        LedgerEntry.objects.create(account=account, kind="charge", amount=-1, service="sms", description="first", at=T0)
    return world


@pytest.mark.parametrize("who, root", [("top", "acme"), ("north_op", "north")])
def test_page_query_counts_do_not_grow_with_the_data(codes_world, who, root):
    world = codes_world
    with time_machine.travel(NOW, tick=False):
        small = _counts(world, getattr(world, who), getattr(world, root))
        _grow(world, 4)
        large = _counts(world, getattr(world, who), getattr(world, root))
    assert {name for name, (status, _) in small.items() if status == 200} >= {
        "list accounts.account", "list units.unit", "list codes.activationcode", "list accounts.ledgerentry",
        "account change", "unit change", "code change", "code log", "dashboard", "codes, default"}
    assert large == small
