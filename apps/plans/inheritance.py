"""Plan settings inheritance: a null setting comes from the parent plan, recursively.

``effective_settings(plan)`` walks the chain once (one query per level is avoided by loading the
service's plans in one query when the chain is long) and says where each value comes from.
At the root of a chain, null means the defaults of SPEC §8.2.
"""

from dataclasses import dataclass
from decimal import Decimal

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


def plan_chain(plan) -> list:
    """The plan, its parent, … up to the root (cycles are refused on save; guarded here anyway)."""
    chain, seen = [], set()
    while plan is not None and plan.pk not in seen:
        chain.append(plan)
        seen.add(plan.pk)
        plan = plan.parent
    return chain


def effective_settings(plan) -> dict[str, Setting]:
    chain = plan_chain(plan) if plan is not None else []
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


def combined_settings(account) -> dict[str, Setting]:
    """The account's plan chain overlaid with the account's own overrides."""
    out = effective_settings(account.plan)
    for name in ACCOUNT_OVERRIDABLE:
        value = getattr(account, name)
        if value is not None:
            out[name] = Setting(value, f"account:{account.pk}", account.name)
    return out
