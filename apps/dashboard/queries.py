"""The service at a glance (SPEC §9.4, §9.8 "Dashboard", "Forecast"): every read, set-based.

A ``Scope`` is what one viewer looks at: its service, its own account (the *root*: the chosen service's
top account for the platform operator) and whether that is the whole service. Every figure is an
aggregate over the viewer's scope, read with the same ``*_visible_to`` rules as the lists the figures
link to, so a figure and its filtered list always agree. The number of queries is fixed: it does not
grow with the number of codes, units or accounts (tests/dashboard/test_api_and_pages.py counts them).

The aggregates over the scope's codes, units and accounts (and the forecast's) are kept between two writes
(``memo``): every write that can move them records an event in the service's audit chain in its own
transaction (SPEC §9.2), so the chain's length is the data's version, and a page opened again before the
next write (or the next minute: "expiring within" moves with the clock) reads them from the cache instead of
aggregating the whole scope again (issue 16). The lowest balances and the discount are read every time.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db.models import CharField, Count, Exists, F, Max, OuterRef, Q, Value
from django.db.models.functions import Concat, StrIndex, Substr, TruncDate
from django.utils.translation import gettext as _

from apps.accounts import rights
from apps.accounts.models import Account, AuditChain, BillingMethod
from apps.accounts.queries import accounts_visible_to
from apps.codes import queries as code_queries
from apps.codes.models import ActivationCode, CodeStatus
from apps.core.errors import DoesNotExist, Forbidden, InvalidInput
from apps.core.scoping import is_platform
from apps.units.models import Unit
from apps.discounts import queries as discount_queries
from apps.plans.inheritance import ROOT_DEFAULTS
from apps.plans.models import Plan
from apps.services.queries import DAYS_WARNING_MARGIN, block_warnings

DEFAULT_DAYS, MAX_DAYS = 90, 366
EXPIRY_WINDOWS = (7, 30)
LOWEST_BALANCES = 10
DIRECT = "direct"  # the forecast's group of units below no first-level dealer (SPEC §9.8)


@dataclass(frozen=True)
class Scope:
    """What one viewer sees: ``root`` is its own account (the service's top account for the platform)."""

    user: object
    service: Account
    root: Account

    @property
    def whole_service(self) -> bool:
        return self.root.pk == self.service.pk

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.service.timezone)

    @property
    def own_account_id(self) -> int | None:
        """The viewer's own account (left out of the lowest balances); none for the platform operator."""
        return None if is_platform(self.user) else self.root.pk

    @cached_property
    def version(self) -> int:
        """The length of the service's audit chain (one indexed read, once a request): it moves with every
        write that can change a figure, in that write's transaction."""
        return AuditChain.objects.filter(chain=self.service.pk).values_list("seq", flat=True).first() or 0


# --- Kept between two writes ---------------------------------------------------------------------------------------

MEMO_SECONDS = 120  # an entry outlives its minute briefly at most; its key changes with every write anyway


def memo(scope: Scope, now: datetime, kind: str, compute, *parts):
    """``compute()`` for this scope, kept in the cache under the service's data version and the current minute.

    The key names what decides the answer: the service, the viewer's own account and how much the viewer sees
    (``rights.view_extent``: the platform, the whole service, a branch), the chain's length (any write since),
    the minute (the clock-relative figures), and the call's own ``parts``. Two requests between two writes in
    the same minute share one computation; a figure is never older than the last write, and at most a minute
    behind the clock (SPEC §9.4 links each figure to its live list)."""
    viewer = rights.view_extent(scope.user)
    minute = now.replace(second=0, microsecond=0).isoformat()
    key = ":".join(str(p) for p in ("dashboard", kind, scope.service.pk, scope.root.pk, viewer, scope.version,
                                    minute, *parts))
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, MEMO_SECONDS)
    return value


def services_for_chooser(user):
    """The services the platform operator may pick (every top account), by name."""
    return Account.objects.filter(parent__isnull=True).order_by("name", "pk") if is_platform(user) \
        else Account.objects.none()


def parse_id(value, name: str) -> int | None:
    """An id from a query string: None when absent, else ASCII digits (400 naming ``name`` otherwise)."""
    if value in (None, ""):
        return None
    text = str(value)
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise InvalidInput.field(name, _("An id is a whole number."))
    return int(text)


