"""Fleet columns come from the section registry: a section declares them, the fleet shows and sorts them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from textual.app import App, ComposeResult

from console.model.columns import CellValue, ColumnSpec, NodeTab, RowInput
from console.model.levels import NodeLevels
from console.sections import SECTIONS, register
from console.sections.columns import fleet_columns, fleet_values, node_tabs
from tests.test_fleet_screen import make_app, recorded_fleet
from widgets.fleet_table import FleetTable, NodeView

# Text that sorts the other way round from the values: "9 %" > "10 %" as text.
LOAD = {"gpu1": 9.0, "rack-a1": 10.0, "atlas": 100.0}


def load_cells(row: RowInput) -> dict[str, CellValue]:
    value = LOAD.get(row.node.name)
    return {"load": CellValue(f"{value:.0f} %", sort=value) if value is not None else CellValue()}


@pytest.fixture
def load_column() -> Iterator[None]:
    """The facts section, for this test, also declares a Load column (replaced in place, then put back)."""
    before = SECTIONS["facts"]
    register(
        dataclasses.replace(before, columns=(ColumnSpec("load", "Load", 6, priority=1),), cells=load_cells)
    )
    try:
        yield
    finally:
        register(before)


def test_columns_follow_the_registration_order() -> None:
    keys = [column.key for column in fleet_columns()]
    assert keys[:6] == ["gpus", "util", "trend", "memory", "temp", "power"]  # the GPU section is first
    assert keys.index("mounts") < keys.index("containers")  # mounts registers before docker


def test_a_column_key_two_sections_declare_is_refused() -> None:
    before = SECTIONS["facts"]
    register(dataclasses.replace(before, columns=(ColumnSpec("util", "Util again", 4),)))
    try:
        with pytest.raises(ValueError, match=r"'util'.*taken"):
            fleet_columns()
    finally:
        register(before)


def test_a_node_that_did_not_answer_has_no_section_values() -> None:
    inventory, source = recorded_fleet()
    node = inventory.node("cerberus")
    assert fleet_values(node, source.snapshots["cerberus"], NodeLevels()) == {}
    assert fleet_values(node, None, NodeLevels()) == {}


async def test_a_declared_column_is_shown_in_the_fleet(load_column: None) -> None:
    inventory, source = recorded_fleet()
    app = make_app(inventory, source)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.app.settled()
        await pilot.pause()
        table = app.screen.query_one(FleetTable)
        assert "load" in table.shown_columns
        assert table.get_cell("rack-a1", "load").plain == "10 %"
        assert table.get_cell("cerberus", "load").plain == "–"  # down: a dash
        assert "load" in table.sortable


class FleetApp(App[None]):
    def __init__(self, table: FleetTable) -> None:
        super().__init__()
        self.table = table

    def compose(self) -> ComposeResult:
        yield self.table


async def test_a_declared_column_sorts_on_its_raw_values_not_its_text(load_column: None) -> None:
    inventory, source = recorded_fleet()
    nodes = [dataclasses.replace(node, groups=()) for node in inventory.nodes]
    table = FleetTable(columns=fleet_columns())
    async with FleetApp(table).run_test(size=(160, 20)) as pilot:
        table.set_nodes(nodes)
        for node in nodes:
            snapshot = source.snapshots[node.name]
            values = fleet_values(node, snapshot, NodeLevels())
            table.show(NodeView(node, snapshot, levels=NodeLevels(), values=values))
        await pilot.pause()
        table.sort_by("load")
        # biggest first on the numbers (text would put "9 %" first); no value sorts last
        assert [row.key.value for row in table.ordered_rows] == ["atlas", "rack-a1", "gpu1", "cerberus"]


def test_node_tabs_come_from_the_registry_in_their_places() -> None:
    assert [(tab.key, tab.title) for tab in node_tabs()][:4] == [
        ("gpus", "GPUs"),
        ("containers", "Containers"),
        ("mounts", "Mounts"),
        ("services", "Services"),
    ]
    before = SECTIONS["facts"]
    register(dataclasses.replace(before, tab=NodeTab("facts", "Facts", 0)))
    try:
        assert node_tabs()[0].key == "facts"  # its place, not its registration order
        register(dataclasses.replace(before, tab=NodeTab("gpus", "GPUs again", 9)))
        with pytest.raises(ValueError, match="distinct keys"):
            node_tabs()
    finally:
        register(before)
