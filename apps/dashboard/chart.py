"""The expiry forecast as an inline SVG bar chart, drawn server-side like the discount module's month chart
(apps/discounts/chart.py; the size, margins and bar geometry they share are apps/core/charts.py; no CDN, no
JavaScript)."""

import math
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from django.utils.formats import date_format
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import get_language, ngettext

from apps.core.charts import BASELINE, HEIGHT, LEFT, PLOT_HEIGHT, PLOT_WIDTH, RIGHT, WIDTH, Box, bar_box

from .queries import Forecast

GRID_LINES = 4


@dataclass(frozen=True)
class Bar(Box):
    day: date
    units: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    grid: list[tuple[float, int]]  # (y, units)
    labels: list[tuple[float, str]]  # (x centre, "3 Dec") for the first day, each Monday… (see ``_labelled``)
    baseline: float
    left: int
    right: float

    @property
    def bars_svg(self) -> SafeString:
        """The bars' markup, each with its day and count as a tooltip: built here in one pass (a template loop
        with a plural per bar was most of the 366-day page's time)."""
        return format_html_join("", '<rect x="{}" y="{}" width="{}" height="{}" class="bar"><title>{}: {}</title></rect>',
                                ((bar.x, bar.y, bar.width, bar.height, day_label(bar.day),
                                  ngettext("%(units)s unit", "%(units)s units", bar.units) % {"units": bar.units})
                                 for bar in self.bars))


def day_label(day: date) -> str:
    """``Thu 3 Dec 2026`` in the active language (the chart's tooltips and the forecast table's rows)."""
    return _day_label(day, get_language())


@lru_cache(maxsize=4096)
def _day_label(day: date, language: str) -> str:
    return date_format(day, "D j M Y")  # formatted in ``language``, the active one: part of the cache key


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 × 10^k (a multiple of ``GRID_LINES`` from 4 up) at or above ``value``."""
    if value <= GRID_LINES:
        return GRID_LINES
    magnitude = 10 ** int(math.floor(math.log10(value)))
    for step in (1, 2, 2.5, 5, 10):
        top = int(step * magnitude)
        if top >= value and top % GRID_LINES == 0:
            return top
    return int(math.ceil(value / GRID_LINES) * GRID_LINES)


def _labelled(index: int, day: date, days: int) -> bool:
    """Which days get a label under the axis: every day up to 14, Mondays up to 120, else month starts."""
    if index == 0 or days <= 14:
        return True
    if days <= 120:
        return day.weekday() == 0 and index >= 3
    return day.day == 1 and index >= 10


def forecast_chart(result: Forecast) -> Chart:
    plot_w, plot_h = PLOT_WIDTH, PLOT_HEIGHT
    slot = plot_w / max(result.days, 1)
    baseline = BASELINE
    scale = nice_ceiling(max((n for _, n in result.rows), default=0))

    def y_of(value: int) -> float:
        return round(baseline - value / scale * plot_h, 1)

    bars = []
    for index, (day, units) in enumerate(result.rows):
        if units:
            y = y_of(units)
            bars.append(Bar(**bar_box(index, slot, y, min_width=0.6), day=day, units=units))
    labels = [(round(LEFT + (i + 0.5) * slot, 1), date_format(day, "j M") if (i == 0 or day.day == 1) else str(day.day))
              for i, (day, _) in enumerate(result.rows) if _labelled(i, day, result.days)]
    return Chart(width=WIDTH, height=HEIGHT, bars=bars,
                 grid=[(y_of(scale * i // GRID_LINES), scale * i // GRID_LINES) for i in range(GRID_LINES + 1)],
                 labels=labels, baseline=baseline, left=LEFT, right=WIDTH - RIGHT)
