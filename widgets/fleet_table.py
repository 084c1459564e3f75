"""The fleet table: one row per node under a header row per inventory group; filter, sort, fold. Renders only.

Rows are keyed by node name (group headers by GROUP_PREFIX + group) and updated cell by cell. Folding a
group or filtering hides rows without forgetting their cells; sorting orders nodes within their group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.binding import Binding

from console.checks.model import CheckResult, Status
from console.collectors.docker_model import watched_containers
from console.history import SCALES
from console.inventory.model import Node
from console.snapshots import NodeSnapshot
from widgets.keyed_table import Column, KeyedTable
from widgets.sparkline import spark
from widgets.status import DASH, STATUS_WORD, or_dash, plural, status_text

GROUP_PREFIX = "@group/"
UNGROUPED = "ungrouped"
SLOW_CONNECT_S = 2.0
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


def state_cell(view: NodeView) -> Text:
    snapshot = view.snapshot
    if view.polling_for is not None and (snapshot is None or snapshot.reachable):
        return Text("⧗ slow", style="bold yellow")
    if snapshot is None:
        return Text("… wait", style="dim")
    if not snapshot.reachable:
        return Text("✖ down", style="bold red")
    if snapshot.connect_s is not None and snapshot.connect_s >= SLOW_CONNECT_S:
        return Text("◐ slow", style="yellow")
    return Text("● up", style="green")


def _containers(node: Node, snapshot: NodeSnapshot) -> Text:
    docker = snapshot.docker
    if node.docker is None or docker is None:
        return DASH
    if docker.error is not None:
        return Text("✖ err", style="bold red")
    expected = watched_containers(node)
    if expected:
        up = sum(1 for name in expected if (c := docker.container(name)) is not None and c.state == "running")
        total = len(expected)
    else:
        up, total = sum(c.state == "running" for c in docker.containers), len(docker.containers)
    return Text(f"{up}/{total}", style="" if up == total else "bold red", justify="right")


def _mounts(node: Node, snapshot: NodeSnapshot) -> Text:
    mounts = snapshot.mounts
    if not node.mounts or mounts is None:
        return DASH
    if mounts.error is not None:
        return Text("✖ err", style="bold red")
    ok = sum(1 for m in mounts.mounts if m.present and m.responsive == "ok" and m.mode_ok is not False)
    hung = any(m.responsive == "hung" for m in mounts.mounts)
    text = f"{ok}/{len(node.mounts)}" + (" hung" if hung else "")
    return Text(text, style="" if ok == len(node.mounts) else "bold red", justify="right")


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
    cells["containers"] = _containers(node, snapshot)
    cells["mounts"] = _mounts(node, snapshot)
    gpu = snapshot.gpu
    if gpu is None or gpu.status != "ok":
        message = (gpu.error if gpu is not None else None) or "no GPU data"
        tooling = gpu is not None and gpu.status == "no_tooling"
        cells["detail"] = Text(message, style="dim" if tooling else "yellow")
        cells["gpus"] = Text("0", justify="right") if tooling else DASH
        return cells
    readings = gpu.gpus
    expected = node.gpus.count if node.gpus is not None else None
    if expected is not None and expected != len(readings):
        cells["gpus"] = Text(f"{len(readings)}/{expected}", style="bold red", justify="right")
    else:
        cells["gpus"] = Text(str(len(readings)), justify="right")
    utils = [r.util_gpu_pct for r in readings if r.util_gpu_pct is not None]
    cells["util"] = or_dash(sum(utils) / len(utils) if utils else None, "{:.0f}%")
    if view.util_history:
        cells["trend"] = spark(view.util_history, trend_width, *SCALES["util"])
    used = [r.memory_used_mib for r in readings if r.memory_used_mib is not None]
    total = [r.memory_total_mib for r in readings if r.memory_total_mib is not None]
    if used and total:
        cells["memory"] = Text(f"{sum(used) / 1024:.1f}/{sum(total) / 1024:.0f} GiB", justify="right")
    temps = [r.temperature_c for r in readings if r.temperature_c is not None]
    if temps:
        hottest, limits = max(temps), node.thresholds.gpu_temperature
        style = "bold red" if hottest >= limits.crit else ("bold yellow" if hottest >= limits.warn else "")
        cells["temp"] = Text(f"{hottest:.0f}°C", style=style, justify="right")
    draws = [r.power_draw_w for r in readings if r.power_draw_w is not None]
    limits_w = [r.power_limit_w for r in readings if r.power_limit_w is not None]
    if draws:
        text = f"{sum(draws):.0f}/{sum(limits_w):.0f} W" if limits_w else f"{sum(draws):.0f} W"
        cells["power"] = Text(text, justify="right")
    names = sorted({r.name for r in readings})
    cells["detail"] = Text(", ".join(names) if names else "no GPUs", style="" if names else "dim")
    return cells


_STATE_RANK = {"✖ down": 0, "⧗ slow": 1, "◐ slow": 2, "… wait": 3, "● up": 4}


def sort_value(column: str, view: NodeView, cells: dict[str, Text]) -> Any:
    """What `column` sorts nodes by: worst (or biggest) first."""
    if column == "node":
        return view.node.name
    if column == "state":
        return (_STATE_RANK.get(cells["state"].plain, 9), view.node.name)
    if column == "checks":
        status = worst(view.results)
        count = sum(result.status is status for result in view.results)
        return (-(status.severity if status is not None else -1), -count, view.node.name)
    plain = cells.get(column, DASH).plain
    number = "".join(ch if ch.isdigit() or ch == "." else " " for ch in plain).split()
    return (-float(number[0]) if number else float("inf"), view.node.name)


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
        self._sort_values[name] = sort_value(self.sort_column, view, cells)
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
            self._sort_values[name] = sort_value(column, view, self.cells(name))
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
