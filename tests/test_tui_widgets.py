"""The console's pure pieces: metric history, sparklines, column fitting, the plot, and the keyed table."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.strip import Strip

from console.checks.levels import NodeLevels, Tally
from console.checks.model import CheckResult, Status
from console.collectors.docker_model import ContainerInfo, DockerSnapshot, PublishedPort
from console.demo.fleet import AT, container_id, recorded_fleet
from console.history import MetricHistory
from console.inventory.model import Node
from console.sections.columns import fleet_values
from console.snapshots import NodeSnapshot
from widgets.checks_table import ChecksTable, ranked, result_key
from widgets.fleet_table import NodeView, node_cells, sort_value
from widgets.gpu_tables import find_container, gpu_cells
from widgets.keyed_table import Column, KeyedTable, fit_columns
from widgets.node_tables import container_cells, ports_text
from widgets.plot import compact, render_plot
from widgets.prom_tables import series_name, short_label, varying
from widgets.promql_input import HistoryInput, MetricSuggester
from widgets.sparkline import spark


def gpu1_series() -> tuple[NodeSnapshot, ...]:
    return recorded_fleet().past["gpu1"]


def test_history_records_each_poll_once_and_keeps_the_last_n() -> None:
    series = gpu1_series()
    history = MetricHistory(length=5)
    assert history.record(series[0])
    assert not history.record(series[0])  # the same poll again adds nothing
    for snapshot in series[1:]:
        history.record(snapshot)
    utils = history.node("gpu1")
    assert len(utils) == 5
    assert utils == tuple(s.gpu.gpus[0].util_gpu_pct for s in series[-5:])  # type: ignore[union-attr]
    assert history.gpu("gpu1", 0, "memory")[-1] == pytest.approx(100 * 21619 / 81559)  # float32 rings
    power = series[-1].gpu.gpus[0].power_draw_w  # type: ignore[union-attr]
    assert history.gpu("gpu1", 0, "power")[-1] == pytest.approx(power)
    history.forget("gpu1")
    assert history.node("gpu1") == ()


def test_history_skips_a_node_that_did_not_answer() -> None:
    history = MetricHistory()
    down = NodeSnapshot("cerberus", AT, False, error="refused")
    assert not history.record(down)
    assert history.node("cerberus") == ()


def test_sparkline_uses_a_fixed_scale() -> None:
    assert spark([0, 50, 100], 3, 0, 100).plain == "▁▅█"
    assert spark([41, 42], 4, 20, 100).plain == "  ▃▃"  # one degree is not a spike
    assert spark([150, -5], 2, 0, 100).plain == "█▁"  # clipped
    assert spark(range(100), 4, 0, 100).plain == "████"[:0] + spark(range(96, 100), 4, 0, 100).plain
    assert spark([1, 2], 0, 0, 100).plain == ""


def test_columns_drop_by_priority_and_keep_their_order() -> None:
    columns = (
        Column("a", "A", 10, 0),
        Column("b", "B", 10, 2),
        Column("c", "C", 10, 1),
        Column("d", "D", 10, 0, flex=True),
    )
    assert [c.key for c, _ in fit_columns(columns, 48)] == ["a", "b", "c", "d"]
    assert [c.key for c, _ in fit_columns(columns, 40)] == ["a", "c", "d"]
    assert dict((c.key, w) for c, w in fit_columns(columns, 45)) == {"a": 10, "c": 10, "d": 19}
    assert [c.key for c, _ in fit_columns(columns, 5)] == ["a"]  # always at least one


def widths(columns: tuple[Column, ...], width: int, natural: dict[str, int]) -> dict[str, int]:
    return {column.key: size for column, size in fit_columns(columns, width, 1, natural)}


def test_columns_that_tell_rows_apart_never_drop() -> None:
    columns = (
        Column("status", "Status", 6, 0, keep=True),
        Column("check", "Check", 18, 0, keep=True),
        Column("target", "Target", 14, 1, keep=True),
        Column("summary", "Summary", 16, 0, flex=True),
        Column("fix", "Fix", 20, 3),
    )
    natural = {"status": 6, "check": 18, "target": 30, "summary": 60, "fix": 80}
    # 30 cells cannot hold even the kept ones at their least: they show anyway; nothing else does
    assert list(widths(columns, 30, natural)) == ["status", "check", "target"]
    # at 76 the optional Summary joins, Fix (lower priority) does not
    assert list(widths(columns, 76, natural)) == ["status", "check", "target", "summary"]


def test_free_width_goes_to_the_cut_columns_most_important_first() -> None:
    columns = (
        Column("status", "Status", 6, 0, keep=True),
        Column("target", "Target", 14, 1, keep=True),
        Column("summary", "Summary", 16, 0, flex=True),
        Column("fix", "Fix", 20, 3),
    )
    natural = {"status": 6, "target": 30, "summary": 40, "fix": 80}
    # the kept Target is made whole first, then Summary (priority 0); Fix (3) gets what is left, not the flex
    assert widths(columns, 120, natural) == {"status": 6, "target": 30, "summary": 40, "fix": 36}
    # less room: the kept column is served before the others, then priority 0 before priority 3
    assert widths(columns, 90, natural) == {"status": 6, "target": 30, "summary": 26, "fix": 20}
    # every cell whole: the rest goes to the flex column only when it is last (here Fix follows it)
    assert widths(columns, 200, natural) == natural
    assert widths(columns[:3], 200, natural)["summary"] == 200 - (6 + 30 + 6)


def test_columns_shrink_to_their_widest_cell() -> None:
    columns = (Column("a", "A", 14, 0, keep=True), Column("b", "B", 20, 1), Column("c", "C", 20, 2))
    # a column whose cells need 3 takes 3, so a column that would not fit at 14 + 20 + 20 fits now
    assert widths(columns, 50, {"a": 3, "b": 20, "c": 20}) == {"a": 3, "b": 20, "c": 20}
    assert list(widths(columns, 50, {"a": 14, "b": 20, "c": 20})) == ["a", "b"]


def test_plot_draws_braille_with_axes_and_legend() -> None:
    series = [("gpu=0", [(0.0, 0.0), (50.0, 100.0), (100.0, 50.0)]), ("gpu=1", [(0.0, 20.0), (100.0, 20.0)])]
    text = render_plot(series, 0.0, 100.0, 40, 10)
    lines = text.plain.split("\n")
    assert len(lines) == 10
    assert lines[0].startswith("    100┤")
    assert lines[6].startswith("      0┤")
    assert any("\u2800" < char <= "\u28ff" for char in text.plain)
    assert lines[8].startswith("        -1m")
    assert lines[8].rstrip().endswith("now")
    assert "1━ gpu=0" in lines[9]
    assert "2━ gpu=1" in lines[9]
    assert render_plot([], 0, 1, 40, 10).plain == "no data in this window"
    assert (compact(21619.0), compact(0.0034), compact(700.0), compact(1.5e9)) == (
        "21.6k",
        "0.0034",
        "700",
        "1.5G",
    )


def test_public_ports_stand_out_in_words() -> None:
    ports = (PublishedPort("127.0.0.1", 11434, 11434, "tcp"), PublishedPort("0.0.0.0", 8188, 8188, "tcp"))
    text = ports_text(ports)
    assert text.plain == "127.0.0.1:11434→11434, ⚠ PUBLIC 0.0.0.0:8188→8188"
    assert any("red" in str(span.style) for span in text.spans)
    assert ports_text((PublishedPort("::", 53, 53, "udp"),)).plain == "⚠ PUBLIC [::]:53→53/udp"


def test_a_gpu_process_is_matched_to_its_container_by_id_prefix() -> None:
    full = container_id("gpu1", "comfyui")
    web = ContainerInfo(full, "comfyui", "img", "running", "Up")
    docker = DockerSnapshot("gpu1", AT, None, (web,))
    assert find_container(docker, full) is web
    assert find_container(docker, full[:12]) is web
    assert find_container(replace(docker, containers=(replace(web, id=full[:12]),)), full) is not None
    assert find_container(docker, "0" * 64) is None
    assert find_container(docker, None) is None


def test_container_cells_read_without_colour() -> None:
    fleet = recorded_fleet()
    docker = fleet.source.snapshots["gpu1"].docker
    assert docker is not None
    cells = {c.name: container_cells(c, AT) for c in docker.containers}
    assert cells["open-webui"]["health"].plain == "✖ unhealthy"
    assert cells["open-webui"]["uptime"].plain == "12m"
    assert cells["watchtower"]["state"].plain == "✖ exited"
    assert cells["comfyui"]["uptime"].plain == "3d 4h"
    restarted = replace(docker.containers[0], started_at=AT - timedelta(seconds=42))
    assert container_cells(restarted, AT)["uptime"].plain == "42s"


def test_series_names_lead_with_the_labels_that_differ() -> None:
    a = (("__name__", "up"), ("instance", "a:9100"), ("job", "node"))
    b = (("__name__", "up"), ("instance", "b:9100"), ("job", "node"))
    first = varying([a, b])
    assert first == frozenset({"instance"})
    assert series_name(a) == 'up{instance="a:9100", job="node"}'
    assert series_name((("job", "x"), ("__name__", "up"), ("zone", "1")), frozenset({"zone"})) == (
        'up{zone="1", job="x"}'
    )
    assert short_label((("Hostname", "gpu1"), ("gpu", "0"), ("instance", "x"))) == "gpu1 gpu=0"


def test_check_results_rank_worst_first() -> None:
    results = [
        CheckResult("b", "gpu.count", Status.OK, "ok"),
        CheckResult("a", "nfs.mounted", Status.WARNING, "w", target="/m"),
        CheckResult("c", "ssh.reachable", Status.CRITICAL, "down"),
        CheckResult("a", "gpu.present", Status.UNKNOWN, "?"),
    ]
    assert [r.node for r in ranked(results)] == ["c", "a", "a", "b"]
    assert result_key(results[1]) == "a|nfs.mounted|/m"


async def test_metric_names_complete_the_last_token() -> None:
    suggester = MetricSuggester()
    suggester.set_names(["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_GPU_TEMP", "up"])
    assert await suggester.get_suggestion("rate(DCGM_FI_DEV_GPU_U") == "rate(DCGM_FI_DEV_GPU_UTIL"
    assert await suggester.get_suggestion("up") is None  # complete already
    assert await suggester.get_suggestion("sum(") is None


class TableApp(App[None]):
    def __init__(self, table: KeyedTable) -> None:
        super().__init__()
        self.table = table

    def compose(self) -> ComposeResult:
        yield self.table


class Pair(KeyedTable):
    """Counts what it renders: rows rendered into a line (cache misses) and lines painted, by row key."""

    COLUMNS = (Column("name", "Name", 10, 0), Column("value", "Value", 8, 0), Column("extra", "Extra", 30, 5))

    def __init__(self) -> None:
        super().__init__()
        self.rendered: list[str] = []
        self.painted: list[str] = []

    def render_row(self, key: str, index: int) -> Strip:
        self.rendered.append(key)
        return super().render_row(key, index)

    def render_line(self, y: int) -> Strip:
        index = y - 1 + self.scroll_offset.y
        keys = [row.key.value or "" for row in self.ordered_rows]
        self.painted.append("header" if y == 0 else keys[index] if index < len(keys) else "")
        return super().render_line(y)

    def forget(self) -> None:
        self.rendered.clear()
        self.painted.clear()


EXTRA = Text("an extra column's text, wide enough")


def rows(*pairs: tuple[str, str]) -> dict[str, dict[str, Text]]:
    return {name: {"name": Text(name), "value": Text(value), "extra": EXTRA} for name, value in pairs}


async def test_keyed_table_renders_only_the_row_that_changed() -> None:
    table = Pair()
    async with TableApp(table).run_test(size=(80, 10)) as pilot:
        table.sync(rows(("a", "1"), ("b", "2"), ("c", "3")))
        await pilot.pause()
        assert sorted(set(table.rendered)) == ["\0header", "a", "b", "c"]
        table.forget()
        table.sync(rows(("a", "1"), ("b", "20"), ("c", "3")))
        await pilot.pause()
        assert table.rendered == ["b"]  # one row rendered again, no other
        assert table.painted == ["b"]  # and only its line repainted
        assert table.get_cell("b", "value").plain == "20"
        table.forget()
        table.sync(rows(("a", "1"), ("b", "20"), ("c", "3")))  # the same values again
        await pilot.pause()
        assert table.rendered == []
        assert table.painted == []
        # a style change alone is a change (Text equality ignores the base style)
        table.set_row("c", {"name": Text("c"), "value": Text("3", style="bold red"), "extra": EXTRA})
        await pilot.pause()
        assert table.rendered == ["c"]


async def test_keyed_table_moving_the_cursor_renders_the_two_rows_it_leaves_and_enters() -> None:
    table = Pair()
    async with TableApp(table).run_test(size=(80, 10)) as pilot:
        table.sync(rows(("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")))
        table.focus()
        await pilot.pause()
        table.forget()
        await pilot.press("down")
        await pilot.pause()
        assert table.cursor_key == "b"
        assert sorted(table.rendered) == ["a", "b"]
        assert sorted(table.painted) == ["a", "b"]


async def test_keyed_table_keeps_the_cursor_on_its_row_across_orders() -> None:
    table = Pair()
    async with TableApp(table).run_test(size=(80, 10)) as pilot:
        table.sync(rows(("a", "1"), ("b", "2"), ("c", "3")))
        await pilot.pause()
        table.move_cursor(row=1)
        assert table.cursor_key == "b"
        table.sync(rows(("c", "3"), ("b", "20"), ("d", "4")))  # a goes, d comes, order changes
        await pilot.pause()
        assert [row.key.value for row in table.ordered_rows] == ["c", "b", "d"]
        assert table.cursor_key == "b"
        assert table.get_cell("b", "value").plain == "20"
        table.sync(rows(("a", "1"), ("b", "2"), ("c", "3"), ("d", "4"), ("e", "5")))
        table.restore_cursor("b")
        await pilot.pause()
        table.forget()
        table.order(["c", "b", "a", "d", "e"])  # a and c swap: each keeps its stripe, the cursor stays on b
        await pilot.pause()
        assert table.cursor_key == "b"
        assert table.cursor_row == 1
        assert table.rendered == []  # the moved lines come from the rows' kept lines
        assert {"a", "c"} <= set(table.painted)
        table.forget()
        table.order(["b", "c", "a", "d", "e"])  # b moves up: the cursor goes with it
        await pilot.pause()
        assert table.cursor_key == "b"
        assert table.cursor_row == 0
        assert sorted(table.rendered) == ["b", "c"]  # their stripes changed; a, d, e did not move


async def test_keyed_table_drops_columns_when_narrow_and_keeps_the_cursor() -> None:
    table = Pair()
    async with TableApp(table).run_test(size=(80, 10)) as pilot:
        table.sync(rows(("a", "1"), ("b", "2")))
        await pilot.pause()
        assert table.shown_columns == ("name", "value", "extra")
        table.move_cursor(row=1)
        await pilot.resize_terminal(40, 10)
        await pilot.pause()
        assert table.shown_columns == ("name", "value")
        assert table.cursor_key == "b"
        assert table.get_cell("b", "value").plain == "2"


class InputApp(App[None]):
    def compose(self) -> ComposeResult:
        yield HistoryInput(["up", "DCGM_FI_DEV_GPU_UTIL"])


async def test_history_input_walks_back_and_forth() -> None:
    async with InputApp().run_test() as pilot:
        box = pilot.app.query_one(HistoryInput)
        box.focus()
        await pilot.press(*"sum(")
        await pilot.press("up")
        assert box.value == "DCGM_FI_DEV_GPU_UTIL"
        await pilot.press("up", "up")
        assert box.value == "up"
        await pilot.press("down")
        assert box.value == "DCGM_FI_DEV_GPU_UTIL"
        await pilot.press("down")
        assert box.value == "sum("  # what was being typed comes back


def test_nice_to_have_columns_make_way_for_a_cut_name() -> None:
    columns = (
        Column("name", "Name", 10, 0, keep=True),
        Column("value", "Value", 10, 0),
        Column("clock", "Clock", 10, 5),
        Column("pstate", "PS", 4, 4),
    )
    natural = {"name": 24, "value": 10, "clock": 10, "pstate": 4}
    # 50 cells: name 10+2, value 12, clock 12, pstate 6 = 42; 8 free -> name 18, still cut: Clock (5) goes
    assert widths(columns, 50, natural) == {"name": 24, "value": 10, "pstate": 4}
    # wide enough for everything: nothing makes way
    assert list(widths(columns, 80, natural)) == ["name", "value", "clock", "pstate"]


async def test_keyed_table_widens_for_long_cells_and_narrows_only_on_resize() -> None:
    table = Pair()
    async with TableApp(table).run_test(size=(80, 10)) as pilot:
        table.sync(rows(("a", "1")))
        await pilot.pause()
        assert table.shown_widths["value"] == len("Value")  # no wider than its widest cell
        table.sync(rows(("a", "a much longer value")))
        await pilot.pause()
        assert table.shown_widths["value"] == len("a much longer value")
        assert table.get_cell("a", "value").overflow == "ellipsis"
        table.sync(rows(("a", "1")))  # a refresh never narrows (no column jitter, no full redraw)
        await pilot.pause()
        assert table.shown_widths["value"] == len("a much longer value")
        await pilot.resize_terminal(79, 10)
        await pilot.pause()
        assert table.shown_widths["value"] == len("Value")


def with_temps(snapshot: NodeSnapshot, *temps: float) -> NodeSnapshot:
    assert snapshot.gpu is not None
    readings = tuple(replace(r, temperature_c=t) for r, t in zip(snapshot.gpu.gpus, temps, strict=True))
    return replace(snapshot, gpu=replace(snapshot.gpu, gpus=readings))


def fleet_view(node: Node, snapshot: NodeSnapshot, levels: NodeLevels | None = None) -> NodeView:
    """A fleet row the way the screen builds it: the sections' values from the registry."""
    levels = levels or NodeLevels()
    return NodeView(node, snapshot, levels=levels, values=fleet_values(node, snapshot, levels))


