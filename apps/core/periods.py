"""Reset windows: calendar periods in a service's time zone, returned as aware UTC instants.

One function computes every window the kernel uses (on-demand counters, periodic charges, the
days counter), so a boundary is the same instant wherever it is read. Windows are half-open
``[start, end)``:

- ``hourly``: a wall-clock hour, measured as 60 real minutes from its start (during a fall-back
  change the repeated local hour is two distinct windows, never one window of two hours);
- ``daily``: local midnight to the next local midnight (23 or 25 hours across a DST change);
- ``weekly``: ISO weeks, Monday 00:00 to the next Monday 00:00;
- ``monthly``: the 1st 00:00 to the next month's 1st 00:00.

Pure functions: no database, no clock.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

HOURLY, DAILY, WEEKLY, MONTHLY = "hourly", "daily", "weekly", "monthly"
INTERVALS = (HOURLY, DAILY, WEEKLY, MONTHLY)


def as_zone(tz: str | tzinfo) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def local_midnight(day: date, tz: str | tzinfo) -> datetime:
    """The UTC instant at which local ``day`` begins (the first instant if midnight was skipped)."""
    return datetime.combine(day, time(0), tzinfo=as_zone(tz)).astimezone(UTC)


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def window(interval: str, at: datetime, tz: str | tzinfo) -> tuple[datetime, datetime]:
    """The window of ``interval`` that contains the instant ``at``: ``(start, end)``, aware UTC."""
    if at.tzinfo is None:
        raise ValueError("'at' must be an aware datetime.")
    zone = as_zone(tz)
    local = at.astimezone(zone)
    if interval == HOURLY:
        # Keep the fold so the second 02:00 of a fall-back night starts its own hour.
        start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        return start, start + timedelta(hours=1)
    day = local.date()
    if interval == DAILY:
        first, after = day, day + timedelta(days=1)
    elif interval == WEEKLY:
        first = day - timedelta(days=day.weekday())
        after = first + timedelta(days=7)
    elif interval == MONTHLY:
        first = day.replace(day=1)
        after = _next_month(first)
    else:
        raise ValueError(f"No reset window for interval '{interval}'.")
    return local_midnight(first, zone), local_midnight(after, zone)


def windows_between(interval: str, start: datetime, end: datetime,
                    tz: str | tzinfo) -> Iterator[tuple[datetime, datetime]]:
    """Consecutive windows from the one containing ``start``, each ending at or before ``end``.

    This is the catch-up loop of every periodic job: the windows that have fully ended between a
    watermark and now, oldest first.
    """
    current = window(interval, start, tz)
    while current[1] <= end:
        yield current
        current = window(interval, current[1], tz)


def local_day(at: datetime, tz: str | tzinfo) -> date:
    """The calendar day, in the service's time zone, that contains the instant ``at``."""
    return at.astimezone(as_zone(tz)).date()