def scope_for(user, service_param=None) -> Scope:
    """The viewer's scope. The platform operator names the service (``service``: a top account id; 400
    ``invalid`` without one, 400 ``does_not_exist`` for an unknown one); the others get their own and
    any ``service`` given is ignored. A role without a dashboard gets 403."""
    if not rights.may_see_dashboard(user):
        raise Forbidden(_("Your role has no dashboard."), code="permission_denied")
    if is_platform(user):
        service_id = parse_id(service_param, "service")
        if service_id is None:
            raise InvalidInput.field("service", _("Pick a service (the id of its top account)."))
        service = Account.objects.filter(pk=service_id, parent__isnull=True).first()
        if service is None:
            raise DoesNotExist.field("service")
        return Scope(user=user, service=service, root=service)
    # The service read afresh (its settings decide the figures), the root from the operator's own account.
    service = Account.objects.get(pk=user.account.service_id)
    root = service if user.account_id == service.pk else user.account
    return Scope(user=user, service=service, root=root)


# --- The figures (SPEC §9.4, §9.8 "Dashboard") ------------------------------------------------------------------

def units_in_scope(scope: Scope):
    """Units of the viewer's subtree that are not archived (the units list's rows)."""
    units = Unit.objects.filter(archived_at__isnull=True, service_id=scope.service.pk)
    return units if scope.whole_service else units.filter(account__path__startswith=scope.root.path)


def codes_in_scope(scope: Scope):
    """Codes held in the viewer's subtree (the codes window's rows), of the scope's service only."""
    return code_queries.codes_visible_to(scope.user).filter(service_id=scope.service.pk)


def accounts_in_scope(scope: Scope):
    return accounts_visible_to(scope.user).filter(service_id=scope.service.pk)


def expiring_q(now: datetime, days: int) -> Q:
    """now < expires_at ≤ now + N days (SPEC §9.8): a live code, or a queued one, whose clock ends then."""
    return Q(expires_at__gt=now, expires_at__lte=now + timedelta(days=days))


def code_figures(scope: Scope, now: datetime, *, cap: int | None = None) -> dict[str, int]:
    """``new`` (queued codes excluded: they have their own state), ``on_unit``, ``running_unassigned``,
    ``queued``, ``expiring_7``, ``expiring_30``, with the window's state rules; two queries.

    The codes with a clock (active or queued, not yet ended) are one aggregate over the expiry index: their
    number is bounded by the units and the running stock. New codes are the bulk of a big service (800,000
    of a million), so they are counted alone; ``cap`` counts at most cap + 1 of them, as the lists' capped
    count does (the admin page shows "10,000+", like the list it links to)."""
    codes = codes_in_scope(scope)
    new = codes.filter(status=CodeStatus.NEW).order_by()
    on_unit = Q(code_queries.live_q(now), unit__isnull=False) | code_queries.started_queued_q(now)
    clocked = codes.filter(status__in=[CodeStatus.ACTIVE, CodeStatus.QUEUED], expires_at__gt=now).aggregate(
        on_unit=Count("pk", filter=on_unit),
        running_unassigned=Count("pk", filter=Q(code_queries.live_q(now), unit__isnull=True)),
        queued=Count("pk", filter=code_queries.queued_q(now)),
        **{f"expiring_{days}": Count("pk", filter=expiring_q(now, days)) for days in EXPIRY_WINDOWS},
    )
    return {"new": (new[:cap + 1] if cap is not None else new).count(), **clocked}


def unit_figures(scope: Scope) -> dict[str, int]:
    counts = units_in_scope(scope).aggregate(n_active=Count("pk", filter=Q(active=True)),
                                             n_inactive=Count("pk", filter=Q(active=False)))
    return {"active": counts["n_active"], "inactive": counts["n_inactive"]}


def blocking_soon_ids(accounts, now: datetime) -> list[int]:
    """The accounts of ``accounts`` (a queryset) predicted to block within 5 days, by the kernel's own
    warning (SPEC §8.3: ``services.queries.block_warnings``); blocked ones are not predicted."""
    ids = list(prediction_candidates(accounts.filter(blocked=False)).order_by().values_list("pk", flat=True))
    return sorted(block_warnings(ids, now)) if ids else []


