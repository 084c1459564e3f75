"""The fleet table: one row per node under a header row per inventory group; filter, sort, fold. Renders only.

Rows are keyed by node name (group headers by GROUP_PREFIX + group) and updated cell by cell. Folding a
group or filtering hides rows without forgetting their cells; sorting orders nodes within their group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from rich.text import Text
from textual import events
from textual.binding import Binding

from console.model.checks import CheckResult, Status
from console.model.columns import DETAIL, CellValue, ColumnSpec
from console.model.inventory import Node
from console.model.levels import NodeLevels
from console.model.node import PROM_GONE, NodeSnapshot
from console.text import clean_line
from widgets.keyed_table import Column, KeyedTable
from widgets.sparkline import spark_range
from widgets.status import DASH, STATUS_WORD, level_style, plural, status_text

GROUP_PREFIX = "@group/"
UNGROUPED = "ungrouped"
TREND_WIDTH = 12  # a sparkline column's width when it is not shown (what node_cells draws by default)
OWN_SORTABLE = ("node", "state", "checks")
_HAYSTACK = 4096  # what the filter looks in of a node's detail (the cell shows less)


@dataclass(frozen=True, slots=True)
class NodeView:
    """What the fleet knows about a node right now (the screen assembles it; the table only draws it)."""

    node: Node
    snapshot: NodeSnapshot | None
    results: tuple[CheckResult, ...] = ()
    polling_for: float | None = None  # seconds a poll has been running, once that is worth saying
    # The checks' verdicts on its values: what the cells are coloured by.
    levels: NodeLevels = field(default_factory=NodeLevels)
    # The sections' cells by column key (console/sections/columns.fleet_values), with their sort keys.
    values: Mapping[str, CellValue] = field(default_factory=dict)


def group_of(node: Node) -> str:
    return node.groups[0] if node.groups else UNGROUPED


def worst(results: Sequence[CheckResult]) -> Status | None:
    return Status.worst(tuple(result.status for result in results)) if results else None


def checks_tally(results: Sequence[CheckResult]) -> tuple[Status | None, int]:
    """The worst status among the results and how many results have it."""
    status = worst(results)
    return status, sum(result.status is status for result in results)


@lru_cache(maxsize=64)
def tally_cell(status: Status | None, count: int) -> Text:
    """'✖ 3 crit' (one Text per tally: a row given the same object again is known unchanged)."""
    if status is None:
        return DASH
    if status is Status.OK:
        return status_text(Status.OK)
    return status_text(status, f"{count} {STATUS_WORD[status]}")


def checks_cell(results: Sequence[CheckResult]) -> Text:
    return tally_cell(*checks_tally(results))


def group_tally(tallies: Iterable[tuple[Status | None, int]]) -> tuple[Status | None, int]:
    """A group's tally from its nodes': the worst of their worst, counted over the nodes that have it."""
    known = [(status, count) for status, count in tallies if status is not None]
    if not known:
        return None, 0
    status = Status.worst(tuple(status for status, _ in known))
    return status, sum(count for each, count in known if each is status)


# What a node's connection is doing, worst first (the State column sorts in this order).
STATES = {
    "down": Text("✖ down", style="bold red"),
    "gone": Text("✖ gone", style="bold red"),  # a node read from Prometheus whose series stopped naming it
    "busy": Text("⧗ slow", style="bold yellow"),  # a poll has been running for a while
    "slow": Text("◐ slow", style="yellow"),  # the last handshake took long
    "stale": Text("◌ stale", style="yellow"),  # a Prometheus node's newest series older than 3 scrapes
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
        return "gone" if snapshot.prom is not None and snapshot.error == PROM_GONE else "down"
    if snapshot.prom is not None and (snapshot.prom.stale or snapshot.prom.up is False):
        return "stale" if snapshot.prom.stale else "down"
    if view.levels.slow_connect:
        return "slow"
    return "up"


def state_cell(view: NodeView) -> Text:
    return STATES[node_state(view)]


TONE_STYLE = {"": "", "dim": "dim", "warn": "yellow", "bad": "bold red"}


@lru_cache(maxsize=8192)
def value_text(value: CellValue | None, width: int = TREND_WIDTH) -> Text:
    """A section's cell as the table shows it: a sparkline `width` wide, a dash, or its text in the colour of
    its level (or its tone). Kept per value: an unchanged value gives the same Text object, which the table
    takes as unchanged without comparing it."""
    if value is None:
        return DASH
    if value.scale is not None:
        return spark_range(value.series, width, *value.scale)  # the strip says its own min–max
    if value.text is None:
        return DASH
    style = level_style(value.level) or TONE_STYLE[value.tone]
    return Text(value.text, style=style, justify=value.justify)


@lru_cache(maxsize=4096)
def _name(name: str) -> Text:
    return Text(name, style="bold")


def node_cells(view: NodeView, *, widths: Mapping[str, int] | None = None) -> dict[str, Text]:
    """What each column shows for one node; status words, not colour alone, carry the meaning. The section
    columns come from `view.values` (console/sections/columns.py); an absent value is a dash. A sparkline
    is drawn as wide as `widths` says (0 for a column not shown; TREND_WIDTH without `widths`)."""
    node = view.node
    cells = {
        key: value_text(value, TREND_WIDTH if widths is None else widths.get(key, 0))
        for key, value in view.values.items()
        if key != DETAIL
    }
    cells["node"] = _name(node.name)
    cells["state"] = state_cell(view)
    cells["checks"] = checks_cell(view.results)
    cells[DETAIL] = detail_cell(view)
    return cells


def detail_cell(view: NodeView) -> Text:
    """Why a node is down or slow, or its section's detail."""
    snapshot = view.snapshot
    if snapshot is None:
        waiting = f"polling for {view.polling_for:.0f}s" if view.polling_for else view.node.host
        return Text(waiting, style="dim")
    if not snapshot.reachable:
        return Text(snapshot.error or "unreachable", style="red")
    return value_text(view.values.get(DETAIL))


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
    value = view.values.get(column)
    raw = value.sort if value is not None else None
    return (-raw if raw is not None else float("inf"), name)


