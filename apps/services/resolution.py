"""Which row of which plan (or override) governs a service for an account, and why (SPEC §2.2, §8.6).

Resolution order: the account's own override, else its plan's row, else the parent plan's,
recursively; not found anywhere: allowed at zero cost when the combined "allow unknown services"
is on, else denied. A top account without a plan denies everything in its service (``no_plan``).

The resolving itself is a pure function (``_resolve``) over rows loaded up front, so one account
and ten thousand accounts cost the same fixed number of queries:

- ``resolve_service`` / ``resolve_services``: one account, for interfaces that explain;
- ``resolutions`` / ``available_services``: many accounts of one service, for the discount module;
- ``load_chain``: one account and its ancestors for one name, for the kernel (1 query).
"""

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import lru_cache

from django.db import connection
from django.utils.translation import gettext
from django.db.models import Aggregate, Case, F, FilteredRelation, OuterRef, Q, Subquery, TextField, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import JSONObject

from apps.accounts.models import Account
from apps.core.errors import NotFound
from apps.core.statements import prepared
from apps.plans.cost_table import CostTable, CostTableError, parse
from apps.plans.inheritance import INHERITED_SETTINGS, Setting, combined_settings
from apps.plans.models import (
    AccountServiceOverride,
    Plan,
    PlanService,
    ResetInterval,
    ServiceType,
)

from apps.plans.models import CatalogueService

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
                          explanation=gettext("The service has no plan on its top account yet: everything is denied."))
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
            explanation=gettext("account override (table '%(table)s'); the plan would give: %(plan)s") % {
                "table": table.canonical or gettext("free, unlimited"), "plan": plan_text},
        )
    if found is not None:
        table = parsed_table(found.cost_table)
        allowed = table.allows(1)
        return Resolution(name, found.type, found.interval, table.canonical, table, PLAN, found_plan, chain,
                          allowed=allowed, reason=None if allowed else "service_denied",
                          explanation=gettext("%(plan)s; account override: none") % {"plan": plan_text})
    setting = _allow_unknown_setting(account)
    allowed = bool(setting.value)
    return Resolution(
        name, fallback_type, ResetInterval.NONE, "", parsed_table(""), UNKNOWN, None, chain,
        allowed=allowed, reason=None if allowed else "service_unknown",
        explanation=((gettext("%(plan)s; account override: none; unknown services are allowed free (setting from "
                              "%(source)s)") if allowed
                      else gettext("%(plan)s; account override: none; unknown services are denied (setting from "
                                   "%(source)s)")) % {"plan": plan_text, "source": setting.source_name}),
    )


def preloaded_settings(account: Account) -> dict[str, Setting]:
    """``combined_settings`` over the plan chain the caller already attached to ``account`` (no query).

    The kernel's fixed statement budget and the jobs walking 100,000 accounts cannot afford
    ``plan_chain``'s query per call, so the chain loaded once (``account.plan.parent…``) is handed to
    the one inheritance rule as ``plans_by_id``. Cached on the account object.
    """
    cached = account.__dict__.get("_preloaded_settings")
    if cached is not None:
        return cached
    plans, plan = {}, account.plan
    while plan is not None and plan.pk not in plans:
        plans[plan.pk] = plan
        plan = plan.parent
    out = combined_settings(account, plans_by_id=plans)
    account.__dict__["_preloaded_settings"] = out
    return out


def _allow_unknown_setting(account: Account) -> Setting:
    return preloaded_settings(account)["allow_unknown_services"]


def _plan_text(chain: list[str], found_plan: Plan | None) -> str:
    if found_plan is None:
        walked = ", ".join(chain) if chain else gettext("no plan")
        return gettext("not in any plan of the chain (%(chain)s)") % {"chain": walked}
    if chain and chain[0] != found_plan.name:
        return gettext("from plan %(plan)s, inherited from %(source)s") % {"plan": chain[0], "source": found_plan.name}
    return gettext("from plan %(plan)s") % {"plan": found_plan.name}


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


class _JSONArrayAgg(Aggregate):
    """The aggregated values as one JSON array text (``JSONB_AGG`` on PostgreSQL, whose jsonb Django
    reads as text; ``JSON_GROUP_ARRAY`` on SQLite)."""

    function = "JSONB_AGG"
    output_field = TextField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="JSON_GROUP_ARRAY", **extra_context)


# The plan columns resolution reads (``preloaded_settings`` included), in the model's field order as
# ``Model.from_db`` wants them; the other columns stay deferred.
_CHAIN_PLAN_FIELDS = tuple(f.attname for f in Plan._meta.concrete_fields
                           if f.attname in {"id", "service_id", "name", "parent_id", *INHERITED_SETTINGS})


