"""What the screens show of the sections, from the registry: the fleet table's section columns (every
registered section's `columns`, in registration order, and one node's values from their `cells`) and the
node screen's section tabs.

How to declare a section's columns: console/model/columns.py.
"""

from __future__ import annotations

from collections.abc import Callable

from console.model.columns import DETAIL, CellValue, ColumnSpec, NodeTab, RowInput
from console.model.inventory import Node
from console.model.levels import NodeLevels
from console.model.node import NodeSnapshot
from console.sections.registry import registered

OWN = frozenset({"node", "state", "checks", DETAIL})  # the table's own columns


def fleet_columns() -> tuple[ColumnSpec, ...]:
    """The registered sections' fleet columns, in registration order; a key twice, or one of the table's
    own, is refused (two sections would fight over one cell)."""
    columns: list[ColumnSpec] = []
    seen: set[str] = set(OWN)
    for section in registered():
        for column in section.columns:
            if column.key in seen:
                raise ValueError(f"fleet column {column.key!r} of section {section.name!r} is taken")
            seen.add(column.key)
            columns.append(column)
    return tuple(columns)


def fleet_values(
    node: Node,
    snapshot: NodeSnapshot | None,
    levels: NodeLevels,
    history: Callable[[str], tuple[float, ...]] = lambda metric: (),
) -> dict[str, CellValue]:
    """One node's section cells (and the detail of the first section that gives one); empty for a node
    that has not answered (the table says why)."""
    if snapshot is None or not snapshot.reachable:
        return {}
    row = RowInput(node, snapshot, levels, history)
    values: dict[str, CellValue] = {}
    for section in registered():
        if section.cells is None:
            continue
        for key, value in section.cells(row).items():
            if key == DETAIL:
                values.setdefault(DETAIL, value)
            elif key in values:
                continue
            else:
                values[key] = value
    return values


def node_tabs() -> tuple[NodeTab, ...]:
    """The registered sections' node-screen tabs, by their place (then registration order); a tab key
    twice is refused."""
    tabs = [section.tab for section in registered() if section.tab is not None]
    keys = [tab.key for tab in tabs]
    if len(set(keys)) != len(keys) or "checks" in keys:
        raise ValueError(f"node tabs must have distinct keys other than 'checks': {keys}")
    return tuple(sorted(tabs, key=lambda tab: tab.place))