def table_columns(sections: Sequence[ColumnSpec]) -> tuple[Column, ...]:
    """The table's own columns around the sections' (in the order given)."""
    return (
        Column("node", "Node", 14, 0, keep=True),
        Column("state", "State", 8, 0, keep=True),
        Column("checks", "Checks", 9, 1),
        *(Column(c.key, c.label, c.width, c.priority, c.flex) for c in sections),
        # Why a node is down or slow: room for a reason comes before the numbers on a narrow terminal.
        Column(DETAIL, "Detail", 24, 2, flex=True),
    )


class FleetTable(KeyedTable):
    """Group header rows and node rows; `show` feeds a node, `set_filter`/`toggle_fold`/`sort_by` arrange."""

    BINDINGS = [Binding("enter", "select_cursor", "Open")]
    DEFAULT_CSS = """
    FleetTable {
        height: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None, columns: Sequence[ColumnSpec] = ()) -> None:
        """`columns`: the sections' columns (console/sections/columns.fleet_columns), between the table's
        own node, state and checks columns and its detail column."""
        super().__init__(id=id)
        self.COLUMNS = table_columns(columns)
        self.sortable = OWN_SORTABLE + tuple(c.key for c in columns if c.sortable)
        self._spark_widths = {c.key: c.width for c in columns}
        self.groups: dict[str, list[str]] = {}
        self.folded: set[str] = set()
        self.filter = ""
        self.sort_column = "node"
        self.sort_reverse = False
        self._views: dict[str, NodeView] = {}
        self._sort_values: dict[str, Any] = {}
        self._haystacks: dict[str, str] = {}  # node -> what the filter looks in, kept with its row
        self._words: list[str] = []  # the filter's words, lower case
        self._tallies: dict[str, tuple[Status | None, int]] = {}  # node -> its worst check status, how many
        self.headers = True  # group header rows: only when the inventory has groups
        # Rows whose node changed while they were off the screen (scrolled past, folded, filtered out): their
        # cells are worked out when they come into view. On a 300-node fleet most answers are for such rows.
        self._stale: set[str] = set()

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

    def enrol(self, nodes: Sequence[Node]) -> bool:
        """Nodes found after start, in their groups (their rows come with `show`, placed by a regroup);
        whether the table had no node before."""
        empty = not self._views
        self.headers = self.headers or any(node.groups for node in nodes)
        for node in nodes:
            self.groups.setdefault(group_of(node), []).append(node.name)
        return empty

    def show(
        self, view: NodeView, *, rearrange: bool = True, header: bool = True, place: bool = True
    ) -> None:
        """Feed one node. `header=False`: its group's header is left for the caller's regroup() (a batch of
        a thousand rows in one group would otherwise tally the group a thousand times). `place=False`: the
        row is not shown, hidden or moved either, until the caller's regroup() (a new row put at the end
        one by one costs the whole order each time)."""
        name = view.node.name
        tally = checks_tally(view.results)
        # Its group's header changes only with its tally (or, under a filter, with what matches).
        header = header and (self._tallies.get(name) != tally or name not in self._views or bool(self.filter))
        self._views[name] = view
        self._tallies[name] = tally
        before = self._sort_values.get(name)
        self._sort_values[name] = sort_value(self.sort_column, view)
        was_shown = name in self.rows
        if name in self._rows and not self.filter and not self._on_screen(name):
            # Drawn when it comes into view. Not under a filter: an answer may make the row match or not.
            # Otherwise its place is unchanged (whether it shows changes with a fold, which regroups).
            self._stale.add(name)
        else:
            self._stale.discard(name)
            self.set_row(name, self._node_cells(view), visible=self._visible(name) if place else None)
        self._haystacks.pop(name, None)  # its state or detail may have changed
        if header:
            self._show_header(group_of(view.node))
        moved = before != self._sort_values[name] and self.sort_column != "node"
        if rearrange and (moved or was_shown != (name in self.rows)):
            self.regroup()

    def _node_cells(self, view: NodeView) -> dict[str, Text]:
        shown = self.shown_columns
        cells = node_cells(view, widths={k: w for k, w in self._spark_widths.items() if k in shown})
        return {column.key: cells.get(column.key, DASH) for column in self.COLUMNS}  # no value: a dash

    def _on_screen(self, key: str) -> bool:
        index = self._index.get(key)
        if index is None:
            return False
        y = index + 1 - int(self.scroll_y)
        return 1 <= y < self.size.height

    def _draw_stale(self, keys: Iterable[str]) -> None:
        """Work out the cells of these rows if they changed while off the screen."""
        for key in keys:
            if key in self._stale and key in self._views:
                self._stale.discard(key)
                self.set_row(key, self._node_cells(self._views[key]), visible=None)

    def _draw_stale_in_view(self) -> None:
        if self._stale:
            top = int(self.scroll_y)
            self._draw_stale(self._order[top : top + max(0, self.size.height - 1)])

    def _place(self, keys: list[str]) -> None:
        super()._place(keys)
        self._draw_stale_in_view()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._draw_stale_in_view()

    def on_resize(self, event: events.Resize) -> None:
        self._draw_stale_in_view()  # (Textual calls KeyedTable's handler too: it refits after this)

    def get_cell(self, key: str, column: str) -> Text:
        self._draw_stale((key,))
        return super().get_cell(key, column)

    def get_row_at(self, index: int) -> list[Text]:
        self._draw_stale(self._order[index : index + 1])
        return super().get_row_at(index)

    def cells(self, key: str) -> dict[str, Text]:
        self._draw_stale((key,))
        return super().cells(key)

    def _matches(self, name: str) -> bool:
        if not self._words:
            return True
        haystack = self._haystacks.get(name)
        if haystack is None:  # worked out once per row change, not once per key press in the filter
            # From the node's view, not its cells (a row off the screen has not drawn its newest ones), as
            # the cells show the text (control characters made visible).
            view = self._views[name]
            shown = (state_cell(view).plain, clean_line(detail_cell(view).plain, limit=_HAYSTACK))
            haystack = self._haystacks[name] = " ".join(
                [name, view.node.host, *view.node.groups, *shown]
            ).lower()
        return all(word in haystack for word in self._words)

    def _visible(self, name: str) -> bool:
        view = self._views.get(name)
        return view is not None and group_of(view.node) not in self.folded and self._matches(name)

    def _show_header(self, group: str, *, place: bool = True) -> bool:
        """Refresh a group's header row; whether it should show (shown or hidden now unless `place` is
        False: regroup arranges every row at once)."""
        if not self.headers:
            return False
        members = [name for name in self.groups.get(group, []) if name in self._views]
        matching = [name for name in members if self._matches(name)]
        mark = "▸" if group in self.folded else "▾"
        count = f"{len(matching)}/{len(members)} nodes" if self.filter else plural(len(members), "node")
        cells = {
            # no reverse box: next to the cursor it read as a second selection
            "node": Text(f"{mark} {group}", style="bold underline"),
            "state": Text(count, style="dim"),
            "checks": tally_cell(*group_tally(self._tallies[name] for name in members)),
        }
        visible = bool(matching) or not self.filter
        self.set_row(GROUP_PREFIX + group, cells, visible=visible if place else None)
        return visible

    def regroup(self) -> None:
        """Show what the filter and folds let through, in group order, nodes sorted within their group."""
        cursor = self.cursor_key
        order: list[str] = []
        for group, members in self.groups.items():
            if self._show_header(group, place=False):
                order.append(GROUP_PREFIX + group)
            ranked = sorted(
                members, key=lambda name: self._sort_values.get(name, ""), reverse=self.sort_reverse
            )
            order += [name for name in ranked if self._visible(name)]
        self.show_only(order)  # one re-arrangement, however many rows come or go (a filter on 1,000 nodes)
        self.restore_cursor(cursor)

    def set_filter(self, text: str) -> None:
        self.filter = text.strip()
        self._words = self.filter.lower().split()
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
        for view in list(self._views.values()):  # a sparkline column may have come or gone
            self.show(view, rearrange=False, header=False, place=False)  # the headers and order: regroup
        self.regroup()
