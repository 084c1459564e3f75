"""The fleet table: one row per node under a header row per inventory group; filter, sort, fold. Renders only.

Rows are keyed by node name (group headers by GROUP_PREFIX + group) and updated cell by cell. Folding a
group or filtering hides rows without forgetting their cells; sorting orders nodes within their group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.binding import Binding

from console.history import SCALES
from console.model.checks import CheckResult, Status
from console.model.gpu import GpuReading
from console.model.inventory import Node
from console.model.levels import NodeLevels, Tally
from console.model.node import NodeSnapshot
from widgets.keyed_table import Column, KeyedTable
from widgets.sparkline import spark
from widgets.status import DASH, STATUS_WORD, level_style, or_dash, plural, status_text

GROUP_PREFIX = "@group/"
UNGROUPED = "ungrouped"
TREND_WIDTH = 12

COLUMNS = (
    Column("node", "Node", 14, 0, keep=True),
    Column("state", "State", 8, 0, keep=True),
    Column("checks", "Checks", 9, 1),
    Column("gpus", "GPUs", 5, 3),
    Column("util", "Util", 4, 4),
    Column("trend", "Util history", TREND_WIDTH, 8),
    Column("memory", "GPU memory", 12, 6),
    Column("temp", "Temp", 5, 5),
    Column("power", "Power", 11, 7),
    Column("containers", "Ctrs", 5, 4),
    Column("mounts", "Mounts", 8, 5),
    # Why a node is down or slow: room for a reason comes before the numbers on a narrow terminal.
    Column("detail", "Detail", 24, 2, flex=True),
)
SORTABLE = ("node", "state", "checks", "gpus", "util", "memory", "temp", "power", "containers", "mounts")


@dataclass(frozen=True, slots=True)
class NodeView:
    """What the fleet knows about a node right now (the screen assembles it; the table only draws it)."""

    node: Node
    snapshot: NodeSnapshot | None
    results: tuple[CheckResult, ...] = ()
    util_history: tuple[float, ...] = ()
    polling_for: float | None = None  # seconds a poll has been running, once that is worth saying
    # The checks' verdicts on its values: what the cells are coloured by.
    levels: NodeLevels = field(default_factory=NodeLevels)


def group_of(node: Node) -> str:
    return node.groups[0] if node.groups else UNGROUPED


def worst(results: Sequence[CheckResult]) -> Status | None:
    return Status.worst(tuple(result.status for result in results)) if results else None


def checks_cell(results: Sequence[CheckResult]) -> Text:
    status = worst(results)
    if status is None:
        return DASH
    if status is Status.OK:
        return status_text(Status.OK)
    count = sum(result.status is status for result in results)
    return status_text(status, f"{count} {STATUS_WORD[status]}")


# What a node's connection is doing, worst first (the State column sorts in this order).
STATES = {
    "down": Text("✖ down", style="bold red"),
    "busy": Text("⧗ slow", style="bold yellow"),  # a poll has been running for a while
    "slow": Text("◐ slow", style="yellow"),  # the last handshake took long
    "wait": Text("… wait", style="dim"),
    "up": Text("● up", style="green"),
}
_STATE_RANK = {state: rank for rank, state in enumerate(STATES)}


def node_state(view: NodeView) -> str:
    snapshot = view.snapshot
    if view.polling_for is not None and (snapshot is None or snapshot.reachable):
        return "busy"
    if snapshot is None:
        return "wait"
    if not snapshot.reachable:
        return "down"
    if view.levels.slow_connect:
        return "slow"
    return "up"


def state_cell(view: NodeView) -> Text:
    return STATES[node_state(view)]


def _tally(tally: Tally | None, error: bool) -> Text:
    if error:
        return Text("✖ err", style="bold red")
    if tally is None:
        return DASH
    text = f"{tally.good}/{tally.expected}" + (" hung" if tally.hung else "")
    return Text(text, style=level_style(tally.level), justify="right")


def _readings(view: NodeView) -> tuple[GpuReading, ...] | None:
    """The node's GPU readings when it answered with them; None when there is nothing to show."""
    snapshot = view.snapshot
    if snapshot is None or not snapshot.reachable or snapshot.gpu is None or snapshot.gpu.status != "ok":
        return None
    return snapshot.gpu.gpus


