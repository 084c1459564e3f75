"""Sparklines as text, on a fixed scale, so they sit in table cells next to the value they trace."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

BARS = "▁▂▃▄▅▆▇█"


def spark(values: Sequence[float], width: int, low: float, high: float, *, style: str = "cyan") -> Text:
    """The last `width` values as bars scaled from low to high (clipped); right-aligned, blank-padded.

    A fixed scale keeps 41 °C and 42 °C looking alike; every known value gets at least the lowest bar, so
    an idle GPU draws a baseline rather than nothing.
    """
    if width <= 0:
        return Text("")
    shown = list(values)[-width:]
    span = (high - low) or 1.0
    bars = []
    for value in shown:
        level = round((min(max(value, low), high) - low) / span * (len(BARS) - 1))
        bars.append(BARS[level])
    return Text(" " * (width - len(shown)) + "".join(bars), style=style, no_wrap=True)


def value_with_spark(value: Text, values: Sequence[float], width: int, low: float, high: float) -> Text:
    """'100% ▃▅▇███' : the value, then its history (when there is room for one)."""
    if width <= 0 or not values:
        return value
    text = Text.assemble(value, " ", spark(values, width, low, high))
    text.justify = "right"
    return text


def value_range(values: Sequence[float], template: str = "{:.0f}") -> str:
    """'3–100': the least and the greatest of the values shown ('' when there are none)."""
    if not values:
        return ""
    return f"{template.format(min(values))}–{template.format(max(values))}"


def spark_range(
    values: Sequence[float], width: int, low: float, high: float, template: str = "{:.0f}"
) -> Text:
    """A strip that says its own extremes: '▁▃▇█ 3–100' (the range over the bars shown, dim).

    `width` is the whole cell; the range takes what it needs and the bars the rest (none below 3 cells).
    For the fleet's utilisation column and the GPU table: a strip alone cannot tell 0-100 % from 40-42 %.
    """
    shown = list(values)[-width:] if width > 0 else []
    label = value_range(shown, template)
    bars = width - len(label) - 1
    if not label or bars < 3:
        return spark(values, width, low, high)
    shown = list(values)[-bars:]
    label = value_range(shown, template)
    text = spark(shown, width - len(label) - 1, low, high)
    text.append(" ")
    text.append(label, style="dim")
    return text
