"""PromQL results, scrape targets and alerts as tables. Render only.

Labels, target errors and alert texts come from Prometheus, so from whoever runs an exporter: every one is
cleaned with `console.text.clean_line` here (whether or not the collector did) and drawn as `Text`.
"""

from __future__ import annotations

import math
from datetime import datetime

from rich.text import Text

from console.model.prometheus import AlertInfo, InstantResult, Labels, TargetInfo
from console.text import clean_line, clean_optional
from widgets.keyed_table import Column, KeyedTable
from widgets.plot import compact
from widgets.status import DASH, duration

# Labels that say which series it is, most telling first, for the graph's legend.
_TELLING = ("Hostname", "gpu", "instance", "job", "device", "mountpoint", "container")


def series_name(labels: Labels, first: frozenset[str] = frozenset()) -> str:
    """`metric{label="value", ...}` the way Prometheus prints a series; labels in `first` lead (the ones
    that tell a result's series apart, so a narrow column still shows them)."""
    name = next((value for key, value in labels if key == "__name__"), "")
    ordered = sorted(
        (pair for pair in labels if pair[0] != "__name__"), key=lambda pair: pair[0] not in first
    )
    rest = ", ".join(f'{key}="{value}"' for key, value in ordered)
    return clean_line(f"{name}{{{rest}}}" if rest or not name else name)


def varying(all_labels: list[Labels]) -> frozenset[str]:
    """The label names whose values differ between these series."""
    if len(all_labels) < 2:
        return frozenset()
    maps = [dict(labels) for labels in all_labels]
    names = {key for labels in maps for key in labels}
    return frozenset(key for key in names if len({labels.get(key) for labels in maps}) > 1)


def short_label(labels: Labels) -> str:
    """A legend label: the telling labels' values (gpu1 gpu=0), else the whole series."""
    found = dict(labels)
    parts = [f"{key}={found[key]}" if key == "gpu" else found[key] for key in _TELLING if key in found]
    return clean_line(" ".join(parts[:2])) or series_name(labels)


def value_text(value: float | None) -> Text:
    if value is None or not math.isfinite(value):  # NaN or ±Inf (a division by zero): unknown
        return Text("–", style="dim", justify="right")
    shown = f"{value:.6g}" if abs(value) < 1e6 else compact(value)
    return Text(shown, justify="right")


def result_kind(result: InstantResult) -> str:
    """What an instant query returned, the way Prometheus names it: `sum(x)` is a one-element vector
    (its series has no labels, `{}`), `scalar(x)` or `1+1` a scalar."""
    if result.result_type == "scalar":
        return "scalar"
    count = len(result.samples)
    return f"instant vector, {count} series"


class InstantTable(KeyedTable):
    COLUMNS = (Column("series", "Series", 30, 0, flex=True), Column("value", "Value", 12, 0))

    def show(self, result: InstantResult | None) -> None:
        if result is None:
            self.sync({})
            return
        rows = {}
        first = varying([sample.labels for sample in result.samples])
        for number, sample in enumerate(result.samples):
            name = "scalar" if result.result_type == "scalar" else series_name(sample.labels, first)
            rows[f"{number}:{name}"] = {"series": Text(name), "value": value_text(sample.value)}
        self.sync(rows)


class TargetsTable(KeyedTable):
    COLUMNS = (
        Column("health", "Health", 8, 0),
        Column("job", "Job", 12, 0),
        Column("instance", "Instance", 20, 0),
        Column("scraped", "Scraped", 8, 2),
        Column("error", "Last error", 20, 1, flex=True),
    )

    def show(self, targets: tuple[TargetInfo, ...], now: datetime) -> None:
        rows = {}
        ranked = sorted(targets, key=lambda t: (t.health != "down", t.job, t.instance))
        for target in ranked:
            health = {
                "up": Text("● up", style="green"),
                "down": Text("✖ down", style="bold red"),
            }.get(target.health, Text("? unknown", style="magenta"))
            ago = (
                Text(f"{duration((now - target.last_scrape).total_seconds())} ago", justify="right")
                if target.last_scrape is not None
                else Text("never", style="dim")
            )
            rows[f"{target.job}/{target.instance}"] = {
                "health": health,
                "job": Text(clean_line(target.job)),
                "instance": Text(clean_line(target.instance)),
                "scraped": ago,
                "error": Text(clean_line(target.last_error), style="red") if target.last_error else DASH,
            }
        self.sync(rows)


class AlertsTable(KeyedTable):
    COLUMNS = (
        Column("state", "State", 10, 0),
        Column("name", "Alert", 16, 0),
        Column("severity", "Severity", 8, 1),
        Column("since", "Since", 7, 2),
        Column("summary", "Summary", 20, 0, flex=True),
    )

    def show(self, alerts: tuple[AlertInfo, ...], now: datetime) -> None:
        rows = {}
        for number, alert in enumerate(sorted(alerts, key=lambda a: (a.state != "firing", a.name))):
            state = (
                Text("✖ firing", style="bold red")
                if alert.state == "firing"
                else Text("… pending", style="yellow")
            )
            since = alert.active_at
            rows[f"{number}:{alert.name}"] = {
                "state": state,
                "name": Text(clean_line(alert.name), style="bold"),
                "severity": Text(clean_optional(alert.severity) or "–"),
                "since": Text(duration((now - since).total_seconds()), justify="right") if since else DASH,
                "summary": Text(clean_optional(alert.summary) or series_name(alert.labels)),
            }
        self.sync(rows)