def prediction_candidates(accounts):
    """The accounts of ``accounts`` the kernel's warning could name, narrowed in SQL before its per-account
    work (issue 15: that work over every account of a big service cost most of the home page).

    Exact, not a guess: the settings that decide a prediction come from the account's own overrides, its
    plan chain, or the defaults. When no plan, no account of the scope and no default turns blocking by
    balance on, only the days rule can warn, and it warns only where ``days − min_days ≤ 4``: so only
    accounts with ``days ≤ (the largest min_days any of them can have) + 4`` can be named. Two aggregate
    queries over the plans and the scope's accounts; the kernel then checks each candidate as before."""
    def rules(rows):
        return rows.aggregate(balance=Count("pk", filter=Q(block_by_balance=True)),
                              days=Count("pk", filter=Q(block_by_days=True)), min_days=Max("min_days"))

    plans, own = rules(Plan.objects.order_by()), rules(accounts.order_by())
    if ROOT_DEFAULTS["block_by_balance"] or plans["balance"] or own["balance"]:
        return accounts
    if not (ROOT_DEFAULTS["block_by_days"] or plans["days"] or own["days"]):
        return accounts.none()
    most = max(ROOT_DEFAULTS["min_days"], plans["min_days"] or 0, own["min_days"] or 0)
    return accounts.filter(days__lte=most + DAYS_WARNING_MARGIN)


def account_figures(scope: Scope, now: datetime) -> dict[str, int]:
    """``blocked``: accounts blocked themselves (not through an ancestor); ``blocking_soon``: not blocked,
    and the kernel warns they will be within 5 days."""
    accounts = accounts_in_scope(scope)
    return {"blocked": accounts.filter(blocked=True).count(), "blocking_soon": len(blocking_soon_ids(accounts, now))}


def lowest_balances(scope: Scope) -> list[dict]:
    """The ten lowest balances in scope, the viewer's own account left out: ``[{account, name, balance}]``."""
    accounts = accounts_in_scope(scope)
    if scope.own_account_id is not None:
        accounts = accounts.exclude(pk=scope.own_account_id)
    return [{"account": pk, "name": name, "balance": balance} for pk, name, balance in
            accounts.order_by("balance", "name", "pk").values_list("pk", "name", "balance")[:LOWEST_BALANCES]]


def discount_figures(scope: Scope, now: datetime) -> dict | None:
    """This month's discount for a top user (and the platform operator): the last saved day's applied value
    and the month's average so far, from the daily snapshots; None where the service has it off."""
    if not (scope.whole_service and scope.service.discount_enabled):
        return None
    service = scope.service
    saved = discount_queries.latest_snapshot(service)
    today = discount_queries.local_today(service, now)
    month = discount_queries.month_history(service, today.year, today.month)
    return {"applied": saved.applied if saved is not None else None, "month_average": month.average,
            "day": saved.day if saved is not None else None, "days": len(month.days)}


def dashboard(scope: Scope, now: datetime, *, cap: int | None = None) -> dict:
    """Every figure of SPEC §9.4 (the API's answer, exact; the admin page caps the new codes' count)."""
    figures = {"units": memo(scope, now, "units", lambda: unit_figures(scope)),
               "codes": memo(scope, now, "codes", lambda: code_figures(scope, now, cap=cap), cap),
               "accounts": memo(scope, now, "accounts", lambda: account_figures(scope, now)),
               "lowest_balances": lowest_balances(scope)}
    if scope.whole_service:
        figures["discount"] = discount_figures(scope, now)
    return figures


# --- The expiry forecast (SPEC §9.4, §9.8 "Forecast") ----------------------------------------------------------

