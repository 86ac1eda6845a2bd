"""Plan inheritance: a null setting, and a service the plan does not list, come from the parent plan,
recursively.

``plan_chain(plan)`` loads the chain in one query (the service's plans, keyed by id) rather than one
query per level; ``effective_settings`` and ``effective_services`` say where each value comes from.
At the root of a chain, null means the defaults of SPEC §8.2.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _

from apps.core.money import DEFAULT_CURRENCY_FORMAT

INHERITED_SETTINGS = (
    "email", "block_by_balance", "block_balance", "limit_by_balance", "deny_balance", "block_by_days",
    "min_days", "allow_unknown_services", "currency_format", "history_period_days", "retranslator_mask",
    "sms_sender", "command_sender", "device_type_limit", "report_logo_url", "report_color",
)
ROOT_DEFAULTS = {
    "email": None, "block_by_balance": False, "block_balance": Decimal("0"), "limit_by_balance": False,
    "deny_balance": Decimal("0"), "block_by_days": False, "min_days": 0, "allow_unknown_services": False,
    "currency_format": DEFAULT_CURRENCY_FORMAT, "history_period_days": 0, "retranslator_mask": None,
    "sms_sender": None, "command_sender": None, "device_type_limit": "none", "report_logo_url": None,
    "report_color": None,
}
# Settings an account may override on top of its plan chain ("combined" settings).
ACCOUNT_OVERRIDABLE = (
    "block_by_balance", "block_balance", "limit_by_balance", "deny_balance", "block_by_days", "min_days",
    "allow_unknown_services", "history_period_days",
)


@dataclass(frozen=True)
class Setting:
    value: object
    source: str  # "plan:<id>", "account:<id>" or "default"
    source_name: str


def plan_chain(plan, plans_by_id: dict | None = None) -> list:
    """The plan, its parent, … up to the root (cycles are refused on save; guarded here anyway).

    One query for the whole chain (the service's plans by id), and always fresh from the database,
    so a parent object cached on ``plan`` cannot hide a later change. A caller walking thousands of
    accounts passes ``plans_by_id`` (the service's plans, loaded once) and the walk costs no query.
    """
    if plan is None:
        return []
    from .models import Plan

    by_id = plans_by_id
    chain, seen = [], set()
    while plan is not None and plan.pk not in seen:
        chain.append(plan)
        seen.add(plan.pk)
        if plan.parent_id is None:
            break
        if by_id is None:
            by_id = Plan.objects.filter(service_id=plan.service_id).in_bulk()
        plan = by_id.get(plan.parent_id)
    return chain


def effective_settings(plan, plans_by_id: dict | None = None) -> dict[str, Setting]:
    chain = plan_chain(plan, plans_by_id) if plan is not None else []
    out = {}
    for name in INHERITED_SETTINGS:
        for p in chain:
            value = getattr(p, name)
            if value is not None and value != "":
                out[name] = Setting(value, f"plan:{p.pk}", p.name)
                break
        else:
            out[name] = Setting(ROOT_DEFAULTS[name], "default", "default")
    return out


def combined_settings(account, plans_by_id: dict | None = None) -> dict[str, Setting]:
    """The account's plan chain overlaid with the account's own overrides.

    With ``plans_by_id`` the account's plan is taken from it by ``plan_id`` (no query either).
    """
    plan = account.plan if plans_by_id is None else plans_by_id.get(account.plan_id)
    out = effective_settings(plan, plans_by_id)
    for name in ACCOUNT_OVERRIDABLE:
        value = getattr(account, name)
        if value is not None:
            out[name] = Setting(value, f"account:{account.pk}", account.name)
    return out


@dataclass(frozen=True)
class EffectiveService:
    """A service row as a plan sees it, and the plan it comes from."""

    name: str
    type: str
    interval: str
    cost_table: str
    description: str
    plan_id: int
    plan_name: str
    inherited: bool
    via: tuple[str, ...]  # plan names from the asking plan up to the source

    @property
    def explanation(self) -> str:
        if not self.inherited:
            return _("from plan %(plan)s") % {"plan": self.plan_name}
        return _("from plan %(plan)s, inherited by %(chain)s") % {"plan": self.plan_name,
                                                                 "chain": " → ".join(reversed(self.via[:-1]))}


def effective_services(plan) -> list[EffectiveService]:
    """Every service of the plan's chain, row by row: the nearest plan listing a name wins (two queries)."""
    from .models import PlanService

    chain = plan_chain(plan)
    if not chain:
        return []
    rank = {p.pk: index for index, p in enumerate(chain)}
    rows = sorted(PlanService.objects.filter(plan_id__in=rank), key=lambda r: (r.name, rank[r.plan_id]))
    out, seen = [], set()
    for row in rows:
        if row.name in seen:
            continue
        seen.add(row.name)
        depth = rank[row.plan_id]
        out.append(EffectiveService(
            name=row.name, type=row.type, interval=row.interval, cost_table=row.cost_table,
            description=row.description, plan_id=row.plan_id, plan_name=chain[depth].name, inherited=depth > 0,
            via=tuple(p.name for p in chain[: depth + 1]),
        ))
    return out


def effective_device_types(plan) -> tuple[str, list, Setting]:
    """The device-type limit mode and its list: both come from the nearest plan that sets a mode."""
    for p in plan_chain(plan):
        if p.device_type_limit:
            return p.device_type_limit, list(p.device_types.all()), Setting(p.device_type_limit, f"plan:{p.pk}",
                                                                            p.name)
    return "none", [], Setting("none", "default", "default")


def device_type_allowed(plan, device_type) -> bool:
    """Whether a plan's effective device-type limit lets a unit use ``device_type`` (None always passes)."""
    if device_type is None:
        return True
    mode, types, _ = effective_device_types(plan)
    listed = any(t.pk == device_type.pk for t in types)
    return mode == "none" or (mode == "only" and listed) or (mode == "except" and not listed)


def modem_allowed(plan, modem) -> bool:
    """A modem flagged "limit by billing plans" is usable only by the plans it lists (SPEC §2.1)."""
    if modem is None or not modem.limit_by_plans:
        return True
    return plan is not None and modem.plans.filter(pk=plan.pk).exists()


def currency_of(account) -> str:
    """The currency pattern money of this account is shown in: its service's own, else its plan chain's."""
    service = account.service if account.service_id != account.pk else account
    return service.currency_format or effective_settings(service.plan)["currency_format"].value
