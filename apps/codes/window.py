"""The codes window's first pages at millions of codes (issue 16): index reads merged, not one walk.

The window hides expired codes by default. A code whose expiry has passed but which the sweep has not
reached yet is still stored ``active``: one b-tree ordered by creation would walk past every such code
(300,000 of them behind a late sweep) before finding a page. So the default view and every state and
"assigned" filter read disjoint parts (``streams_for``), each from an index that holds only its kind, and
merge them:

- parts without a clock (new codes, swept expired codes, everything) newest first from a partial b-tree;
- parts with a clock (live, on a unit, on no unit, queued, due) newest first from a GiST index on (service,
  branch, expiry or planned start, …, created_at) searched nearest-first to a far future instant: PostgreSQL
  skips whole subtrees whose expiries (or starts) are out of range, so due codes cost nothing.

Each part is read up to the page's last row (ids and creation times only), in the page's order
``-created_at, id`` (ties on the creation time in id order); the merged slice names the page's rows, read
with their related rows by id. The capped count adds the parts' capped counts. The parts start from the list
without the filters they restate (``WindowChangeList``), so their SQL is their index's condition alone.
Elsewhere (SQLite) every part is read through the b-tree; the answer is the same rows.
"""

from datetime import UTC, datetime
from functools import lru_cache

from django.contrib.admin.utils import build_q_object_from_lookup_parameters
from django.db import connection
from django.db.models import DurationField, F, Func, Q, Subquery, Value

from apps.core.admin import CappedChangeList, CappedPaginator

from .models import ActivationCode, CodeStatus

FAR_FUTURE = datetime(3000, 1, 1, tzinfo=UTC)
# Filters under which no new code can match (a new code has no clock, no unit, no activation).
CLOCK_ONLY_PARAMS = ("expiring_within", "activated_at__from", "activated_at__to", "expires_at__from",
                     "expires_at__to")


class Distance(Func):
    """``created_at <-> far future`` (``btree_gist``): nearest first is newest first."""

    arg_joiner = " <-> "
    template = "(%(expressions)s)"
    output_field = DurationField()


def streams_for(params, now, *, whole_service: bool) -> list[tuple[Q, bool]] | None:
    """The disjoint parts a window request reads, each ``(condition, nearest first)``; None for the plain
    read (a search, another sort order, a cursor page, one account's shared codes).

    Each condition restates exactly what the state and "assigned" filters ask, in the words of one partial
    index (migrations 0007 and 0009), so that PostgreSQL reads that index and nothing else:

    - new codes: ``code_service_new`` / ``code_branch_status_created``, newest first (b-tree);
    - live codes (active or queued, time left): ``code_live_knn``;
    - active on a unit: ``code_on_unit_knn``; active on no unit: ``code_free_knn``;
    - queued, waiting or started before the sweep started them: ``code_queued_knn`` (by planned start);
    - due codes the sweep has not reached (active or queued, time up): ``code_live_knn``, expiry ≤ now;
    - expired codes (swept): ``code_service_expired`` / ``code_branch_status_created``, newest first.

    A code on a unit is stored active or expired (``code_clock_matches_status``), so "on a unit and not
    expired" is exactly "active on a unit with time left"; "on no unit and not expired" is new, active on no
    unit, or queued with time left."""
    if any(params.get(name) for name in ("q", "o", "cursor")):
        return None
    shared = params.get("shared_with", "")
    if shared and not (shared == "none" and whole_service):
        return None
    ticking = Q(expires_at__gt=now)
    new = Q(status=CodeStatus.NEW)
    live = Q(ticking, status__in=[CodeStatus.ACTIVE, CodeStatus.QUEUED])
    on_unit = Q(ticking, status=CodeStatus.ACTIVE, unit__isnull=False)
    free = Q(ticking, status=CodeStatus.ACTIVE, unit__isnull=True)
    waiting = Q(status=CodeStatus.QUEUED, activated_at__gt=now)  # its planned start ahead (so its expiry too)
    started = Q(status=CodeStatus.QUEUED, activated_at__lte=now, expires_at__gt=now)  # the sweep is late
    queued = Q(ticking, status=CodeStatus.QUEUED)
    due = Q(status__in=[CodeStatus.ACTIVE, CodeStatus.QUEUED], expires_at__lte=now)
    state = params.get("state", "")
    if state == "active":
        return [(on_unit, True), (free, True), (started, True)]
    if state == "active_assigned":
        return [(on_unit, True), (started, True)]
    if state == "active_unassigned":
        return [(free, True)]
    if state == "queued":
        return [(waiting, True)]
    # The expired codes: swept ones newest first from a b-tree, due ones from the live codes' GiST index.
    if state == "expired":
        return [(Q(status=CodeStatus.EXPIRED), False), (due, True)]
    # One b-tree part: read as the plain list is, but counted in the index's order (a count without order
    # may pick a scan of the whole table or branch that stops only at the cap).
    if state == "new":
        return [(new, False)]
    if state == "all":
        return [(Q(), False)]
    if state:
        return None
    assigned = params.get("assigned", "")
    if assigned == "yes":
        return [(on_unit, True)]
    if any(params.get(name) for name in CLOCK_ONLY_PARAMS):
        return [(live, True)] if assigned != "no" else [(free, True), (queued, True)]
    if assigned == "no":
        return [(new, False), (free, True), (queued, True)]
    return [(new, False), (live, True)]


