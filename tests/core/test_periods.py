"""Reset windows in a service's time zone: midnight, DST, ISO weeks, month ends, leap days."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.core.periods import INTERVALS, window, windows_between

BERLIN = "Europe/Berlin"


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_daily_window_runs_from_local_midnight_to_local_midnight():
    # 2026-01-15 23:30 UTC is already 00:30 on the 16th in Berlin (UTC+1).
    assert window("daily", utc(2026, 1, 15, 23, 30), BERLIN) == (utc(2026, 1, 15, 23), utc(2026, 1, 16, 23))
    assert window("daily", utc(2026, 1, 15, 22, 59), BERLIN) == (utc(2026, 1, 14, 23), utc(2026, 1, 15, 23))


def test_daily_window_across_spring_forward_lasts_23_hours():
    start, end = window("daily", utc(2026, 3, 29, 12), BERLIN)
    assert (start, end) == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    assert end - start == timedelta(hours=23)


def test_daily_window_across_fall_back_lasts_25_hours():
    start, end = window("daily", utc(2026, 10, 25, 12), BERLIN)
    assert end - start == timedelta(hours=25)


def test_hourly_windows_on_the_fall_back_night_are_distinct_hours():
    # 02:00-03:00 local happens twice on 2026-10-25: 00:00 UTC (CEST) and 01:00 UTC (CET).
    first = window("hourly", utc(2026, 10, 25, 0, 30), BERLIN)
    second = window("hourly", utc(2026, 10, 25, 1, 30), BERLIN)
    assert first == (utc(2026, 10, 25, 0), utc(2026, 10, 25, 1))
    assert second == (utc(2026, 10, 25, 1), utc(2026, 10, 25, 2))


def test_hourly_window_follows_a_half_hour_offset_zone():
    assert window("hourly", utc(2026, 5, 1, 10, 10), "Asia/Kolkata") == (utc(2026, 5, 1, 9, 30), utc(2026, 5, 1, 10, 30))


def test_weekly_window_starts_on_iso_monday():
    # Sunday 2026-01-04 is the last day of ISO week 1 of 2026, which started on Monday 2025-12-29.
    assert window("weekly", utc(2026, 1, 4, 12), BERLIN) == (utc(2025, 12, 28, 23), utc(2026, 1, 4, 23))


def test_monthly_window_from_31_january_to_february():
    assert window("monthly", utc(2026, 1, 31, 12), BERLIN) == (utc(2025, 12, 31, 23), utc(2026, 1, 31, 23))
    assert window("monthly", utc(2026, 1, 31, 23, 30), BERLIN) == (utc(2026, 1, 31, 23), utc(2026, 2, 28, 23))


def test_leap_day_belongs_to_february_and_its_day():
    assert window("daily", utc(2028, 2, 29, 12), "UTC") == (utc(2028, 2, 29), utc(2028, 3, 1))
    assert window("monthly", utc(2028, 2, 29, 12), "UTC") == (utc(2028, 2, 1), utc(2028, 3, 1))


def test_windows_between_lists_only_windows_that_ended():
    ends = [w[1] for w in windows_between("daily", utc(2026, 1, 1, 5), utc(2026, 1, 4, 1), "UTC")]
    assert ends == [utc(2026, 1, 2), utc(2026, 1, 3), utc(2026, 1, 4)]


def test_unknown_interval_is_refused():
    with pytest.raises(ValueError):
        window("none", utc(2026, 1, 1), "UTC")


@given(st.sampled_from(INTERVALS), st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                                                timezones=st.just(UTC)),
       st.sampled_from(["UTC", BERLIN, "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]))
def test_window_contains_its_instant_and_windows_tile(interval, at, tz):
    start, end = window(interval, at, tz)
    assert start <= at < end
    assert window(interval, end, tz)[0] == end