def _service_plans_json(name: str) -> Subquery:
    """The account's service's plans, each with its row for ``name``, as one JSON array text."""
    per_plan = JSONObject(**{f: f for f in _CHAIN_PLAN_FIELDS}, row_type="row__type",
                          row_interval="row__interval", row_cost="row__cost_table")
    plans = (Plan.objects.filter(service_id=OuterRef("service_id"))
             .annotate(row=FilteredRelation("services", condition=Q(services__name=name)))
             .order_by().values("service_id").annotate(plans=_JSONArrayAgg(per_plan)).values("plans"))
    return Subquery(plans, output_field=TextField())


def _decode_plans(text: str | None) -> dict[int, Plan]:
    """Plans (settings through each field's ``to_python``: SQLite's JSON gives 0/1 for booleans),
    each with ``row_type``/``row_interval``/``row_cost`` set to its row for the name or None."""
    fields = {f.attname: f for f in Plan._meta.concrete_fields}
    plans = {}
    for item in json.loads(text or "[]", parse_float=Decimal):
        plan = Plan.from_db(Plan.objects.db, _CHAIN_PLAN_FIELDS,
                            [fields[f].to_python(item[f]) for f in _CHAIN_PLAN_FIELDS])
        plan.row_type, plan.row_interval, plan.row_cost = item["row_type"], item["row_interval"], item["row_cost"]
        plans[plan.pk] = plan
    return plans


def _chain_ids(account_id) -> RawSQL:
    """The ids of an account's chain (its ancestors and itself), read from its materialised path by
    the chain's own query: the kernel needs no earlier read of the account to know its ancestors."""
    table = Account._meta.db_table
    if connection.vendor == "postgresql":
        return RawSQL(f"SELECT unnest(string_to_array(btrim(chain_of.path, '/'), '/')::bigint[]) "
                      f"FROM {table} AS chain_of WHERE chain_of.id = %s", [account_id])
    return RawSQL(f"SELECT ids.value FROM {table} AS chain_of, "
                  f"json_each('[' || replace(trim(chain_of.path, '/'), '/', ',') || ']') AS ids "
                  f"WHERE chain_of.id = %s", [account_id])


def _chain_queryset(account_id, name: str):
    """The query of ``load_chain`` (see there)."""
    catalogue = CatalogueService.objects.filter(catalogue_q(OuterRef("service_id")), name=name)
    return (
        Account.objects.filter(pk__in=_chain_ids(account_id))
        .annotate(ov=FilteredRelation("service_overrides", condition=Q(service_overrides__name=name)))
        .annotate(ov_type=F("ov__type"), ov_interval=F("ov__interval"), ov_cost=F("ov__cost_table"),
                  catalogue_type=Subquery(catalogue.values("type")[:1]),
                  plans_json=Case(When(depth=0, then=_service_plans_json(name)), output_field=TextField()))
        .order_by("depth")
    )


# Building and compiling ``_chain_queryset`` took most of a consume's time in Python, for a
# statement that differs between calls only by its parameters. It is compiled once per database
# with marker values, whose places in the parameter list are then filled with each call's account
# id and name; every other parameter is a constant of the query.
_NAME_MARKER = "\x00chain-name\x00"
_ID_MARKER = -7_302_000_001
_chain_statements: dict[str, tuple[str, list[str]]] = {}  # by database alias: SQL, "id"/"name" per parameter


def _chain_statement(account_id: int, name: str) -> tuple[str, list]:
    """SQL and parameters of ``_chain_queryset(account_id, name)``, compiled once per database (PostgreSQL)."""
    if connection.alias not in _chain_statements:
        sql, params = _chain_queryset(_ID_MARKER, _NAME_MARKER).query.sql_with_params()
        places = []
        for param in params:
            if param == _NAME_MARKER:
                places.append(("name", None))
            elif param == _ID_MARKER:
                places.append(("id", None))
            elif isinstance(param, str) and _NAME_MARKER in param:
                raise RuntimeError("load_chain: the name is transformed in the query; it cannot be a marker")
            else:
                places.append(("constant", param))
        if places.count(("id", None)) != 1:
            raise RuntimeError("load_chain: the account id is not one parameter of its own")
        _chain_statements[connection.alias] = _with_constants_inlined(sql, places)
    sql, places = _chain_statements[connection.alias]
    values = {"name": name, "id": account_id}
    return sql, [values[place] for place in places]


def _with_constants_inlined(sql: str, places: list[tuple[str, object]]) -> tuple[str, list[str]]:
    """The statement with its constant parameters written in as literals (quoted by the database's own
    adapter, ``compose_sql``): what is left to send on each call is the account id and the name, where the
    JSON keys of the plans' subquery made 24 of the 28 parameters. Returns the SQL and the places left."""
    pieces, left, constants = [], [], iter(places)
    for piece in re.split(r"(%[s%])", sql):
        if piece != "%s":
            pieces.append(piece)
            continue
        place, value = next(constants)
        if place == "constant":
            pieces.append(connection.ops.compose_sql("%s", [value]).replace("%", "%%"))
        else:
            pieces.append("%s")
            left.append(place)
    return "".join(pieces), left


