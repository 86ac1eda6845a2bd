"""Test data built through the operations, so tests exercise the same paths as the product."""

import itertools
from decimal import Decimal

from apps.accounts import operations as account_ops
from apps.accounts.models import Account, Operator
from apps.plans.models import Plan, PlanService

_seq = itertools.count(1)
PASSWORD = "Demo-pass-2026!"


def platform_operator(username=None) -> Operator:
    return Operator.objects.create_superuser(username=username or f"platform{next(_seq)}",
                                             email="root@example.com", password=PASSWORD)


def top_account(*, name=None, actor=None, timezone="UTC", billing_method="monthly", **settings) -> Account:
    actor = actor or Operator.objects.filter(is_superuser=True).first() or platform_operator()
    return account_ops.create_account(actor=actor, name=name or f"Service {next(_seq)}", parent=None,
                                      service_settings={"timezone": timezone, "billing_method": billing_method,
                                                        **settings})


def plan(service: Account, *, name=None, parent=None, **fields) -> Plan:
    fields.setdefault("history_period_days", 400 if parent is None else None)
    return Plan.objects.create(service=service, name=name or f"Plan {next(_seq)}", parent=parent, **fields)


def free_resources(plan_: Plan) -> PlanService:
    """Let accounts be created under ``plan_``: a free, unlimited ``avl_resource`` row (limits only)."""
    return PlanService.objects.create(plan=plan_, name="avl_resource", type="periodic", interval="none",
                                      cost_table="")


def service_plan(service: Account, *, actor, name="Service plan") -> Plan:
    """The top account's own root plan, set by the platform operator (SPEC §8.2: until then, ``no_plan``)."""
    root = plan(service, name=name)
    free_resources(root)
    account_ops.update_account(actor=actor, account=service, changes={"plan": root})
    service.refresh_from_db()
    return root


def account(parent: Account, *, name=None, plan_=None, actor=None, dealer_rights=False, payment=None,
            **overrides) -> Account:
    actor = actor or Operator.objects.filter(is_superuser=True).first() or platform_operator()
    if plan_ is None:
        plan_ = Plan.objects.filter(service_id=parent.service_id).first() or plan(
            Account.objects.get(pk=parent.service_id))
    return account_ops.create_account(actor=actor, name=name or f"Account {next(_seq)}", parent=parent,
                                      plan=plan_, dealer_rights=dealer_rights, overrides=overrides,
                                      payment=payment)


def operator(account_: Account, role: str, *, username=None) -> Operator:
    actor = Operator.objects.filter(is_superuser=True).first() or platform_operator()
    return account_ops.create_operator(actor=actor, username=username or f"{role}{next(_seq)}",
                                       password=PASSWORD, email="op@example.com", account=account_, role=role)


def money(text: str) -> Decimal:
    return Decimal(text)
