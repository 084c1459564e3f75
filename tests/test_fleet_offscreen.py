"""Rows off the screen: a node that answers while its row is scrolled past keeps its answer (the tallies,
the sort) but its cells are worked out only when the row comes into view, and then they are the newest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from textual.pilot import Pilot

from console.demo.fleet import recorded_fleet
from screens.app import OpsConsoleApp
from tests.tui_pilot import settle
from widgets.fleet_table import FleetTable, node_cells


def painted(table: FleetTable, key: str) -> str:
    y = table.get_row_index(key) + 1 - int(table.scroll_y)
    assert 1 <= y < table.size.height, "the row is not on the screen"
    return "".join(segment.text for segment in table.render_line(y))


def expected(table: FleetTable, key: str) -> list[str]:
    view = table._views[key]
    cells = node_cells(view, widths=table.shown_widths)
    return [cells[column].plain for column in ("checks", "detail") if column in table.shown_columns]


@asynccontextmanager
async def forty_nodes() -> AsyncIterator[tuple[Pilot[None], OpsConsoleApp, FleetTable]]:
    """The recorded fleet of 40 nodes with moving values on a 20-line terminal (most rows off the screen)."""
    app = OpsConsoleApp(recorded_fleet(40, moving=True).session(), cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=(120, 20)) as pilot:
        await settle(pilot)
        yield pilot, app, app.screen.query_one(FleetTable)


async def test_an_off_screen_row_is_drawn_with_its_newest_answer_when_it_comes_into_view() -> None:
    async with forty_nodes() as (pilot, app, table):
        last = table._order[-1]
        first = next(key for key in table._order if key in app.nodes)
        assert not table._on_screen(last)
        assert table._on_screen(first)
        before = dict(table._rows[last])
        for _ in range(3):  # moving: every poll brings the node's next recorded values
            await pilot.press("r")
            await settle(pilot)
        assert last in table._stale  # answered, not drawn
        assert table._rows[last] == before
        assert first not in table._stale  # a row on the screen is drawn at once
        assert table._views[last].snapshot is app.session.latest[last]

        await pilot.press("end")  # the cursor to the last row: it scrolls into view
        await pilot.pause()
        assert table._on_screen(last)
        assert last not in table._stale
        line = painted(table, last)
        for text in expected(table, last):
            assert text[:8] in line, (text, line)
        assert table._rows[last] != before  # the values moved: what is painted is the new answer


async def test_a_filter_sees_the_newest_answers_of_rows_off_the_screen() -> None:
    async with forty_nodes() as (pilot, app, table):
        await pilot.press("r")
        await settle(pilot)
        last = table._order[-1]
        assert last in table._stale
        snapshot = app.session.latest[last]
        table.set_filter(f"{last} up" if snapshot.reachable else f"{last} down")  # state: the newest answer
        assert table._order[-1] == last  # matched on its newest state, and now on the screen
        assert table._on_screen(last)
        assert last not in table._stale
        assert table.get_cell(last, "state").plain.endswith("up" if snapshot.reachable else "down")