def test_cells_colour_from_the_levels_they_are_given_not_from_thresholds() -> None:
    fleet = recorded_fleet()
    node = fleet.inventory.node("rack-a1")
    scorching = with_temps(fleet.source.snapshots["rack-a1"], 99.0, 40.0, 40.0, 40.0)
    calm = node_cells(fleet_view(node, scorching, NodeLevels(temperature=Status.OK)))
    assert calm["temp"].plain == "99°C"
    assert str(calm["temp"].style) == ""
    cool = with_temps(fleet.source.snapshots["rack-a1"], 30.0, 30.0, 30.0, 30.0)
    levels = NodeLevels(temperature=Status.CRITICAL, containers=Tally(2, 3, Status.WARNING))
    cells = node_cells(fleet_view(node, cool, levels))
    assert cells["temp"].plain == "30°C"
    assert str(cells["temp"].style) == "bold red"
    assert cells["containers"].plain == "2/3"
    assert str(cells["containers"].style) == "bold yellow"
    assert cool.gpu is not None
    reading = cool.gpu.gpus[0]
    assert str(gpu_cells(reading, lambda index, metric: (), Status.WARNING)["temp"].style) == "bold yellow"
    assert str(gpu_cells(replace(reading, temperature_c=99.0), lambda i, m: ())["temp"].style) == ""
    erring = replace(reading, ecc_uncorrected=4)
    assert str(gpu_cells(erring, lambda i, m: (), ecc=Status.CRITICAL)["ecc"].style) == "bold red"
    assert str(gpu_cells(erring, lambda i, m: (), ecc=Status.OK)["ecc"].style) == ""
    docker = fleet.source.snapshots["gpu1"].docker
    assert docker is not None
    restarts = container_cells(docker.containers[0], AT, Status.CRITICAL)["restarts"]
    assert str(restarts.style) == "bold red"


