"""The fleet screen, fed by recorded snapshots built from the real H100 captures (deterministic).

(Its screenshots are in tests/test_tui_snapshots.py, with every other screen's.)"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from console.collectors.gpu import GpuSnapshot, parse_query_gpu
from console.demo.sources import RecordedSource
from console.inventory.model import GpuExpectation, Inventory, Node
from console.session import ConsoleSession
from console.snapshots import NodeSnapshot
from screens.app import OpsConsoleApp
from screens.fleet import FleetScreen
from widgets.fleet_table import GROUP_PREFIX, FleetTable

H100 = Path(__file__).parent / "fixtures" / "gpu" / "h100-80gb-hbm3"
AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def recorded_fleet() -> tuple[Inventory, RecordedSource]:
    idle = parse_query_gpu((H100 / "idle-query-gpu-noheader-nounits.csv").read_text())
    load_row = (H100 / "load-query-gpu-series.csv").read_text().splitlines()[0]
    four = parse_query_gpu("\n".join(load_row.replace("0, GPU-", f"{i}, GPU-", 1) for i in range(4)))
    nodes = (
        Node("gpu1", "10.60.0.20", groups=("compute",), gpus=GpuExpectation(count=1), refresh=3600),
        Node("rack-a1", "10.70.1.11", groups=("rack-a",), gpus=GpuExpectation(count=4), refresh=3600),
        Node("atlas", "10.60.0.10", groups=("storage",), refresh=3600),
        Node("cerberus", "10.60.0.1", refresh=3600),
    )
    snapshots = {
        "gpu1": NodeSnapshot("gpu1", AT, True, gpu=GpuSnapshot("gpu1", AT, "nvidia-smi", "ok", idle)),
        "rack-a1": NodeSnapshot(
            "rack-a1", AT, True, gpu=GpuSnapshot("rack-a1", AT, "nvidia-smi", "ok", four)
        ),
        "atlas": NodeSnapshot(
            "atlas",
            AT,
            True,
            gpu=GpuSnapshot(
                "atlas", AT, "nvidia-smi", "no_tooling", error="no GPU tooling: nvidia-smi not found"
            ),
        ),
        "cerberus": NodeSnapshot("cerberus", AT, False, error="10.60.0.1:22: connection refused"),
    }
    return Inventory("pantheon", "recorded", nodes), RecordedSource(snapshots)


def make_app(inventory: Inventory, source: RecordedSource) -> OpsConsoleApp:
    return OpsConsoleApp(ConsoleSession(inventory, source), cursor_blink=False, batch_window_s=0)


def cell(app: OpsConsoleApp, node: str, column: str) -> str:
    table = app.screen.query_one(FleetTable)
    return str(table.get_cell(node, column))


async def test_fleet_fills_in_from_the_source() -> None:
    inventory, source = recorded_fleet()
    app = make_app(inventory, source)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.app.settled()
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen)
        table = app.screen.query_one(FleetTable)
        assert [row.key.value for row in table.ordered_rows] == [
            f"{GROUP_PREFIX}compute", "gpu1", f"{GROUP_PREFIX}rack-a", "rack-a1",
            f"{GROUP_PREFIX}storage", "atlas", f"{GROUP_PREFIX}ungrouped", "cerberus",
        ]  # fmt: skip
        assert cell(app, "gpu1", "state") == "● up"
        assert cell(app, "gpu1", "gpus") == "1"
        assert cell(app, "gpu1", "temp") == "42°C"
        assert cell(app, "rack-a1", "gpus") == "4"
        assert cell(app, "rack-a1", "util") == "100%"
        assert cell(app, "rack-a1", "power") == "2771/2800 W"
        assert cell(app, "cerberus", "state") == "✖ down"
        assert "connection refused" in cell(app, "cerberus", "detail")
        assert "nvidia-smi not found" in cell(app, "atlas", "detail")


async def test_refresh_key_polls_again_and_keeps_the_cursor() -> None:
    inventory, source = recorded_fleet()
    app = make_app(inventory, source)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.app.settled()
        await pilot.pause()
        table = app.screen.query_one(FleetTable)
        assert table.cursor_key == "gpu1"  # the cursor starts on the first node, under its group's header
        await pilot.press("down", "down")
        assert table.cursor_row == 3
        assert table.cursor_key == "rack-a1"
        before = dict(source.polls)
        await pilot.press("r")
        await pilot.app.settled()
        await pilot.pause()
        assert all(source.polls[name] == before[name] + 1 for name in before)
        assert table.cursor_key == "rack-a1"  # rows are updated in place, never cleared
        assert table.row_count == 8


async def test_changed_snapshot_updates_only_its_row() -> None:
    inventory, source = recorded_fleet()
    app = make_app(inventory, source)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.app.settled()
        await pilot.pause()
        source.snapshots["cerberus"] = NodeSnapshot(
            "cerberus",
            AT,
            True,
            gpu=GpuSnapshot("cerberus", AT, "nvidia-smi", "no_tooling", error="no GPU tooling"),
        )
        await pilot.press("r")
        await pilot.app.settled()
        await pilot.pause()
        assert cell(app, "cerberus", "state") == "● up"
        assert cell(app, "gpu1", "temp") == "42°C"


async def test_keys_panel_toggles() -> None:
    inventory, source = recorded_fleet()
    app = make_app(inventory, source)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.query("HelpPanel")
        await pilot.press("question_mark")
        await pilot.pause()
        assert not app.screen.query("HelpPanel")


async def test_no_group_headers_without_groups_and_singular_words() -> None:
    _, source = recorded_fleet()
    ungrouped = Inventory("flat", "recorded", (Node("gpu1", "10.60.0.20", refresh=3600),))
    app = make_app(ungrouped, source)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.app.settled()
        await pilot.pause()
        table = app.screen.query_one(FleetTable)
        assert [row.key.value for row in table.ordered_rows] == ["gpu1"]  # no "▾ ungrouped" row
        summary = str(app.screen.query_one("#fleet-summary").render())
        assert summary.startswith("1 node  ·  ✔ 1 ok  ·  1 up  ·  0 down")
        assert "1 GPU  ·" in summary


async def test_group_headers_count_nodes_in_words_and_have_no_second_highlight() -> None:
    inventory, source = recorded_fleet()
    app = make_app(inventory, source)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.app.settled()
        await pilot.pause()
        table = app.screen.query_one(FleetTable)
        header = table.cells(f"{GROUP_PREFIX}compute")
        assert header["state"].plain == "1 node"
        assert "reverse" not in str(header["node"].style)  # a reverse box read as a second cursor
        table.set_filter("gpu1")
        assert table.cells(f"{GROUP_PREFIX}compute")["state"].plain == "1/1 nodes"


def test_prometheus_problems_in_the_header_words() -> None:
    from console.checks.model import CheckResult, Status
    from console.session import FleetProblems
    from screens.fleet import prometheus_problems

    warning = (CheckResult("gpu1", "prometheus.alerts", Status.WARNING, "firing (warning): x"),)
    assert prometheus_problems(None, None) is None  # not asked yet
    assert prometheus_problems(FleetProblems(AT), ()) is None  # all well: nothing to say
    shown = prometheus_problems(FleetProblems(AT, firing=1), warning)
    assert shown is not None
    assert shown.plain == "▲ Prometheus: 1 alert (a)"
    assert "yellow" in str(shown.style)
    down = prometheus_problems(FleetProblems(AT, firing=2, down=3), ())
    assert down is not None
    assert down.plain == "✖ Prometheus: 2 alerts, 3 targets down (a)"
    silent = prometheus_problems(FleetProblems(AT, error="no answer within 10s"), ())
    assert silent is not None
    assert silent.plain == "? Prometheus: no answer (a)"
