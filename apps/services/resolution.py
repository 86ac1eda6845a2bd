"""Which row of which plan (or override) governs a service for an account, and why (SPEC §2.2, §8.6).

Resolution order: the account's own override, else its plan's row, else the parent plan's,
recursively; not found anywhere: allowed at zero cost when the combined "allow unknown services"
is on, else denied. A top account without a plan denies everything in its service (``no_plan``).

The resolving itself is a pure function (``_resolve``) over rows loaded up front, so one account
and ten thousand accounts cost the same fixed number of queries:

- ``resolve_service`` / ``resolve_services``: one account, for interfaces that explain;
- ``available_services``: many accounts of one service, for the discount module;
- ``load_chain``: one account and its ancestors for one name, for the kernel (2 queries).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

from django.db.models import F, FilteredRelation, Q, Subquery

from apps.accounts.models import Account
from apps.plans.cost_table import CostTable, CostTableError, parse
from apps.plans.inheritance import (
    ACCOUNT_OVERRIDABLE,
    INHERITED_SETTINGS,
    ROOT_DEFAULTS,
    Setting,
)
from apps.plans.models import (
    AccountServiceOverride,
    Plan,
    PlanService,
    ResetInterval,
    ServiceType,
)

from .models import CatalogueService

OVERRIDE, PLAN, UNKNOWN = "override", "plan", "unknown"
DENIED_TABLE = parse("-1")


@lru_cache(maxsize=4096)
def parsed_table(text: str) -> CostTable:
    """Parse a stored table once per process. Stored tables were validated on save; one that no
    longer parses (a rule tightened since) denies the service rather than failing the request."""
    try:
        return parse(text)
    except CostTableError:
        return DENIED_TABLE


@dataclass(frozen=True)
class ServiceRow:
    """The parts of a plan row or an override that resolution needs."""

    type: str
    interval: str
    cost_table: str


@dataclass(frozen=True)
class Resolution:
    name: str
    type: str
    interval: str
    cost_table: str
    table: CostTable
    source: str  # "override", "plan" or "unknown"
    plan: Plan | None  # the plan whose row applies
    chain: list[str] = field(default_factory=list)  # plan names walked, from the account's plan up
    allowed: bool = True  # position 1 is allowed
    reason: str | None = None  # service_denied, service_unknown, no_plan
    explanation: str = ""

    @property
    def resolves(self) -> bool:
        """The account has a table for this service: it is charged and limited by it (SPEC §8.3)."""
        return self.source in (OVERRIDE, PLAN)

    @property
    def is_periodic(self) -> bool:
        return self.type == ServiceType.PERIODIC

    @property
    def has_window(self) -> bool:
        return self.interval != ResetInterval.NONE


def _resolve(account: Account, name: str, *, catalogue_type: str | None, override: ServiceRow | None,
             rows_by_plan: dict[int, ServiceRow], no_plan: bool) -> Resolution:
    """Resolve ``name`` for ``account``, whose ``plan`` (and its parents) are already attached."""
    fallback_type = catalogue_type or ServiceType.ON_DEMAND
    if no_plan:
        return Resolution(name, fallback_type, ResetInterval.NONE, "-1", DENIED_TABLE, UNKNOWN, None, [],
                          allowed=False, reason="no_plan",
                          explanation="The service has no plan on its top account yet: everything is denied.")
    chain, found, found_plan = [], None, None
    plan = account.plan
    seen = set()
    while plan is not None and plan.pk not in seen:
        seen.add(plan.pk)
        chain.append(plan.name)
        if plan.pk in rows_by_plan:
            found, found_plan = rows_by_plan[plan.pk], plan
            break
        plan = plan.parent
    plan_text = _plan_text(chain, found_plan)
    if override is not None:
        table = parsed_table(override.cost_table)
        allowed = table.allows(1)
        return Resolution(
            name, override.type, override.interval, table.canonical, table, OVERRIDE, None, chain,
            allowed=allowed, reason=None if allowed else "service_denied",
            explanation=f"account override (table '{table.canonical or 'free, unlimited'}'); "
                        f"the plan would give: {plan_text}",
        )
    if found is not None:
        table = parsed_table(found.cost_table)
        allowed = table.allows(1)
        return Resolution(name, found.type, found.interval, table.canonical, table, PLAN, found_plan, chain,
                          allowed=allowed, reason=None if allowed else "service_denied",
                          explanation=f"{plan_text}; account override: none")
    setting = _allow_unknown_setting(account)
    allowed = bool(setting.value)
    return Resolution(
        name, fallback_type, ResetInterval.NONE, "", parsed_table(""), UNKNOWN, None, chain,
        allowed=allowed, reason=None if allowed else "service_unknown",
        explanation=(f"{plan_text}; account override: none; unknown services are "
                     f"{'allowed free' if allowed else 'denied'} (setting from {setting.source_name})"),
    )


def preloaded_settings(account: Account) -> dict[str, Setting]:
    """``combined_settings`` over the plan chain already attached to ``account`` (no query).

    ``apps.plans.inheritance.plan_chain`` re-reads the service's plans on every call, which is right
    for a form but would cost a query per account in the kernel's fixed statement budget and in the
    jobs that walk 100,000 accounts; here the chain was loaded once by the caller. Same rules, same
    constants: the plan chain, then the account's own overrides. Cached on the account object.
    """
    cached = account.__dict__.get("_preloaded_settings")
    if cached is not None:
        return cached
    chain, plan, seen = [], account.plan, set()
    while plan is not None and plan.pk not in seen:
        chain.append(plan)
        seen.add(plan.pk)
        plan = plan.parent
    out = {}
    for name in INHERITED_SETTINGS:
        found = next((p for p in chain if getattr(p, name) not in (None, "")), None)
        out[name] = (Setting(getattr(found, name), f"plan:{found.pk}", found.name) if found
                     else Setting(ROOT_DEFAULTS[name], "default", "default"))
    for name in ACCOUNT_OVERRIDABLE:
        if getattr(account, name) is not None:
            out[name] = Setting(getattr(account, name), f"account:{account.pk}", account.name)
    account.__dict__["_preloaded_settings"] = out
    return out


def _allow_unknown_setting(account: Account) -> Setting:
    return preloaded_settings(account)["allow_unknown_services"]


def _plan_text(chain: list[str], found_plan: Plan | None) -> str:
    if found_plan is None:
        walked = ", ".join(chain) if chain else "no plan"
        return f"not in any plan of the chain ({walked})"
    if chain and chain[0] != found_plan.name:
        return f"from plan {chain[0]}, inherited from {found_plan.name}"
    return f"from plan {found_plan.name}"


def _link_plans(plans: dict[int, Plan]):
    """Attach each plan's parent from ``plans`` so walking a chain costs no query."""
    for plan in plans.values():
        plan.parent = plans.get(plan.parent_id) if plan.parent_id else None