_CHAIN_FIELDS = tuple(f.attname for f in Account._meta.concrete_fields)
_CHAIN_ANNOTATIONS = ("ov_type", "ov_interval", "ov_cost", "catalogue_type", "plans_json")


def _chain_accounts(account_id: int, name: str) -> list[Account]:
    """The rows of ``_chain_queryset(account_id, name)`` as accounts, root first. On PostgreSQL the statement
    compiled once (``_chain_statement``), prepared once per connection (``apps.core.statements``), and its
    plain rows: the account's columns in the model's order, then the annotations, none of which needs a
    converter there (``tests/services/test_resolution.py`` checks values and types against the queryset's).
    ``Model.objects.raw`` would map the same rows, at twice the cost of the statement itself. Elsewhere the
    queryset."""
    if connection.vendor != "postgresql":
        return list(_chain_queryset(account_id, name))
    sql, params = _chain_statement(account_id, name)
    with connection.cursor() as cursor:
        cursor.execute(prepared(sql), params)
        rows = cursor.fetchall()
    size = len(_CHAIN_FIELDS)
    accounts = []
    for row in rows:
        account = Account.from_db(connection.alias, _CHAIN_FIELDS, row[:size])
        for attribute, value in zip(_CHAIN_ANNOTATIONS, row[size:], strict=True):
            setattr(account, attribute, value)
        accounts.append(account)
    return accounts


def load_chain(account_id: int, name: str) -> Chain:
    """The account's chain resolved for ``name`` in one query, whatever the tree depth: the
    accounts of the chain (found from the account's path in the same query), each with its override
    row for ``name`` (a filtered join) and the catalogue type of ``name`` (a subquery); the top
    account's row also carries the service's plans with their rows for ``name`` (a JSON subquery).
    One statement, where reading the account first, then its chain, then the plans took three (SPEC
    §8.3's budget of 5 for a whole consume). ``NotFound`` when there is no such account."""
    accounts = _chain_accounts(account_id, name)
    if not accounts or accounts[-1].pk != account_id:
        raise NotFound(gettext("Not found."))
    top = accounts[0]
    plans = _decode_plans(top.plans_json)
    _link_plans(plans)
    rows_by_plan = {pk: row for pk, p in plans.items() if (row := _row(p, "row")) is not None}
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
    """Every plan of one service with its rows, the catalogue, and overrides of some accounts.

    ``resolve`` memoises: a resolution depends on the account only through its plan, its override
    row for the name and (for an unknown name) its own "allow unknown services" value, so accounts
    sharing those share one ``Resolution`` (10,000 accounts on a few plans resolve a handful of times).
    """

    def __init__(self, service_id: int, account_ids=None, names=None):
        """``account_ids``: whose overrides to load; None loads every override of the service (one
        query by service, where a list of 100,000 ids would make a huge ``IN``). ``names``: load only
        the plan rows and overrides of these names (None: every name)."""
        self.plans = {p.pk: p for p in Plan.objects.filter(service_id=service_id)}
        _link_plans(self.plans)
        rows = PlanService.objects.filter(plan__service_id=service_id)
        overrides = (AccountServiceOverride.objects.filter(account__service_id=service_id) if account_ids is None
                     else AccountServiceOverride.objects.filter(account_id__in=list(account_ids)))
        if names is not None:
            names = list(names)
            rows, overrides = rows.filter(name__in=names), overrides.filter(name__in=names)
        self.rows: dict[str, dict[int, ServiceRow]] = defaultdict(dict)  # name → plan id → row
        for plan_id, name, kind, interval, cost in rows.values_list("plan_id", "name", "type", "interval",
                                                                    "cost_table"):
            self.rows[name][plan_id] = ServiceRow(kind, interval, cost)
        self.overrides: dict[int, dict[str, ServiceRow]] = defaultdict(dict)
        for account_id, name, kind, interval, cost in overrides.values_list("account_id", "name", "type", "interval",
                                                                             "cost_table"):
            self.overrides[account_id][name] = ServiceRow(kind, interval, cost)
        self.catalogue = dict(CatalogueService.objects.filter(catalogue_q(service_id))
                              .values_list("name", "type"))
        self._resolved: dict[tuple, Resolution] = {}

    def attach_plan(self, account: Account) -> Account:
        """Give ``account`` its plan with the parent chain linked, so its settings cost no query."""
        _attach_plan(account, self.plans)
        return account

    def names_for(self, account: Account) -> set[str]:
        """The catalogue's names plus any the account overrides."""
        return set(self.catalogue) | set(self.overrides.get(account.pk, ()))

    def resolve(self, account: Account, name: str, no_plan: bool) -> Resolution:
        _attach_plan(account, self.plans)
        override = self.overrides.get(account.pk, {}).get(name)
        # The explanation of an unknown name names the account when it sets "allow unknown" itself.
        own_setting = account.pk if account.allow_unknown_services is not None else None
        key = (name, account.plan_id, override, no_plan, own_setting)
        resolution = self._resolved.get(key)
        if resolution is None:
            resolution = self._resolved[key] = _resolve(
                account, name, catalogue_type=self.catalogue.get(name), override=override,
                rows_by_plan=self.rows.get(name, {}), no_plan=no_plan)
        return resolution