def test_fleet_sorts_on_the_values_not_on_the_rounded_text() -> None:
    fleet = recorded_fleet()
    recorded = fleet.source.snapshots["rack-a1"]
    cooler = fleet_view(Node("a", "10.0.0.1"), with_temps(recorded, 85.2, 40.0, 40.0, 40.0))
    hotter = fleet_view(Node("b", "10.0.0.2"), with_temps(recorded, 85.4, 40.0, 40.0, 40.0))
    assert node_cells(cooler)["temp"].plain == node_cells(hotter)["temp"].plain == "85°C"
    ranked = sorted([cooler, hotter], key=lambda view: sort_value("temp", view))
    assert [view.node.name for view in ranked] == ["b", "a"]  # hottest first, though both read 85°C
    down = fleet_view(Node("c", "10.0.0.3"), NodeSnapshot("c", AT, False, error="refused"))
    assert sort_value("temp", down) > sort_value("temp", cooler)  # nothing to show sorts last
    assert sort_value("state", down) < sort_value("state", cooler)  # down is the worst state


def test_no_widget_judges_a_value_against_the_inventory_thresholds() -> None:
    widgets = Path(__file__).parent.parent / "widgets"
    for module in sorted(widgets.glob("*.py")):
        source = module.read_text()
        for judging in ("thresholds", ".warn", ".crit"):
            assert judging not in source, f"{module.name} reads {judging}"