@dataclass
class Forecast:
    """Units deactivating per local day: ``rows`` is ``[(day, total)]`` for every day of the range,
    ``groups`` the per-distributor counts (``{group key: {day: n}}``), ``names`` each group's label."""

    first_day: date
    days: int
    tz: ZoneInfo
    billed_by_codes: bool
    rows: list[tuple[date, int]] = field(default_factory=list)
    groups: dict[str, dict[date, int]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(n for _, n in self.rows)

    def group_order(self) -> list[str]:
        """Group keys, the most units first (ties by name); "direct" last."""
        keys = [k for k in self.groups if k != DIRECT]
        keys.sort(key=lambda k: (-sum(self.groups[k].values()), self.names[k].lower(), k))
        return [*keys, DIRECT] if DIRECT in self.groups else keys


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


def distributor_in_scope(scope: Scope, distributor_param) -> Account | None:
    """The ``distributor`` an operator narrows the forecast to: an account of its scope (400
    ``does_not_exist`` otherwise, the same answer for absent and out of scope)."""
    pk = parse_id(distributor_param, "distributor")
    if pk is None:
        return None
    account = accounts_in_scope(scope).filter(pk=pk).first()
    if account is None:
        raise DoesNotExist.field("distributor")
    return account


def forecast(scope: Scope, now: datetime, *, days: int = DEFAULT_DAYS, distributor: Account | None = None) -> Forecast:
    """For each local day from today (the service's zone) for ``days`` days, the units that will be
    deactivated that day unless a code is added: the day its live code ends, or, when a code is queued
    on it, the day the queued code ends. Grouped by the dealer child of the viewer's own account on the
    unit's path ("direct" for units below no such dealer). Two queries whatever the data and N: the counts, and
    the dealers' names.

    Only services billed by codes have code expiries that deactivate units; under monthly billing every
    day is 0 (``billed_by_codes`` False, so pages can say why)."""
    tz = scope.tz
    today = now.astimezone(tz).date()
    first, end_day = today, today + timedelta(days=days)
    result = Forecast(first_day=first, days=days, tz=tz,
                      billed_by_codes=scope.service.billing_method == BillingMethod.ACTIVATION_CODES)
    counts: dict[tuple[date, str], int] = {}
    if result.billed_by_codes:
        end = local_midnight(end_day, tz)
        counts = memo(scope, now, "forecast", lambda: _deactivations(scope, now, end, distributor),
                      days, distributor.pk if distributor is not None else "")
    dealers = {str(pk): name for pk, name in Account.objects.filter(parent_id=scope.root.pk, dealer_rights=True)
               .values_list("pk", "name")} if result.billed_by_codes else {}
    per_day: dict[date, int] = defaultdict(int)
    for (day, segment), n in counts.items():
        key = segment if segment in dealers else DIRECT
        result.groups.setdefault(key, defaultdict(int))[day] += n
        per_day[day] += n
    result.names = {key: dealers.get(key, _("Direct")) for key in result.groups}
    result.rows = [(first + timedelta(days=i), per_day.get(first + timedelta(days=i), 0)) for i in range(days)]
    return result


def _segment(path: str, cut: int):
    """The first path segment below the first ``cut`` characters of the account path ``path`` (a field):
    the id of the viewer's child on the way to the account, as text; "" for the viewer's own account."""
    rest = Substr(F(path), cut + 1)
    return Substr(rest, 1, StrIndex(Concat(rest, Value("/")), Value("/")) - 1, output_field=CharField())


def _deactivations(scope: Scope, now: datetime, end: datetime, distributor: Account | None) -> dict:
    """``{(local day, first path segment below the root): units}`` in one aggregate query.

    A unit's last planned code is its queued code when it has one (stored ``queued``; once its planned start
    has passed it is the live one: SPEC §9.8), else its live code. So the rows are the queued codes, and the
    live codes on a unit that has none queued; each unit once. Each half is grouped in SQL by (local day,
    segment of the unit account's path below the viewer's own account): a few thousand rows at most
    (days × first-level accounts) whatever the number of units, joined together with UNION ALL. Two simple
    shapes rather than one OR over both (which PostgreSQL misestimated into a sort on disk)."""
    queued_behind = ActivationCode.objects.filter(queued_on_id=OuterRef("unit_id"), status=CodeStatus.QUEUED)
    window = ActivationCode.objects.filter(service_id=scope.service.pk, expires_at__gt=now, expires_at__lt=end)
    day = TruncDate("expires_at", tzinfo=scope.tz)
    cut = len(scope.root.path)
    narrow = distributor.path if distributor is not None else (None if scope.whole_service else scope.root.path)
    # A subtree: the units of its accounts only, as a semi-join (its few units lead, not the service's codes).
    accounts = Account.objects.filter(service_id=scope.service.pk, path__startswith=narrow).values("pk") \
        if narrow is not None else None
    halves = []
    for rows, unit in ((window.filter(status=CodeStatus.ACTIVE, unit__isnull=False).filter(~Exists(queued_behind)),
                        "unit"),
                       (window.filter(status=CodeStatus.QUEUED), "queued_on")):
        if accounts is not None:
            rows = rows.filter(**{f"{unit}__account_id__in": accounts})
        halves.append(rows.annotate(day=day, segment=_segment(f"{unit}__account__path", cut))
                      .order_by().values("day", "segment").annotate(n=Count("*")).values_list("day", "segment", "n"))
    counts: dict[tuple[date, str], int] = defaultdict(int)
    for day_, segment, n in halves[0].union(halves[1], all=True):
        counts[(day_, segment)] += n
    return counts
