"""The forecast chart: one bar per day with deactivations, a scale that holds the tallest, labels in range."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from apps.core.charts import HEIGHT, TOP, WIDTH
from apps.dashboard.chart import forecast_chart, nice_ceiling
from apps.dashboard.queries import Forecast


@pytest.mark.parametrize("value,expected", [(0, 4), (3, 4), (5, 8), (17, 20), (99, 100), (101, 200), (1234, 2000)])
def test_nice_ceiling(value, expected):
    assert nice_ceiling(value) == expected


@pytest.mark.parametrize("days", [1, 7, 90, 366])
def test_bars_fit_the_plot(days):
    first = date(2026, 3, 28)
    rows = [(first + timedelta(days=i), (i * 7) % 13 + (i == 0)) for i in range(days)]
    chart = forecast_chart(Forecast(first_day=first, days=days, tz=ZoneInfo("Europe/Berlin"), billed_by_codes=True,
                                    rows=rows))
    assert len(chart.bars) == sum(1 for _, n in rows if n)
    assert all(TOP - 0.1 <= bar.y and bar.y + bar.height <= HEIGHT and 0 < bar.x < WIDTH for bar in chart.bars)
    assert chart.grid[-1][1] >= max(n for _, n in rows)
    assert chart.labels and all(chart.left <= x <= chart.right for x, _ in chart.labels)
    tallest = max(chart.bars, key=lambda bar: bar.units)
    assert all(bar.height <= tallest.height for bar in chart.bars)
