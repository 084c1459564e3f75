"""A section's node tab that describes itself (`NodeTab(..., columns, view)`): the node screen shows it in
its place with the next number key, and draws its note and rows from the description after every poll,
without a pane written for it in screens/node.py."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterator

import pytest
from textual.widgets import Static, TabbedContent, Tabs

import screens.node
from console.demo.fleet import recorded_fleet
from console.model.checks import Status
from console.model.columns import CellValue, ColumnSpec, NodeTab, TabView
from console.model.inventory import Node
from console.model.levels import NodeLevels
from console.model.node import NodeSnapshot
from console.sections import SECTIONS, register
from screens.app import OpsConsoleApp
from widgets.tab_view import TabViewTable

COLUMNS = (ColumnSpec("gpu", "GPU", 4), ColumnSpec("model", "Model", 20), ColumnSpec("temp", "Temp", 6))


def gpu_view(node: Node, snapshot: NodeSnapshot | None, levels: NodeLevels) -> TabView:
    if snapshot is None or snapshot.gpu is None:
        return TabView("waiting for the first poll")
    rows = tuple(
        (
            f"gpu{gpu.index}",
            {
                "gpu": CellValue(str(gpu.index)),
                "model": CellValue(gpu.name, justify="left"),
                "temp": CellValue(f"{gpu.temperature_c:.0f}°C", level=Status.WARNING, sort=gpu.temperature_c)
                if gpu.temperature_c is not None
                else CellValue(),
            },
        )
        for gpu in snapshot.gpu.gpus
    )
    return TabView(f"{len(rows)} GPUs read from \x1b[31m{node.host}", tone="warn", rows=rows)


@pytest.fixture
def facts_tab() -> Iterator[None]:
    """The facts section given a described tab after Services; the registry and the screen module as
    they were come back afterwards."""
    before, module = SECTIONS["facts"], dict(vars(screens.node))
    register(dataclasses.replace(before, tab=NodeTab("facts", "Facts", 5, COLUMNS, gpu_view)))
    importlib.reload(screens.node)  # the node screen reads the tabs once, when it is imported
    try:
        yield
    finally:
        register(before)
        vars(screens.node).clear()  # the very NodeScreen class other tests imported, not a new one
        vars(screens.node).update(module)


async def test_a_described_tab_is_shown_in_its_place_and_filled_from_its_view(facts_tab: None) -> None:
    app = OpsConsoleApp(recorded_fleet().session(), cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.app.settled()
        await pilot.pause()
        app.open_node("gpu1")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, screens.node.NodeScreen)
        labels = [str(tab.label) for tab in screen.query_one(Tabs).query("Tab")]
        assert labels == ["1 GPUs", "2 Containers", "3 Mounts", "4 Services", "5 Facts", "6 Checks"]
        await pilot.press("5")
        await pilot.pause()
        assert screen.query_one(TabbedContent).active == "facts"
        screen.catch_up()
        await pilot.pause()
        table = screen.query_one(TabViewTable)
        snapshot = app.session.latest["gpu1"]
        assert snapshot.gpu is not None
        assert snapshot.gpu.gpus
        first = snapshot.gpu.gpus[0]
        assert table.cells("gpu0")["model"].plain == first.name
        assert table.cells("gpu0")["temp"].plain == f"{first.temperature_c:.0f}°C"
        assert str(table.cells("gpu0")["temp"].style) != ""  # coloured from its level
        note = str(screen.query_one("#facts-note", Static).render())
        assert note.startswith(f"{len(snapshot.gpu.gpus)} GPUs read from \\x1b[31m")  # node text made visible
        await pilot.press("6")
        await pilot.pause()
        assert screen.query_one(TabbedContent).active == "checks"