def _top_has_plan(account: Account) -> bool:
    if account.is_top:
        return account.plan_id is not None
    return Account.objects.filter(pk=account.service_id, plan__isnull=False).exists()


def resolve_service(account: Account, name: str) -> Resolution:
    return load_chain(account.pk, name).resolution


def resolve_services(account: Account) -> list[Resolution]:
    """Every catalogue service of the account's service, plus any overridden name, resolved."""
    index = ServiceIndex(account.service_id, [account.pk])
    no_plan = not _top_has_plan(account)
    return [index.resolve(account, name, no_plan) for name in sorted(index.names_for(account))]


# --- many accounts of one service, set-based ----------------------------------------------------------

def _capped(own: Resolution, ancestor: Account, cap: Resolution) -> Resolution:
    """``own`` (allowed) denied by an ancestor's table that denies position 1 (a cap on its subtree)."""
    return replace(own, allowed=False, reason="limit_reached",
                   explanation=gettext("%(own)s; denied above by account '%(account)s': %(cap)s") % {
                       "own": own.explanation, "account": ancestor.name, "cap": cap.explanation})


def resolutions(accounts, names=None) -> dict[tuple[int, str], Resolution]:
    """``{(account id, name): Resolution}`` for many accounts of one service, in a fixed number of
    queries (SPEC §8.6: the discount's Details reuse these explanations).

    Each is the account's own resolution, except where it allows position 1 and an ancestor that
    has a table for the name denies position 1: the kernel would refuse with ``limit_reached``, so
    the answer is then a denial naming that ancestor (the nearest one, as the kernel checks up the
    tree). Balance and blocking are ignored. ``names``: the names to resolve (None: the catalogue's
    and every overridden name); asking only for what is needed is what makes 10,000 accounts cheap.
    """
    accounts = list(accounts)
    if not accounts:
        return {}
    service_ids = {a.service_id for a in accounts}
    if len(service_ids) != 1:
        raise ValueError("resolutions() takes accounts of one service.")
    service_id = service_ids.pop()
    names = None if names is None else tuple(dict.fromkeys(names))
    known = {a.pk: a for a in accounts}
    ancestor_ids = {pk for a in accounts for pk in a.ancestor_ids()}
    missing = ancestor_ids - set(known)
    if missing:
        known.update({a.pk: a for a in Account.objects.filter(pk__in=missing)})
    index = ServiceIndex(service_id, names=names)
    no_plan = known[service_id].plan_id is None  # the top account is every account's ancestor
    wanted = (lambda acc: names) if names is not None else index.names_for
    caps: dict[int, dict[str, Resolution]] = {}
    for pk in ancestor_ids:
        ancestor = known[pk]
        caps[pk] = {name: r for name in wanted(ancestor)
                    if (r := index.resolve(ancestor, name, no_plan)).resolves and not r.allowed}
    result = {}
    for acc in accounts:
        capping = [pk for pk in reversed(acc.ancestor_ids()) if caps[pk]]  # nearest first
        for name in wanted(acc):
            own = index.resolve(acc, name, no_plan)
            if own.allowed:
                cap_holder = next((pk for pk in capping if name in caps[pk]), None)
                if cap_holder is not None:
                    own = _capped(own, known[cap_holder], caps[cap_holder][name])
            result[(acc.pk, name)] = own
    return result


def available_services(accounts, names=None) -> dict[int, set[str]]:
    """Per account, the names whose position 1 is allowed (SPEC §8.6), in a fixed number of queries.

    Allowed means what ``resolutions`` answers as allowed (the account's own resolution and no
    ancestor's cap). ``names`` narrows the names looked at (None: all); ``accounts`` must belong to
    one service.
    """
    accounts = list(accounts)
    available: dict[int, set[str]] = {a.pk: set() for a in accounts}
    for (pk, name), resolution in resolutions(accounts, names).items():
        if resolution.allowed:
            available[pk].add(name)
    return available
