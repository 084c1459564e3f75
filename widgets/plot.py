"""A line graph in braille dots (2×4 per cell) for PromQL range results: y axis, time axis, legend."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from console.text import clean_line
from widgets.sparkline import spark
from widgets.status import duration

Series = tuple[str, Sequence[tuple[float, float]]]  # (legend label, (unix time, value) points)
# eight colours that differ in the app's theme (there red is magenta and bright_green is green)
PALETTE = ("cyan", "magenta", "green", "yellow", "bright_blue", "bright_yellow", "bright_white", "white")
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
    series: Sequence[Series],
    start: float,
    end: float,
    width: int,
    height: int,
    *,
    to_now: bool = True,
    bounds: tuple[float, float] | None = None,
    legend: bool = True,
    time_axis: bool = True,
    palette: Sequence[str] = PALETTE,
) -> Text:
    """The graph as `height` lines of `width` cells (legend included); a note when there is nothing.

    `bounds`: a fixed y scale (values outside it are clipped to its edge); else from the data, from 0.
    `legend=False` leaves the legend line out (one series, named by the caller); `time_axis=False` the
    two lines of the time axis (the caller says the window), for a plot only a few lines high.
    """
    # NaN and ±Inf samples (a division by zero) cannot be placed: they are gaps, as in Prometheus's graph
    finite = [
        (label, [(t, v) for t, v in points if math.isfinite(v) and math.isfinite(t)])
        for label, points in series
    ]
    drawn = [(label, points) for label, points in finite if points]
    axis_lines = 2 if time_axis else 0
    if not drawn or width < AXIS + 4 or height < 2 + axis_lines:
        return Text("no data in this window", style="dim")
    legend_lines = (1 if len(drawn) <= 3 else 2) if legend else 0
    rows = max(1, height - axis_lines - legend_lines)
    cols = width - AXIS
    low, high = bounds if bounds is not None and bounds[1] > bounds[0] else _bounds(drawn)
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
            (
                round((t - start) / span_t * (dots_x - 1)),
                round((high - min(max(v, low), high)) / (high - low) * (dots_y - 1)),
            )
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
                text.append(chr(0x2800 + bits[row][col]), style=palette[color[row][col] % len(palette)])
            else:
                text.append(" ")
        text.append("\n")
    if time_axis:
        text.append(" " * (AXIS - 1) + "└" + "─" * cols + "\n", style="dim")
        text.append(" " * AXIS + _time_axis(start, end, cols, to_now), style="dim")
    else:
        text.right_crop(1)  # the last row's newline
    if not legend:
        return text
    text.append("\n")
    key = Text()
    for index, (label, _) in enumerate(drawn[: 8 if legend_lines == 2 else 3]):
        key.append(f"{index + 1}", style="bold")
        key.append("━ ", style=palette[index % len(palette)])
        key.append(clean_line(label) + "  ")
    if len(drawn) > 8:
        key.append(f"(+{len(drawn) - 8} more)", style="dim")
    text.append_text(key)
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


# --- a metric's recent history, on a fixed scale (the node's GPU tab) ---------------------------------


@dataclass(frozen=True, slots=True)
class MetricView:
    """One metric of one GPU as drawn: its points, its fixed scale, and how its values read."""

    label: str  # "Util"
    points: tuple[tuple[float, float], ...]  # (unix time, value), oldest first
    low: float
    high: float
    template: str  # "{:.0f}%"
    style: str = "cyan"


def plot_title(view: MetricView) -> Text:
    """'Util 100%  min 0%  max 100%': the current value, and the extremes over the points shown."""
    title = Text(no_wrap=True, overflow="ellipsis")
    title.append(view.label, style="bold")
    values = [value for _, value in view.points]
    if not values:
        title.append("  no data yet", style="dim")
        return title
    title.append(" ")
    title.append(view.template.format(values[-1]), style=f"bold {view.style}")
    title.append(f"  min {view.template.format(min(values))}  max {view.template.format(max(values))}", "dim")
    return title


def render_metric(view: MetricView, start: float, end: float, width: int, height: int) -> Text:
    """The title line, then the points from `start` to `end` (now) on the metric's fixed scale."""
    title = plot_title(view)
    if height < 2 or not view.points:
        return title
    inside = [(t, v) for t, v in view.points if t >= start]
    if not inside:
        return Text.assemble(title, "\n", Text(f"no point in the last {duration(end - start)}", style="dim"))
    if width < AXIS + 4:  # too narrow for the y axis: a strip, its scale said in words
        scale = f" {compact(view.low)}–{compact(view.high)}"
        strip = spark(
            [v for _, v in inside], max(1, width - len(scale)), view.low, view.high, style=view.style
        )
        return Text.assemble(title, "\n", strip, (scale, "dim"), no_wrap=True, overflow="crop")
    graph = render_plot(
        [(view.label, inside)],
        start,
        end,
        width,
        height - 1,
        bounds=(view.low, view.high),
        legend=False,
        time_axis=height >= 6,  # under that the title's window ('the last 5m') says the span
        palette=(view.style,),
    )
    return Text.assemble(title, "\n", graph, no_wrap=True, overflow="crop")


class MetricPlot(Widget):
    """One metric's plot; told what to draw by `show`, it knows no node and no clock."""

    DEFAULT_CSS = """
    MetricPlot {
        height: 1fr;
        min-height: 5;
        padding: 0 1 0 0;
    }
    """

    view: reactive[MetricView | None] = reactive(None)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.window = (0.0, 1.0)

    def show(self, view: MetricView, start: float, end: float) -> None:
        """Draw `view` over the window `start`..`end` (unix seconds; `end` is now)."""
        if self.view != view or self.window != (start, end):
            self.window = (start, end)
            self.view = view
            self.refresh()

    def render(self) -> Text:
        if self.view is None:
            return Text("")
        return render_metric(self.view, *self.window, self.size.width, self.size.height)
