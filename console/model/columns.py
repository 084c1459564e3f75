"""What a section shows in the fleet table: its columns and, per node, each column's value. Plain data.

A section declares its columns (`ColumnSpec`) and a function from a node's `RowInput` to its cells
(`CellValue` by column key); the fleet screen asks the registered sections in registration order and hands
the values to the table, which colours a cell from its `level` and sorts on its raw `sort` key (never on
the text). The table's own columns (node, state, checks, detail) are not declared here.

To give a section fleet columns (see console/sections/gpu_columns.py):

    COLUMNS = (ColumnSpec("cpu", "CPU", 5, priority=4),)

    def cells(row: RowInput) -> dict[str, CellValue]:
        pct = row.snapshot.basics.cpu_pct if row.snapshot.basics else None
        return {"cpu": percent(pct)}  # a missing key, or None text, shows a dash

    BASICS = Section("basics", ..., columns=COLUMNS, cells=cells)

`cells` is called only for a node that answered (the table itself says why a node is down or waiting);
it must not raise. It may also set `DETAIL`: the first section (in registration order) that does fills
the detail column of a node that answered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from console.model.checks import Status
from console.model.inventory import Node
from console.model.levels import NodeLevels
from console.model.node import NodeSnapshot

DETAIL = "detail"  # the table's own column a section may fill for a node that answered
Justify = Literal["left", "right"]
Tone = Literal["", "dim", "warn", "bad"]  # the look of text no check judged (a reason, an error)


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One fleet column.

    key: the cell key (unique over all sections; not one of node, state, checks, detail).
    label: the header text. width: the least it is shown at (less when no cell needs that much).
    priority: which columns drop first on a narrow terminal (higher drops first; 2 is the detail column's,
      3 and above make way for a cut node name). flex: takes the width left over when it is the last shown.
    sortable: the `s` key and a header click sort by it (on the cells' `sort` keys).
    """

    key: str
    label: str
    width: int
    priority: int = 5
    flex: bool = False
    sortable: bool = True


@dataclass(frozen=True, slots=True)
class CellValue:
    """One node's value in one column.

    text: what is shown (None: a dash). level: the checks' verdict, the cell's colour (warning, critical);
      tone: the look of text no check judged ("dim", "warn" for a reason to look, "bad" for a failed read).
    sort: the raw value the column sorts by, biggest first (None sorts last); never parsed from text.
    series + scale: a sparkline of these values on this fixed (low, high) scale, drawn to the column's width,
      instead of text.
    """

    text: str | None = None
    level: Status | None = None
    sort: float | None = None
    justify: Justify = "right"
    tone: Tone = ""
    series: tuple[float, ...] = ()
    scale: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class RowInput:
    """What a section's `cells` reads for one node that answered: its snapshot, the checks' levels and
    its history (`history("util")`: the node's recorded series of that metric, oldest first)."""

    node: Node
    snapshot: NodeSnapshot
    levels: NodeLevels = field(default_factory=NodeLevels)
    history: Callable[[str], tuple[float, ...]] = lambda metric: ()


Cells = Callable[[RowInput], Mapping[str, CellValue]]


@dataclass(frozen=True, slots=True)
class TabView:
    """What a section's node tab shows, as plain data: a note line (in `tone`) above a table whose rows are
    (row key, CellValue by column key), in order; the columns are the tab's."""

    note: str | None = None
    tone: Tone = "dim"
    rows: tuple[tuple[str, Mapping[str, CellValue]], ...] = ()


ViewOf = Callable[[Node, NodeSnapshot | None, NodeLevels], TabView]


@dataclass(frozen=True, slots=True)
class NodeTab:
    """A section's tab on the node screen: `key` names the pane, `title` its label, `place` its position
    among the section tabs (1 first; the Checks tab, which every node has, comes last). A section without a
    tab shows on none (its results still show under Checks).

    What the tab holds: a pane the node screen draws itself (screens/node.py PANES: the built-in tabs,
    with plots, logs and actions), or, for a tab with a `view`, a note and a table of `columns` that the
    screen fills from `view(node, snapshot or None, levels)` after every poll (it must not raise)."""

    key: str
    title: str
    place: int
    columns: tuple[ColumnSpec, ...] = ()
    view: ViewOf | None = None


def number(value: float | None, template: str, *, level: Status | None = None) -> CellValue:
    """A number shown with `template` (e.g. "{:.0f}%") and sorted on its raw value; a dash when None."""
    if value is None:
        return CellValue()
    return CellValue(template.format(value), level=level, sort=value)