async def test_keyed_table_show_only_hides_the_rest_and_keeps_their_cells() -> None:
    table = Pair()
    async with TableApp(table).run_test(size=(80, 10)) as pilot:
        table.sync(rows(("a", "1"), ("b", "2"), ("c", "3")))
        table.restore_cursor("c")
        await pilot.pause()
        table.show_only(["c", "a", "gone"])  # a key the table does not hold is skipped
        await pilot.pause()
        assert [row.key.value for row in table.ordered_rows] == ["c", "a"]
        assert table.cursor_key == "c"
        assert table.cells("b")["value"].plain == "2"  # hidden, not forgotten
        table.set_row("b", rows(("b", "20"))["b"], visible=None)  # updated while hidden, stays hidden
        assert "b" not in table.rows
        table.show_only(["a", "b", "c"])
        await pilot.pause()
        assert [row.key.value for row in table.ordered_rows] == ["a", "b", "c"]
        assert table.get_cell("b", "value").plain == "20"
        assert table.cursor_key == "c"


async def test_checks_table_renders_only_the_results_that_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    rendered: list[str] = []
    render_row = ChecksTable.render_row

    def counting(self: ChecksTable, key: str, index: int) -> Strip:
        rendered.append(key)
        return render_row(self, key, index)

    monkeypatch.setattr(ChecksTable, "render_row", counting)
    results = [
        CheckResult("gpu1", "gpu.count", Status.OK, "1 GPU"),
        CheckResult("gpu1", "gpu.temperature", Status.OK, "60°C", target="0"),
        CheckResult("gpu1", "docker.up", Status.OK, "3/3 running"),
    ]
    table = ChecksTable()
    async with TableApp(table).run_test(size=(100, 10)) as pilot:
        table.show(results)
        await pilot.pause()
        rendered.clear()
        table.show(list(results))  # the next refresh, nothing new: nothing is rendered
        await pilot.pause()
        assert rendered == []
        hot = CheckResult("gpu1", "gpu.temperature", Status.OK, "61°C", target="0")
        table.show([results[0], hot, results[2]])
        await pilot.pause()
        assert rendered == [result_key(hot)]
