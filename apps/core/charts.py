"""What the server-drawn SVG bar charts share (the discount module's month, the dashboard's expiry forecast):
one size and margins, and where a bar stands in its day's slot."""

from dataclasses import dataclass

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 36, 8, 10, 22
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
BASELINE = TOP + PLOT_HEIGHT


@dataclass(frozen=True)
class Box:
    """A bar's rectangle in SVG user units (``y`` its top; it stands on the baseline)."""

    x: float
    y: float
    width: float
    height: float


def bar_box(index: int, slot: float, y: float, *, min_width: float = 0.0) -> dict:
    """The rectangle of the bar in slot ``index`` (0-based) of width ``slot``, topped at ``y``: 70 % of the slot,
    centred, at least ``min_width`` wide. A dict, to build the chart's own bar type with its data."""
    return {"x": round(LEFT + index * slot + slot * 0.15, 1), "y": y,
            "width": round(max(slot * 0.7, min_width), 1), "height": round(BASELINE - y, 1)}
