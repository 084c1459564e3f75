"""A section's node tab drawn from its plain description (console/model/columns.py `NodeTab.view`): the
tab's columns, and rows of `CellValue`s coloured from their levels as the fleet table colours them."""

from __future__ import annotations

from collections.abc import Sequence

from console.model.columns import ColumnSpec, TabView
from widgets.fleet_table import value_text
from widgets.keyed_table import Column, KeyedTable


class TabViewTable(KeyedTable):
    """The rows of a `TabView`, in its order; the first column tells rows apart (shown at any width)."""

    def __init__(self, columns: Sequence[ColumnSpec], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.COLUMNS = tuple(
            Column(c.key, c.label, c.width, c.priority, c.flex, keep=number == 0)
            for number, c in enumerate(columns)
        )

    def show(self, view: TabView) -> None:
        self.sync({key: {k: value_text(v) for k, v in cells.items()} for key, cells in view.rows})