def _attach_plan(account: Account, plans: dict[int, Plan]):
    account.plan = plans.get(account.plan_id) if account.plan_id else None


def catalogue_q(service_id: int) -> Q:
    """Catalogue rows visible in a service: the global names and that service's own ``Apps: …``."""
    return Q(service__isnull=True) | Q(service_id=service_id)


def _row(obj, prefix: str) -> ServiceRow | None:
    kind = getattr(obj, f"{prefix}_type")
    if kind is None:
        return None
    return ServiceRow(kind, getattr(obj, f"{prefix}_interval"), getattr(obj, f"{prefix}_cost") or "")


# --- the kernel's loader: one account's chain, one service name ------------------------------------

@dataclass
class ChainLink:
    account: Account
    resolution: Resolution


@dataclass
class Chain:
    """An account and its ancestors (top first, the account last), each with its resolution."""

    links: list[ChainLink]
    catalogue_type: str | None
    timezone: str

    @property
    def account(self) -> Account:
        return self.links[-1].account

    @property
    def resolution(self) -> Resolution:
        return self.links[-1].resolution

    @property
    def top(self) -> Account:
        return self.links[0].account


def load_chain(account: Account, name: str) -> Chain:
    """The account's chain resolved for ``name`` in two queries, whatever the tree depth.

    1. The accounts of the chain, each with its override row for ``name`` (a filtered join) and
       the catalogue type of ``name`` (a subquery).
    2. The service's plans, each with its row for ``name``.
    """
    ids = account.ancestor_ids() + [account.pk]
    catalogue = CatalogueService.objects.filter(catalogue_q(account.service_id), name=name)
    accounts = list(
        Account.objects.filter(pk__in=ids)
        .annotate(ov=FilteredRelation("service_overrides", condition=Q(service_overrides__name=name)))
        .annotate(ov_type=F("ov__type"), ov_interval=F("ov__interval"), ov_cost=F("ov__cost_table"),
                  catalogue_type=Subquery(catalogue.values("type")[:1]))
        .order_by("depth")
    )
    plans = {
        p.pk: p for p in Plan.objects.filter(service_id=account.service_id)
        .annotate(row=FilteredRelation("services", condition=Q(services__name=name)))
        .annotate(row_type=F("row__type"), row_interval=F("row__interval"), row_cost=F("row__cost_table"))
    }
    _link_plans(plans)
    rows_by_plan = {pk: row for pk, p in plans.items() if (row := _row(p, "row")) is not None}
    top = accounts[0]
    no_plan = top.plan_id is None
    links = []
    for acc in accounts:
        _attach_plan(acc, plans)
        links.append(ChainLink(acc, _resolve(acc, name, catalogue_type=acc.catalogue_type,
                                             override=_row(acc, "ov"), rows_by_plan=rows_by_plan,
                                             no_plan=no_plan)))
    return Chain(links, top.catalogue_type, top.timezone)