def _sum(values: Sequence[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def _mean(values: Sequence[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return sum(known) / len(known) if known else None


def _max(values: Sequence[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return max(known) if known else None


def node_cells(view: NodeView, *, trend_width: int = TREND_WIDTH) -> dict[str, Text]:
    """What each column shows for one node; status words, not colour alone, carry the meaning."""
    node, snapshot = view.node, view.snapshot
    cells = {column.key: DASH for column in COLUMNS}
    cells["node"] = Text(node.name, style="bold")
    cells["state"] = state_cell(view)
    cells["checks"] = checks_cell(view.results)
    if snapshot is None:
        cells["detail"] = Text(
            f"polling for {view.polling_for:.0f}s" if view.polling_for else node.host, style="dim"
        )
        return cells
    if not snapshot.reachable:
        cells["detail"] = Text(snapshot.error or "unreachable", style="red")
        return cells
    levels = view.levels
    docker_error = (
        node.docker is not None and snapshot.docker is not None and snapshot.docker.error is not None
    )
    cells["containers"] = _tally(levels.containers, docker_error)
    mounts_error = bool(node.mounts) and snapshot.mounts is not None and snapshot.mounts.error is not None
    cells["mounts"] = _tally(levels.mounts, mounts_error)
    gpu = snapshot.gpu
    if gpu is None or gpu.status != "ok":
        message = (gpu.error if gpu is not None else None) or "no GPU data"
        tooling = gpu is not None and gpu.status == "no_tooling"
        cells["detail"] = Text(message, style="dim" if tooling else "yellow")
        cells["gpus"] = Text("0", justify="right") if tooling else DASH
        return cells
    readings = gpu.gpus
    if levels.gpus is not None and levels.gpus.level is not Status.OK:
        cells["gpus"] = _tally(levels.gpus, False)
    else:
        cells["gpus"] = Text(str(len(readings)), justify="right")
    cells["util"] = or_dash(_mean([r.util_gpu_pct for r in readings]), "{:.0f}%")
    if view.util_history:
        cells["trend"] = spark(view.util_history, trend_width, *SCALES["util"])
    used, total = _sum([r.memory_used_mib for r in readings]), _sum([r.memory_total_mib for r in readings])
    if used is not None and total is not None:
        cells["memory"] = Text(f"{used / 1024:.1f}/{total / 1024:.0f} GiB", justify="right")
    hottest = _max([r.temperature_c for r in readings])
    cells["temp"] = or_dash(hottest, "{:.0f}°C", style=level_style(levels.temperature))
    draw, limit = _sum([r.power_draw_w for r in readings]), _sum([r.power_limit_w for r in readings])
    if draw is not None:
        cells["power"] = Text(
            f"{draw:.0f}/{limit:.0f} W" if limit is not None else f"{draw:.0f} W", justify="right"
        )
    names = sorted({r.name for r in readings})
    cells["detail"] = Text(", ".join(names) if names else "no GPUs", style="" if names else "dim")
    return cells


def column_value(column: str, view: NodeView) -> float | None:
    """The number a numeric column shows for a node (before rounding), or None where it shows none."""
    snapshot = view.snapshot
    if snapshot is None or not snapshot.reachable:
        return None
    levels = view.levels
    if column == "containers":
        return levels.containers.good if levels.containers is not None else None
    if column == "mounts":
        return levels.mounts.good if levels.mounts is not None else None
    readings = _readings(view)
    if readings is None:
        tooling = column == "gpus" and snapshot.gpu is not None and snapshot.gpu.status == "no_tooling"
        return 0.0 if tooling else None
    if column == "gpus":
        return float(len(readings))
    if column == "util":
        return _mean([r.util_gpu_pct for r in readings])
    if column == "memory":
        total = _sum([r.memory_total_mib for r in readings])
        return _sum([r.memory_used_mib for r in readings]) if total is not None else None
    if column == "temp":
        return _max([r.temperature_c for r in readings])
    if column == "power":
        return _sum([r.power_draw_w for r in readings])
    return None


def sort_value(column: str, view: NodeView) -> Any:
    """What `column` sorts nodes by: worst (or biggest) first; from the values, never the rendered text."""
    name = view.node.name
    if column == "node":
        return name
    if column == "state":
        return (_STATE_RANK[node_state(view)], name)
    if column == "checks":
        status = worst(view.results)
        count = sum(result.status is status for result in view.results)
        return (-(status.severity if status is not None else -1), -count, name)
    value = column_value(column, view)
    return (-value if value is not None else float("inf"), name)


class FleetTable(KeyedTable):
    """Group header rows and node rows; `show` feeds a node, `set_filter`/`toggle_fold`/`sort_by` arrange."""

    COLUMNS = COLUMNS
    BINDINGS = [Binding("enter", "select_cursor", "Open")]
    DEFAULT_CSS = """
    FleetTable {
        height: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.groups: dict[str, list[str]] = {}
        self.folded: set[str] = set()
        self.filter = ""
        self.sort_column = "node"
        self.sort_reverse = False
        self._views: dict[str, NodeView] = {}
        self._sort_values: dict[str, Any] = {}
        self.headers = True  # group header rows: only when the inventory has groups

    def set_nodes(self, nodes: Sequence[Node]) -> None:
        self.groups = {}
        self.headers = any(node.groups for node in nodes)
        for node in nodes:
            self.groups.setdefault(group_of(node), []).append(node.name)
        for node in nodes:
            self.show(NodeView(node, None), rearrange=False)
        self.regroup()
        first = next((names[0] for names in self.groups.values() if names), None)
        self.restore_cursor(first)  # on the first node, not its group's header

    def show(self, view: NodeView, *, rearrange: bool = True) -> None:
        name = view.node.name
        self._views[name] = view
        trend = TREND_WIDTH if "trend" in self.shown_columns else 0
        cells = node_cells(view, trend_width=trend)
        before = self._sort_values.get(name)
        self._sort_values[name] = sort_value(self.sort_column, view)
        was_shown = name in self.rows
        self.set_row(name, cells, visible=self._visible(name))
        self._show_header(group_of(view.node))
        moved = before != self._sort_values[name] and self.sort_column != "node"
        if rearrange and (moved or was_shown != (name in self.rows)):
            self.regroup()

    def _matches(self, name: str) -> bool:
        if not self.filter:
            return True
        view = self._views[name]
        cells = self.cells(name)
        haystack = " ".join(
            [
                name,
                view.node.host,
                *view.node.groups,
                cells.get("state", DASH).plain,
                cells.get("detail", DASH).plain,
            ]
        ).lower()
        return all(word in haystack for word in self.filter.lower().split())

    def _visible(self, name: str) -> bool:
        view = self._views.get(name)
        return view is not None and group_of(view.node) not in self.folded and self._matches(name)

    def _show_header(self, group: str) -> None:
        if not self.headers:
            return
        members = [name for name in self.groups.get(group, []) if name in self._views]
        matching = [name for name in members if self._matches(name)]
        results = [result for name in members for result in self._views[name].results]
        mark = "▸" if group in self.folded else "▾"
        count = f"{len(matching)}/{len(members)} nodes" if self.filter else plural(len(members), "node")
        cells = {
            # no reverse box: next to the cursor it read as a second selection
            "node": Text(f"{mark} {group}", style="bold underline"),
            "state": Text(count, style="dim"),
            "checks": checks_cell(results),
        }
        self.set_row(GROUP_PREFIX + group, cells, visible=bool(matching) or not self.filter)

    def regroup(self) -> None:
        """Show what the filter and folds let through, in group order, nodes sorted within their group."""
        cursor = self.cursor_key
        order: list[str] = []
        for group, members in self.groups.items():
            self._show_header(group)
            header = GROUP_PREFIX + group
            if header in self.rows:
                order.append(header)
            ranked = sorted(
                members, key=lambda name: self._sort_values.get(name, ""), reverse=self.sort_reverse
            )
            for name in ranked:
                if self._visible(name):
                    self.show_row(name)
                    order.append(name)
                else:
                    self.hide_row(name)
        self.order(order)
        self.restore_cursor(cursor)

    def set_filter(self, text: str) -> None:
        self.filter = text.strip()
        self.regroup()

    def toggle_fold(self, group: str) -> None:
        self.folded ^= {group}
        self.regroup()
        self.restore_cursor(GROUP_PREFIX + group if group in self.folded else self.cursor_key)

    def sort_by(self, column: str, *, reverse: bool | None = None) -> None:
        self.sort_column = column
        if reverse is not None:
            self.sort_reverse = reverse
        for name, view in self._views.items():
            self._sort_values[name] = sort_value(column, view)
        self.regroup()

    def group_at_cursor(self) -> str | None:
        key = self.cursor_key
        if key is None:
            return None
        if key.startswith(GROUP_PREFIX):
            return key[len(GROUP_PREFIX) :]
        view = self._views.get(key)
        return group_of(view.node) if view is not None else None

    def after_build(self) -> None:
        for view in list(self._views.values()):  # the trend column's width may have changed
            self.show(view, rearrange=False)
        self.regroup()