# The request attribute through which ``WindowChangeList`` hands the paginator the list without the filters
# the streams restate (the admin builds the paginator from the filtered list alone).
STREAM_BASE = "codes_window_stream_base"


class RestatedByStreams:
    """A list filter whose condition every stream restates exactly (state, "assigned"): the streams are read
    without it, so each part's SQL is its index's condition alone. Stacked on the filter's own ``OR``s and
    negations, PostgreSQL's estimate of a part fell to a row or two and it chose a bitmap of every live code
    and a sort over the GiST index's nearest-first read (98–235 ms against 0.2 ms at 3,000,000 codes)."""


class WindowChangeList(CappedChangeList):
    """The changelist of the window: besides the filtered list (the actions, the plain read), the same list
    without the ``RestatedByStreams`` filters, which the paginator's parts start from."""

    def get_filters(self, request):
        filters = super().get_filters(request)
        self.remaining_lookup_params = filters[2]
        return filters

    def get_queryset(self, request, exclude_parameters=None):
        qs = super().get_queryset(request, exclude_parameters)
        if exclude_parameters is None:
            base = self.root_queryset
            for spec in self.filter_specs:
                narrowed = None if isinstance(spec, RestatedByStreams) else spec.queryset(request, base)
                base = base if narrowed is None else narrowed
            base = base.filter(build_q_object_from_lookup_parameters(self.remaining_lookup_params))
            setattr(request, STREAM_BASE, self.apply_select_related(base).order_by(*qs.query.order_by))
        return qs


@lru_cache(maxsize=1)
def page_row_fields() -> tuple[str, ...]:
    """What a window row shows (``ActivationCodeAdmin``'s columns): the code's own fields, and of its unit, the
    unit it is queued on, their accounts and the account it is shared with only the names and paths the cells
    and their labels read; a hundred rows then build their related instances from a few columns each."""
    own = [f.name for f in ActivationCode._meta.concrete_fields]
    related = ["unit__name", "unit__unique_id", "unit__account", "unit__account__name", "unit__account__path",
               "queued_on__name", "queued_on__unique_id", "queued_on__account", "queued_on__account__name",
               "queued_on__account__path", "shared_with__name", "shared_with__path"]
    return (*own, *related)


class WindowPaginator(CappedPaginator):
    """``CappedPaginator`` over the merged streams (module docstring); plain when ``streams`` is None.
    ``base``: the list without the filters the streams restate (``WindowChangeList``); the filtered list if
    not given."""

    def __init__(self, object_list, per_page, orphans=0, allow_empty_first_page=True, *, streams=None, base=None):
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.streams = streams
        self.base = object_list if base is None else base

    def _parts(self):
        postgres = connection.vendor == "postgresql"
        return [(self.base.filter(condition), nearest and postgres) for condition, nearest in self.streams]

    @property
    def count(self):
        if "_count" in self.__dict__:  # a property, not cached_property: the cache is kept by hand
            return self.__dict__["_count"]
        if self.streams is None:
            self.__dict__["_count"] = super().count
        else:
            # LIMIT cap + 1 each. The new codes are counted in the page's order (the b-tree that reads the page
            # stops at the cap, where an unordered count may pick a bitmap of the whole branch); the codes with
            # a clock without order, from the (service or branch, status, expires_at) b-trees alone.
            self.__dict__["_count"] = min(sum((part.order_by() if nearest else part)[: self.CAP + 1].count()
                                              for part, nearest in self._parts()), self.CAP + 1)
        return self.__dict__["_count"]

    @staticmethod
    def _ordered(part, nearest: bool):
        return part.annotate(_distance=Distance(F("created_at"), Value(FAR_FUTURE))).order_by("_distance") \
            if nearest else part

    def _slice(self, bottom: int, top: int):
        if self.streams is None:
            return super()._slice(bottom, top)
        if top <= bottom:  # an empty list's page
            return self.base.none()
        keys = []
        for part, nearest in self._parts():
            if not nearest:
                keys += part.values_list("created_at", "pk")[:top]
                continue
            # Nearest first orders by the creation time alone (a second key, the id, makes PostgreSQL sort every
            # live code instead), so the edge's ties are read whole: the first ``top`` rows, united with every
            # row created at the instant of the ``top``-th (none when the part has fewer rows). One query a part,
            # whatever the data: a page asks as many at a tenth as at the full data.
            ordered = self._ordered(part, nearest)
            edge = Subquery(ordered.values("created_at")[top - 1:top])
            ties = part.filter(created_at=edge).order_by().values_list("created_at", "pk")
            keys += ordered.values_list("created_at", "pk")[:top].union(ties)
        keys.sort(key=lambda row: row[1])
        keys.sort(key=lambda row: row[0], reverse=True)
        # The page's rows by id from the list the parts came from: the restated filters again would only make
        # PostgreSQL weigh their indexes against the primary key's.
        return self.base.filter(pk__in=[pk for _, pk in keys[bottom:top]]).only(*page_row_fields())
