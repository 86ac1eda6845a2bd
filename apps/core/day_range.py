"""A report's range of days (the audit log, the code log): ``since`` and ``until`` date boxes, today by
default in the page's time zone, read as [start of ``since``, end of ``until``)."""

from datetime import datetime, time, timedelta

from django.http import QueryDict
from django.utils import timezone

from . import clock


def with_today(query: QueryDict) -> QueryDict:
    """A copy of the page's query with ``since`` and ``until`` set to today where empty: the range is
    written into the date boxes, so the page says which days it searched."""
    params = query.copy()
    today = timezone.localdate(clock.now())
    for name in ("since", "until"):
        if not params.get(name):
            params[name] = today.isoformat()
    return params


class DayRangeMixin:
    """For a form with ``since`` and ``until`` date fields and the page's zone in ``self.tz``."""

    def window(self) -> tuple[datetime, datetime]:
        """[start of ``since``, end of ``until``) in the page's time zone; today by default."""
        today = timezone.localtime(clock.now(), self.tz).date()
        since = self.cleaned_data.get("since") or today
        until = self.cleaned_data.get("until") or today
        return (datetime.combine(since, time.min, self.tz),
                datetime.combine(until + timedelta(days=1), time.min, self.tz))
