"""Every read of codes, the code log and notices that an interface needs, scoped (SPEC §8.1, §8.5).

Visibility of a code follows its holder (``shared_with``, or the top account): an operator sees a
code whose holder lies in its subtree: its dealer branch (``holder_branch``), narrowed by a prefix
match on ``holder_path`` below the first level. Restricted distributors
see no codes at all (they only apply codes by hand).
"""

import re
from datetime import datetime, timedelta

from django.db.models import BigIntegerField, Case, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Cast

from apps.accounts.rights import may_use_codes_window, sees_whole_service
from apps.core import clock
from apps.core.scoping import in_scope, is_platform
from apps.units.queries import scoped_units

from .models import ActivationCode, CodeAction, CodeEvent, CodeStatus, ExpiryNotice, NoticeDelivery, branch_of

_CODE_NOISE = re.compile(r"[\s\-]+")
_CODE_TEXT = re.compile(r"^[0-9a-f]{32}$")


def normalize_code(text) -> str | None:
    """A typed code in canonical form (lowercase, no spaces or dashes), or None if it cannot be one."""
    if not isinstance(text, str):
        return None
    cleaned = _CODE_NOISE.sub("", text).lower()
    return cleaned if _CODE_TEXT.match(cleaned) else None


def bigint(value: int) -> Cast:
    """An id as a ``bigint`` literal. Django binds an int as ``integer``; a b-tree compares the two, but the
    GiST indexes of ``btree_gist`` (the codes window's, migration 0007) only use ``bigint = bigint``: with a
    plain int the service and the branch were a filter on every row of the index, not a condition of it."""
    return Cast(Value(value), BigIntegerField())


def _service_rows(qs: QuerySet, user) -> tuple[QuerySet, bool]:
    """The rows of the user's service and whether that is already its whole view (platform, top user,
    or nothing at all); otherwise the caller narrows them to the distributor's branch."""
    if not (user and user.is_authenticated and user.is_active):
        return qs.none(), True
    if is_platform(user):
        return qs, True
    if not may_use_codes_window(user) or user.account is None:
        return qs.none(), True
    qs = qs.filter(service_id=bigint(user.account.service_id))
    return qs, sees_whole_service(user)


def codes_visible_to(user) -> QuerySet:
    """Codes held in the user's subtree (all of its service for a top user, everything for the platform)."""
    qs, whole = _service_rows(ActivationCode.objects.all(), user)
    if whole:
        return qs
    account = user.account
    qs = qs.filter(holder_branch=bigint(branch_of(account.path)))
    # At the first level the branch is exactly the subtree; deeper, the branch's rows are narrowed.
    return qs if account.depth <= 1 else qs.filter(holder_path__startswith=account.path)


UNIT_SEARCH_LIMIT = 1000


def unit_ids_matching(user, term: str) -> list[int]:
    """Ids of the user's units whose name contains ``term`` or whose IMEI starts with it (at most
    1,000), for the codes window's search.

    Read as a list first, on purpose: as a subquery, PostgreSQL walks the window's index newest
    first and probes every code against it (seconds at a million codes); a short list of ids goes
    through the index on ``unit_id`` and sorts a handful of rows instead.
    """
    return list(scoped_units(user).filter(Q(name__icontains=term) | Q(unique_id__istartswith=term))
                .order_by().values_list("pk", flat=True)[:UNIT_SEARCH_LIMIT])


def live_q(now: datetime, prefix: str = "") -> Q:
    """Q for "this code is live at ``now``": stored active and its time not yet up."""
    return Q(**{f"{prefix}status": CodeStatus.ACTIVE, f"{prefix}expires_at__gt": now})


def expired_q(now: datetime) -> Q:
    return Q(status=CodeStatus.EXPIRED) | Q(status__in=[CodeStatus.ACTIVE, CodeStatus.QUEUED], expires_at__lte=now)


def not_expired_q(now: datetime) -> Q:
    """``~expired_q(now)`` said positively: new, or active or queued with time left (active and queued codes
    always have an expiry: ``code_clock_matches_status``). The same rows, in the words of the partial
    indexes, so PostgreSQL estimates each part of the window rather than a negated ``OR``."""
    return Q(status=CodeStatus.NEW) | Q(status__in=[CodeStatus.ACTIVE, CodeStatus.QUEUED], expires_at__gt=now)


def queued_q(now: datetime) -> Q:
    """Q for "queued at ``now``": waiting on a unit, its planned start (the live code's expiry) ahead."""
    return Q(status=CodeStatus.QUEUED, activated_at__gt=now)


def started_queued_q(now: datetime) -> Q:
    """Q for a queued code whose planned start has passed before the sweep started it: it reads as
    active on the unit it waited on (SPEC §9.8)."""
    return Q(status=CodeStatus.QUEUED, activated_at__lte=now, expires_at__gt=now)


def filter_state(qs: QuerySet, state: str, now: datetime) -> QuerySet:
    """Filter by derived state: ``new``, ``queued``, ``active`` (assigned or not), ``active_assigned``,
    ``active_unassigned`` or ``expired``."""
    if state == CodeStatus.NEW:
        return qs.filter(status=CodeStatus.NEW)
    if state == CodeStatus.QUEUED:
        return qs.filter(queued_q(now))
    if state == CodeStatus.ACTIVE:
        return qs.filter(live_q(now) | started_queued_q(now))
    if state == "active_assigned":
        return qs.filter(Q(live_q(now), unit__isnull=False) | started_queued_q(now))
    if state == "active_unassigned":
        return qs.filter(live_q(now), unit__isnull=True)
    if state == CodeStatus.EXPIRED:
        return qs.filter(expired_q(now))
    return qs


