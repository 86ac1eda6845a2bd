"""The codes window's first pages at millions of codes (issue 16): two index reads merged, not one walk.

The window hides expired codes by default. A code whose expiry has passed but which the sweep has not
reached yet is still stored ``active``: one b-tree ordered by creation would walk past every such code
(300,000 of them behind a late sweep) before finding a page. So the default view, and the states with a
running clock, read two streams, each from an index that holds only its kind, and merge them:

- the new codes (stored ``new``: no clock, never on a unit), newest first from the partial b-tree
  ``code_service_new`` (or ``code_branch_validity`` / ``code_branch_status_created`` in a branch);
- the live codes (stored ``active`` or ``queued`` with ``expires_at > now``), newest first from a GiST
  index on (service or branch, expires_at, created_at) searched nearest-first to a far future instant:
  PostgreSQL skips whole subtrees whose expiries are past, so due codes cost nothing.

Each stream is read up to the page's last row (ids and creation times only); the merged slice names the
page's rows, read with their related rows by id. Ties on the creation time at a stream's edge are read
whole, so the order is exactly ``-created_at, id`` as the plain list's. The capped count adds the two
streams' capped counts. Elsewhere (SQLite) the live stream is read through the b-tree; the answer is the
same rows.
"""

from datetime import UTC, datetime

from django.db import connection
from django.db.models import DurationField, F, Func, Q, Value

from apps.core.admin import CappedPaginator

from .models import CodeStatus

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
    read (expired codes, a search, another sort order, a cursor page, one account's shared codes).
    Each condition only restates what the state filter already asks, in the words of one partial index."""
    if any(params.get(name) for name in ("q", "o", "cursor")):
        return None
    shared = params.get("shared_with", "")
    if shared and not (shared == "none" and whole_service):
        return None
    ticking = Q(expires_at__gt=now)
    active, queued = Q(ticking, status=CodeStatus.ACTIVE), Q(ticking, status=CodeStatus.QUEUED)
    state = params.get("state", "")
    if state == "active":
        return [(active, True), (queued, True)]
    if state == "active_assigned":
        return [(Q(active, unit__isnull=False), True), (queued, True)]
    if state == "active_unassigned":
        return [(Q(active, unit__isnull=True), True)]
    if state == "queued":
        return [(queued, True)]
    # One b-tree part: read as the plain list is, but counted in the index's order (a count without order
    # may pick a scan of the whole table or branch that stops only at the cap).
    if state == "new":
        return [(Q(status=CodeStatus.NEW), False)]
    if state == "all":
        return [(Q(), False)]
    if state:
        return None
    live = Q(ticking, status__in=[CodeStatus.ACTIVE, CodeStatus.QUEUED])
    if params.get("assigned") == "yes" or any(params.get(name) for name in CLOCK_ONLY_PARAMS):
        return [(live, True)]
    return [(Q(status=CodeStatus.NEW), False), (live, True)]


class WindowPaginator(CappedPaginator):
    """``CappedPaginator`` over the merged streams (module docstring); plain when ``streams`` is None."""

    def __init__(self, object_list, per_page, orphans=0, allow_empty_first_page=True, *, streams=None):
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.streams = streams

    def _parts(self):
        postgres = connection.vendor == "postgresql"
        return [(self.object_list.filter(condition), nearest and postgres) for condition, nearest in self.streams]

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
        keys = []
        for part, nearest in self._parts():
            if not nearest:
                keys += part.values_list("created_at", "pk")[:top]
                continue
            rows = list(self._ordered(part, nearest).values_list("created_at", "pk")[:top])
            if rows and len(rows) == top:  # every row newer than the edge is read; the edge's ties whole
                edge = min(created for created, _ in rows)
                rows = [row for row in rows if row[0] > edge] + list(
                    part.filter(created_at=edge).order_by().values_list("created_at", "pk"))
            keys += rows
        keys.sort(key=lambda row: row[1])
        keys.sort(key=lambda row: row[0], reverse=True)
        return self.object_list.filter(pk__in=[pk for _, pk in keys[bottom:top]])
