"""A line graph in braille dots (2×4 per cell) for PromQL range results: y axis, time axis, legend."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from console.text import clean_line
from widgets.status import duration

Series = tuple[str, Sequence[tuple[float, float]]]  # (legend label, (unix time, value) points)
PALETTE = ("cyan", "magenta", "green", "yellow", "bright_blue", "red", "bright_white", "bright_green")
_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  # [row][column] of a braille cell
AXIS = 8  # width of the y-axis labels plus the axis line


def compact(value: float) -> str:
    """A y-axis label in at most 7 characters: 700, 21.6k, 1.2M, 0.003."""
    magnitude = abs(value)
    for limit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.1f}{suffix}"
    if magnitude >= 100 or value == int(value):
        return f"{value:.0f}"
    return f"{value:.3g}"


def _bounds(series: Sequence[Series]) -> tuple[float, float]:
    values = [value for _, points in series for _, value in points]
    low, high = min(values), max(values)
    if low >= 0:
        low = 0.0
    if high == low:
        high = low + 1.0
    return low, high


def render_plot(
    series: Sequence[Series], start: float, end: float, width: int, height: int, *, to_now: bool = True
) -> Text:
    """The graph as `height` lines of `width` cells (legend included); a note when there is nothing."""
    # NaN and ±Inf samples (a division by zero) cannot be placed: they are gaps, as in Prometheus's graph
    finite = [
        (label, [(t, v) for t, v in points if math.isfinite(v) and math.isfinite(t)])
        for label, points in series
    ]
    drawn = [(label, points) for label, points in finite if points]
    if not drawn or width < AXIS + 4 or height < 4:
        return Text("no data in this window", style="dim")
    legend_lines = 1 if len(drawn) <= 3 else 2
    rows = max(1, height - 2 - legend_lines)
    cols = width - AXIS
    low, high = _bounds(drawn)
    span_t = (end - start) or 1.0
    dots_x, dots_y = cols * 2, rows * 4
    bits = [[0] * cols for _ in range(rows)]
    color = [[-1] * cols for _ in range(rows)]

    def dot(x: int, y: int, index: int) -> None:
        if 0 <= x < dots_x and 0 <= y < dots_y:
            row, col = y // 4, x // 2
            bits[row][col] |= _DOTS[y % 4][x % 2]
            color[row][col] = index

    for index, (_, points) in enumerate(drawn):
        coords = [
            (round((t - start) / span_t * (dots_x - 1)), round((high - v) / (high - low) * (dots_y - 1)))
            for t, v in sorted(points)
        ]
        previous = coords[0]
        dot(*previous, index)
        for x, y in coords[1:]:
            x0, y0 = previous
            steps = max(abs(x - x0), abs(y - y0), 1)
            for step in range(1, steps + 1):
                dot(round(x0 + (x - x0) * step / steps), round(y0 + (y - y0) * step / steps), index)
            previous = (x, y)

    text = Text(no_wrap=True, overflow="crop")
    for row in range(rows):
        if row == 0:
            label = compact(high)
        elif row == rows - 1:
            label = compact(low)
        elif row == rows // 2 and rows > 4:
            label = compact((high + low) / 2)
        else:
            label = ""
        text.append(f"{label:>{AXIS - 1}}{'┤' if label else '│'}", style="dim")
        for col in range(cols):
            if bits[row][col]:
                text.append(chr(0x2800 + bits[row][col]), style=PALETTE[color[row][col] % len(PALETTE)])
            else:
                text.append(" ")
        text.append("\n")
    text.append(" " * (AXIS - 1) + "└" + "─" * cols + "\n", style="dim")
    text.append(" " * AXIS + _time_axis(start, end, cols, to_now) + "\n", style="dim")
    legend = Text()
    for index, (label, _) in enumerate(drawn[: 8 if legend_lines == 2 else 3]):
        legend.append(f"{index + 1}", style="bold")
        legend.append("━ ", style=PALETTE[index % len(PALETTE)])
        legend.append(clean_line(label) + "  ")
    if len(drawn) > 8:
        legend.append(f"(+{len(drawn) - 8} more)", style="dim")
    text.append_text(legend)
    return text


def _time_axis(start: float, end: float, cols: int, to_now: bool) -> str:
    """`-1h  -30m  now` for a window that ends now; clock times in UTC (with the date past a day) else."""
    if to_now:
        left, middle, right = f"-{duration(end - start)}", f"-{duration((end - start) / 2)}", "now"
    else:
        form = "%H:%M" if end - start < 86400 else "%m-%d %H:%M"
        left, middle, right = (
            datetime.fromtimestamp(moment, UTC).strftime(form) for moment in (start, (start + end) / 2, end)
        )
    axis = f"{left:<{cols // 2}}{middle}"
    return f"{axis:<{cols - len(right)}}{right}"[:cols]


class RangePlot(Widget):
    """Draws the series it is given; knows nothing of Prometheus or time windows beyond start/end."""

    DEFAULT_CSS = """
    RangePlot {
        height: 1fr;
        min-height: 6;
    }
    """

    series: reactive[tuple[Series, ...]] = reactive((), always_update=True)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.start = 0.0
        self.end = 1.0
        self.to_now = True

    def plot(self, series: Sequence[Series], start: float, end: float, *, to_now: bool = True) -> None:
        """Draw `series` from `start` to `end` (unix seconds); `to_now`: the window ends now."""
        self.start, self.end, self.to_now = start, end, to_now
        self.series = tuple(series)

    def render(self) -> Text:
        if not self.series:
            return Text("run a query to draw it over the chosen window", style="dim")
        return render_plot(
            self.series, self.start, self.end, self.size.width, self.size.height, to_now=self.to_now
        )