# --- one account, every service -------------------------------------------------------------------

class ServiceIndex:
    """Every plan of one service with all its rows, the catalogue, and overrides of some accounts."""

    def __init__(self, service_id: int, account_ids=None):
        """``account_ids``: whose overrides to load; None loads every override of the service (one
        query by service, where a list of 100,000 ids would make a huge ``IN``)."""
        self.plans = {p.pk: p for p in Plan.objects.filter(service_id=service_id)}
        _link_plans(self.plans)
        self.rows: dict[str, dict[int, ServiceRow]] = defaultdict(dict)  # name → plan id → row
        for plan_id, name, kind, interval, cost in PlanService.objects.filter(plan__service_id=service_id) \
                .values_list("plan_id", "name", "type", "interval", "cost_table"):
            self.rows[name][plan_id] = ServiceRow(kind, interval, cost)
        self.overrides: dict[int, dict[str, ServiceRow]] = defaultdict(dict)
        overrides = (AccountServiceOverride.objects.filter(account__service_id=service_id) if account_ids is None
                     else AccountServiceOverride.objects.filter(account_id__in=list(account_ids)))
        for account_id, name, kind, interval, cost in overrides.values_list("account_id", "name", "type", "interval",
                                                                 "cost_table"):
            self.overrides[account_id][name] = ServiceRow(kind, interval, cost)
        self.catalogue = dict(CatalogueService.objects.filter(catalogue_q(service_id))
                              .values_list("name", "type"))

    def attach_plan(self, account: Account) -> Account:
        """Give ``account`` its plan with the parent chain linked, so its settings cost no query."""
        _attach_plan(account, self.plans)
        return account

    def resolve(self, account: Account, name: str, no_plan: bool) -> Resolution:
        _attach_plan(account, self.plans)
        return _resolve(account, name, catalogue_type=self.catalogue.get(name),
                        override=self.overrides[account.pk].get(name), rows_by_plan=self.rows.get(name, {}),
                        no_plan=no_plan)


def _top_has_plan(account: Account) -> bool:
    if account.is_top:
        return account.plan_id is not None
    return Account.objects.filter(pk=account.service_id, plan__isnull=False).exists()


def resolve_service(account: Account, name: str) -> Resolution:
    return load_chain(account, name).resolution


def resolve_services(account: Account) -> list[Resolution]:
    """Every catalogue service of the account's service, plus any overridden name, resolved."""
    index = ServiceIndex(account.service_id, [account.pk])
    no_plan = not _top_has_plan(account)
    names = sorted(set(index.catalogue) | set(index.overrides[account.pk]))
    return [index.resolve(account, name, no_plan) for name in names]


def available_services(accounts) -> dict[int, set[str]]:
    """Per account, the names whose position 1 is allowed (SPEC §8.6), in a fixed number of queries.

    Allowed means: the account's own resolution allows position 1, and no ancestor that has a
    table for the name denies position 1 (an ancestor's limit caps its whole subtree). Balance and
    blocking are ignored. ``accounts`` must belong to one service.
    """
    accounts = list(accounts)
    if not accounts:
        return {}
    service_ids = {a.service_id for a in accounts}
    if len(service_ids) != 1:
        raise ValueError("available_services() takes accounts of one service.")
    service_id = service_ids.pop()
    ancestor_ids = {pk for a in accounts for pk in a.ancestor_ids()}
    known = {a.pk: a for a in accounts}
    missing = ancestor_ids - set(known)
    if missing:
        known.update({a.pk: a for a in Account.objects.filter(pk__in=missing)})
    index = ServiceIndex(service_id, list(known))
    top = known.get(service_id)
    no_plan = top.plan_id is None
    names = set(index.catalogue)
    allowed_by: dict[int, set[str]] = {}

    def allowed_names(acc: Account) -> set[str]:
        if acc.pk not in allowed_by:
            allowed_by[acc.pk] = {n for n in names | set(index.overrides[acc.pk])
                                  if index.resolve(acc, n, no_plan).allowed}
        return allowed_by[acc.pk]

    def denied_names(acc: Account) -> set[str]:
        """Names the account has a table for that denies position 1 (a cap on its subtree)."""
        return {n for n in names | set(index.overrides[acc.pk])
                if (r := index.resolve(acc, n, no_plan)).resolves and not r.allowed}

    denied_by = {pk: denied_names(known[pk]) for pk in ancestor_ids}
    result = {}
    for acc in accounts:
        capped = set().union(*(denied_by[pk] for pk in acc.ancestor_ids())) if acc.ancestor_ids() else set()
        result[acc.pk] = allowed_names(acc) - capped
    return result
