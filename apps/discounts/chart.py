"""The month's daily applied discounts as an inline SVG bar chart, drawn server-side (no CDN, no JS)."""

import calendar
from dataclasses import dataclass
from decimal import Decimal

from apps.core.charts import BASELINE, HEIGHT, LEFT, PLOT_HEIGHT, PLOT_WIDTH, RIGHT, WIDTH, Box, bar_box

from .queries import MonthHistory

SCALE_MAX = Decimal(100)
GRID = (0, 25, 50, 75, 100)


@dataclass(frozen=True)
class Bar(Box):
    day: int
    value: Decimal
    estimated: bool


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    grid: list[tuple[float, int]]  # (y, percent)
    labels: list[tuple[float, int]]  # (x centre, day number) for every day of the month
    baseline: float
    left: int
    right: float
    average_y: float | None


def month_chart(history: MonthHistory) -> Chart:
    days_in_month = calendar.monthrange(history.first_day.year, history.first_day.month)[1]
    plot_w, plot_h = PLOT_WIDTH, PLOT_HEIGHT
    slot = plot_w / days_in_month
    baseline = BASELINE

    def y_of(value) -> float:
        return round(baseline - float(Decimal(value) / SCALE_MAX) * plot_h, 1)

    bars = []
    for snap in history.days:
        y = y_of(snap.applied)
        bars.append(Bar(**bar_box(snap.day.day - 1, slot, y), day=snap.day.day, value=snap.applied,
                        estimated=snap.estimated))
    return Chart(
        width=WIDTH, height=HEIGHT, bars=bars, grid=[(y_of(p), p) for p in GRID],
        labels=[(round(LEFT + (d - 0.5) * slot, 1), d) for d in range(1, days_in_month + 1)],
        baseline=baseline, left=LEFT, right=WIDTH - RIGHT,
        average_y=y_of(history.average) if history.average is not None else None,
    )
