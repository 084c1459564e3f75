"""The fleet table as an operator uses it: a header click sorts; the cursor stays on its node as rows move."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from textual.strip import Strip

from console.model.levels import NodeLevels
from console.sections.columns import fleet_values
from screens.fleet import FleetScreen
from tests.test_tui_flows import make_app, settle
from widgets.fleet_table import GROUP_PREFIX, FleetTable, group_of


def header_x(table: FleetTable, column: str) -> int:
    """The x of a column's header label (one cell of padding before each column)."""
    x = 0
    for key, width in table.shown_widths.items():
        if key == column:
            return x + 1
        x += width + 2 * table.cell_padding
    raise AssertionError(f"{column} is not shown")


def keys(table: FleetTable) -> list[str]:
    return [row.key.value or "" for row in table.ordered_rows]


async def test_a_header_click_sorts_and_a_second_reverses() -> None:
    app, _ = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(FleetTable)
        assert table.sort_column == "node"
        await pilot.click(FleetTable, offset=(header_x(table, "util"), 0))
        await pilot.pause()
        assert (table.sort_column, table.sort_reverse) == ("util", False)
        assert keys(table).index("pod-8") < keys(table).index("pod-7")  # 100% before 0% in the pods group
        await pilot.click(FleetTable, offset=(header_x(table, "util"), 0))
        await pilot.pause()
        assert (table.sort_column, table.sort_reverse) == ("util", True)
        assert keys(table).index("pod-7") < keys(table).index("pod-8")


async def test_a_row_click_moves_the_cursor_there_and_a_second_opens_the_node_even_when_scrolled() -> None:
    from console.demo.fleet import recorded_fleet
    from screens.app import OpsConsoleApp
    from screens.node import NodeScreen

    app = OpsConsoleApp(recorded_fleet(40).session(), cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=(120, 20)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(FleetTable)
        await pilot.press("end")  # scrolled: the row under a click is the scroll offset plus its line
        await pilot.pause()
        top = int(table.scroll_y)
        assert top > 0
        line = next(y for y in range(3, 12) if not keys(table)[top + y - 1].startswith(GROUP_PREFIX))
        wanted = keys(table)[top + line - 1]
        await pilot.click(FleetTable, offset=(4, line))
        await pilot.pause()
        assert table.cursor_key == wanted
        assert not isinstance(app.screen, NodeScreen)
        await pilot.click(FleetTable, offset=(4, line))
        await settle(pilot)
        assert isinstance(app.screen, NodeScreen)
        assert app.screen.node.name == wanted


async def test_the_cursor_stays_on_its_node_when_new_values_re_sort_the_rows() -> None:
    app, _ = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(FleetTable)
        table.sort_by("util")
        table.restore_cursor("pod-7")
        await pilot.pause()
        assert keys(table).index("pod-8") < keys(table).index("pod-7")
        before = table.cursor_row
        # pod-8 goes idle: it now sorts after pod-7, which moves up a row under the cursor
        view = table._views["pod-8"]
        assert view.snapshot is not None
        assert view.snapshot.gpu is not None
        idle = tuple(dataclasses.replace(r, util_gpu_pct=0.0) for r in view.snapshot.gpu.gpus)
        snapshot = dataclasses.replace(view.snapshot, gpu=dataclasses.replace(view.snapshot.gpu, gpus=idle))
        values = fleet_values(view.node, snapshot, NodeLevels())
        table.show(dataclasses.replace(view, snapshot=snapshot, values=values))
        await pilot.pause()
        assert keys(table).index("pod-7") < keys(table).index("pod-8")
        assert table.cursor_key == "pod-7"
        assert table.cursor_row == before - 1


async def test_a_poll_renders_only_the_rows_of_the_nodes_whose_values_changed(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rendered: list[str] = []
    render_row = FleetTable.render_row

    def counting(self: FleetTable, key: str, index: int) -> Strip:
        rendered.append(key)
        return render_row(self, key, index)

    monkeypatch.setattr(FleetTable, "render_row", counting)
    app, _ = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        session = screen.session
        latest = session.latest["rack-a1"]
        assert latest.gpu is not None
        # the same answer again (a later poll, same values): no row is rendered again
        rendered.clear()
        again = dataclasses.replace(latest, taken_at=latest.taken_at + timedelta(seconds=1))
        screen.show_snapshots([session.latest[name] for name in ("gpu1", "pod-7")])
        await pilot.pause()
        assert rendered == []
        # one GPU of rack-a1 cools down: its row, and only its row, is rendered again
        cooler = tuple(dataclasses.replace(r, temperature_c=31.0) for r in latest.gpu.gpus)
        changed = dataclasses.replace(again, gpu=dataclasses.replace(latest.gpu, gpus=cooler))
        session.record(changed)
        screen.show_snapshots([changed, session.latest["gpu1"]])
        await pilot.pause()
        assert rendered == ["rack-a1"]
        assert screen.table.get_cell("rack-a1", "temp").plain == "31°C"


async def test_a_row_drawn_again_restyles_only_its_cells_that_changed() -> None:
    app, _ = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        table = screen.table
        session = screen.session
        latest = session.latest["rack-a1"]
        assert latest.gpu is not None
        await pilot.pause()
        before = {column: table.get_cell("rack-a1", column).markup for column in table.shown_columns}
        restyled = table.restyled
        cooler = tuple(dataclasses.replace(r, temperature_c=31.0) for r in latest.gpu.gpus)
        changed = dataclasses.replace(latest, gpu=dataclasses.replace(latest.gpu, gpus=cooler))
        session.record(changed)
        screen.show_snapshots([changed])
        await pilot.pause()
        after = {column: table.get_cell("rack-a1", column).markup for column in table.shown_columns}
        differ = [column for column in before if before[column] != after[column]]
        assert "temp" in differ
        assert len(differ) < len(before) - 3
        assert table.restyled - restyled == len(differ)  # the row's other cells keep their styled segments


async def test_a_group_header_is_worked_out_again_only_when_a_node_s_tally_changes() -> None:
    app, _ = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        table = screen.table
        headers: list[str] = []
        show_header = table._show_header

        def counted(group: str, *, place: bool = True) -> bool:
            headers.append(group)
            return show_header(group, place=place)

        table._show_header = counted  # type: ignore[method-assign]
        session = screen.session
        latest = session.latest["rack-a1"]
        assert latest.gpu is not None
        header = GROUP_PREFIX + group_of(app.nodes["rack-a1"])
        before = table.get_cell(header, "checks").plain
        # a GPU cools down: the row changes, its checks do not, its group's header is left as it is
        cooler = tuple(dataclasses.replace(r, temperature_c=31.0) for r in latest.gpu.gpus)
        session.record(dataclasses.replace(latest, gpu=dataclasses.replace(latest.gpu, gpus=cooler)))
        screen.show_snapshots([session.latest["rack-a1"]])
        assert table.get_cell("rack-a1", "temp").plain == "31°C"
        assert headers == []
        # it goes down: its tally changes, and its group's header with it
        session.record(dataclasses.replace(latest, reachable=False, error="connection lost"))
        screen.show_snapshots([session.latest["rack-a1"]])
        assert len(headers) == 1
        assert table.get_cell(header, "checks").plain != before