def current_codes_for_units(unit_ids, *, now: datetime | None = None) -> dict[int, ActivationCode]:
    """The code each unit shows on its page, in one query: its live code, else the last expired code
    still on it (until the daily clear). Units without either are absent from the answer. A queued code
    whose planned start has passed counts as on its unit (SPEC §9.8): it is the live one."""
    ids = list(unit_ids)
    if not ids:
        return {}
    now = now or clock.now()
    rows = (ActivationCode.objects.filter(Q(unit_id__in=ids, cleared_at__isnull=True)
                                          | Q(queued_on_id__in=ids, status=CodeStatus.QUEUED, activated_at__lte=now))
            .annotate(live_first=Case(When(status__in=[CodeStatus.ACTIVE, CodeStatus.QUEUED], expires_at__gt=now,
                                           then=Value(0)), default=Value(1), output_field=IntegerField()))
            .order_by("live_first", "-expires_at"))
    out: dict[int, ActivationCode] = {}
    for code in rows:
        out.setdefault(code.unit_id_at(now), code)
    return out


def queued_codes_for_units(unit_ids, *, now: datetime | None = None) -> dict[int, ActivationCode]:
    """{unit id: its queued code} for the units that hold one (not yet started), in one query."""
    ids = list(unit_ids)
    if not ids:
        return {}
    now = now or clock.now()
    return {code.queued_on_id: code for code in ActivationCode.objects.filter(queued_q(now), queued_on_id__in=ids)}


def unit_code_history(unit_id: int, *, limit: int = 50) -> QuerySet:
    """The code events of one unit, newest first (the unit page's history)."""
    return CodeEvent.objects.filter(unit_id=unit_id).order_by("-at", "-id")[:limit]


def code_events_visible_to(user) -> QuerySet:
    """The code log an operator may read (SPEC §8.5): an event touching its subtree through the
    unit's account at that time or the code's holder before or after; ``generated`` only at the top."""
    qs, whole = _service_rows(CodeEvent.objects.all(), user)
    if whole:
        return qs
    path = user.account.path
    return qs.exclude(action=CodeAction.GENERATED).filter(
        Q(account_path__startswith=path) | Q(holder_path_before__startswith=path)
        | Q(holder_path_after__startswith=path))


def events_of_code(events: QuerySet, code_text: str) -> QuerySet:
    """The events of one code, typed loosely; none for text that cannot be a code. Matched on the
    code's id (the log's index), found through the unique code."""
    code = normalize_code(code_text)
    if code is None:
        return events.none()
    return events.filter(code_id__in=ActivationCode.objects.filter(code=code).values("pk"))


def filter_code_events(events: QuerySet, *, since=None, until=None, service_id=None, action=None, account_id=None,
                       unit=None, code=None) -> QuerySet:
    """The code log's filters, for the report page and the API alike: a time range (``since``
    included, ``until`` excluded), the service, the action, the account, the unit (an id, or on the
    page a name to search) and the code (typed loosely). ``None`` or empty: not filtered."""
    if since is not None:
        events = events.filter(at__gte=since)
    if until is not None:
        events = events.filter(at__lt=until)
    if service_id is not None:
        events = events.filter(service_id=service_id)
    if action:
        events = events.filter(action=action)
    if account_id is not None:
        events = events.filter(account_id=account_id)
    if isinstance(unit, int):
        events = events.filter(unit_id=unit)
    elif unit:
        unit = unit.strip()
        events = events.filter(unit_id=int(unit)) if unit.isdigit() else events.filter(unit_name__icontains=unit)
    if code:
        events = events_of_code(events, code)
    return events


def notices_visible_to(user) -> QuerySet:
    """Notices set up in the user's subtree (a recipient-only role sees none to edit)."""
    qs = ExpiryNotice.objects.all()
    if is_platform(user):
        return qs
    if not may_use_codes_window(user) or user.account is None:
        return qs.none()
    return in_scope(qs, user, "author_account")


def concerned_codes(now: datetime, days_before: int, *, since: datetime | None = None) -> QuerySet:
    """Codes concerned by their own expiry: now < expires_at ≤ now + N days (SPEC §8.5), on a unit or
    not, swept or cleared or not. ``since`` (the previous run) pulls the lower bound back to it, so a
    code whose expiry passed while the job was down is still concerned once."""
    lower = min(since, now) if since is not None else now
    return ActivationCode.objects.filter(status__in=[CodeStatus.ACTIVE, CodeStatus.EXPIRED],
                                         expires_at__gt=lower, expires_at__lte=now + timedelta(days=days_before))


def open_deliveries_for(user, now: datetime) -> QuerySet:
    """What the banner shows this operator: "once" notices until dismissed, "repeat" notices while
    the code is still concerned."""
    if not (user and user.is_authenticated):
        return NoticeDelivery.objects.none()
    qs = (NoticeDelivery.objects.filter(recipient=user, code__expires_at__gt=now)
          .select_related("notice", "code"))
    return qs.filter(Q(notice__repeat=False, dismissed_at__isnull=True) | Q(notice__repeat=True)).order_by(
        "code__expires_at", "id")
