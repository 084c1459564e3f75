"""Keyboard flows of the console on the deterministic recorded fleet (console/demo/fleet.py): the node screen,
logs, restarts, PromQL and the fleet table's keys."""

from __future__ import annotations

import asyncio

from textual.widgets import Input, TabbedContent

from console.demo.fleet import recorded_fleet
from screens.app import OpsConsoleApp
from screens.checks import ChecksScreen
from screens.confirm import ConfirmScreen
from screens.fleet import FleetScreen
from screens.logs import LogScreen
from screens.node import NodeScreen
from screens.promql import PromQLScreen
from tests.tui_pilot import cell, make_app, open_gpu1, settle, until
from widgets.checks_table import FleetChecksTable
from widgets.fleet_table import GROUP_PREFIX, FleetTable
from widgets.log_view import LogView
from widgets.node_tables import ContainersTable
from widgets.plot import RangePlot
from widgets.prom_tables import InstantTable


async def test_open_node_and_switch_tabs() -> None:
    app, _ = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_gpu1(pilot)
        assert screen.node.name == "gpu1"
        tabs = screen.query_one(TabbedContent)
        assert tabs.active == "gpus"
        for key, tab in (
            ("2", "containers"),
            ("3", "mounts"),
            ("4", "services"),
            ("5", "checks"),
            ("1", "gpus"),
        ):
            await pilot.press(key)
            await pilot.pause()
            assert tabs.active == tab
        await pilot.press("2")
        table = screen.query_one(ContainersTable)
        assert table.has_focus
        assert "PUBLIC 0.0.0.0:8188" in table.get_cell("comfyui", "ports").plain
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen)


async def test_follow_logs_search_and_pause() -> None:
    app, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_gpu1(pilot)
        await pilot.press("2", "l")
        await until(pilot, lambda: isinstance(app.screen, LogScreen))
        view = app.screen.query_one(LogView)
        # the last 200 recorded lines first (22), then the three that arrive while following
        await until(pilot, lambda: len(view.lines_kept) == 25)
        assert view.lines_kept[0].startswith("** ComfyUI startup time")
        assert view.lines_kept[-1] == "Prompt executed in 12.81 seconds"
        await pilot.press("slash", *"executed")
        await pilot.pause()
        assert view.search == "executed"
        assert view.shown == [line for line in view.lines_kept if "executed" in line]
        assert len(view.shown) == 3
        await pilot.press("enter")  # keep the search, back to the log
        await pilot.press("p")
        assert view.paused
        view.add_lines(["Prompt executed in 1.00 seconds"])  # arrives while paused: held back, counted
        assert view.held == 1
        await pilot.press("p")
        assert not view.paused
        assert view.held == 0
        assert view.shown[-1] == "Prompt executed in 1.00 seconds"
        await pilot.press("escape", "escape")  # the first clears the search, the second leaves
        await pilot.pause()
        assert isinstance(app.screen, NodeScreen)
        await pilot.pause()
        assert all(worker.is_finished for worker in app.workers if worker.group == "logs")  # stream closed


async def test_restart_with_confirm_restarts_and_audits() -> None:
    app, fleet = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_gpu1(pilot)
        await pilot.press("2", "down", "down")  # open-webui
        assert screen.query_one(ContainersTable).cursor_key == "open-webui"
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "open-webui" in app.screen.question
        assert "gpu1" in app.screen.body
        await pilot.press("y")
        await settle(pilot)
        assert fleet.actions.restarts == [("gpu1", "open-webui")]
        entries = app.session.audit.entries()
        assert [(e["node"], e["action"], e["target"], e["ok"]) for e in entries] == [
            ("gpu1", "docker.restart", "open-webui", True)
        ]
        uptime = screen.query_one(ContainersTable).get_cell("open-webui", "uptime").plain
        assert (
            uptime == "0s"
        )  # the container restarted at the (fixed) clock's now, and the node was re-polled
        log = [line.plain for node, line in app.action_log if node == "gpu1"]
        assert any("restart open-webui: ✔ ok" in line for line in log)


async def test_restart_cancelled_does_nothing() -> None:
    app, fleet = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_gpu1(pilot)
        await pilot.press("2", "R")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")  # Cancel has the focus: a stray Enter never restarts
        await settle(pilot)
        assert isinstance(app.screen, NodeScreen)
        assert fleet.actions.restarts == []
        assert app.session.audit.entries() == []
        assert any("cancelled" in line.plain for _, line in app.action_log)
        await pilot.press("R")
        await pilot.pause()
        await pilot.press("n")
        await settle(pilot)
        assert fleet.actions.restarts == []


async def test_restart_needs_the_containers_tab() -> None:
    app, fleet = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_gpu1(pilot)
        await pilot.press("R", "l")  # on the GPUs tab neither applies
        await pilot.pause()
        assert isinstance(app.screen, NodeScreen)
        assert fleet.actions.restarts == []


async def test_promql_query_history_completion_and_errors() -> None:
    app, _ = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PromQLScreen)
        box = screen.query_one(Input)
        assert box.has_focus
        assert len(screen.suggester.names) == 11  # loaded for completion
        assert await screen.suggester.get_suggestion("DCGM_FI_DEV_GPU_T") == "DCGM_FI_DEV_GPU_TEMP"
        await pilot.press(*'DCGM_FI_DEV_GPU_TEMP{Hostname="rack-a1"}', "enter")
        await settle(pilot)
        table = screen.query_one(InstantTable)
        assert table.row_count == 4
        assert table.get_row_at(0)[1].plain == "60"
        plot = screen.query_one(RangePlot)
        assert len(plot.series) == 4
        assert plot.series[0][0] == "rack-a1 gpu=0"
        await pilot.press("f3")
        assert screen.query_one(TabbedContent).active == "graph"
        await pilot.press("f6")
        await settle(pilot)
        assert screen.window == "6h"
        assert screen.result is not None
        assert screen.result.window == "6h"
        box.value = ""
        await pilot.press(*"rate(DCGM_FI_DEV_GPU_UTIL)", "enter")
        await settle(pilot)
        error = screen.query_one("#promql-error")
        assert error.display
        assert "expected type range vector" in str(error.render())
        assert table.row_count == 0
        box.value = ""
        await pilot.press("up")
        assert box.value == "rate(DCGM_FI_DEV_GPU_UTIL)"
        await pilot.press("up")
        assert box.value == 'DCGM_FI_DEV_GPU_TEMP{Hostname="rack-a1"}'
        await pilot.press("down", "down")
        assert box.value == ""
    # kept across runs, in the XDG state dir
    again = OpsConsoleApp(recorded_fleet().session(), cursor_blink=False, batch_window_s=0)
    async with again.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("up")
        assert again.screen.query_one(Input).value == "rate(DCGM_FI_DEV_GPU_UTIL)"


async def test_filter_the_fleet() -> None:
    app, _ = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(FleetTable)
        assert table.row_count == 14  # 8 nodes under 6 group headers
        await pilot.press("slash", *"rack")
        await pilot.pause()
        shown = [row.key.value for row in table.ordered_rows]
        assert shown == [f"{GROUP_PREFIX}rack-a", "rack-a1", "rack-a2", f"{GROUP_PREFIX}rack-b", "rack-b1"]
        await pilot.press("enter")
        assert table.has_focus
        assert table.filter == "rack"
        await pilot.press("escape")
        await pilot.pause()
        assert table.row_count == 14
        assert table.filter == ""
        await pilot.press("slash", *"down")  # state words filter too
        await pilot.pause()
        assert [row.key.value for row in table.ordered_rows] == [f"{GROUP_PREFIX}edge", "cerberus"]


async def test_sort_and_fold() -> None:
    app, _ = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(FleetTable)
        table.sort_by("util")
        await pilot.pause()
        keys = [row.key.value for row in table.ordered_rows]
        assert keys.index("pod-8") < keys.index("pod-7")  # 100% before 0% within the pods group
        await pilot.press("O")
        keys = [row.key.value for row in table.ordered_rows]
        assert keys.index("pod-7") < keys.index("pod-8")
        table.move_cursor(row=table.get_row_index("rack-a1"))
        await pilot.press("z")
        keys = [row.key.value for row in table.ordered_rows]
        assert "rack-a1" not in keys
        assert f"{GROUP_PREFIX}rack-a" in keys
        assert table.cursor_key == f"{GROUP_PREFIX}rack-a"
        await pilot.press("enter")  # Enter on a folded group unfolds it
        assert "rack-a1" in [row.key.value for row in table.ordered_rows]


async def test_pause_and_resume() -> None:
    fleet = recorded_fleet(refresh=0.05)
    app = OpsConsoleApp(fleet.session(), cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: fleet.source.polls.get("gpu1", 0) >= 3)
        await pilot.press("p")
        assert app.paused
        await settle(pilot)
        paused_at = dict(fleet.source.polls)
        await asyncio.sleep(0.3)
        await pilot.pause()
        assert fleet.source.polls == paused_at  # nothing polled while paused
        assert "PAUSED" in str(app.screen.query_one("#fleet-summary").render())
        await pilot.press("p")
        assert not app.paused
        await until(pilot, lambda: fleet.source.polls["gpu1"] > paused_at["gpu1"])


async def test_refresh_interval_keys() -> None:
    app, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("minus")
        assert app.interval_override == 300.0  # the recorded fleet refreshes hourly: the next step down
        await pilot.press("minus", "minus")
        assert app.interval_override == 60.0
        await pilot.press("plus")
        assert app.interval_override == 120.0
        assert "every 120s" in str(app.screen.query_one("#fleet-summary").render())


async def test_only_the_shown_nodes_are_polled() -> None:
    fleet = recorded_fleet(refresh=0.05)
    app = OpsConsoleApp(fleet.session(), cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: all(fleet.source.polls.get(n.name, 0) >= 1 for n in fleet.inventory.nodes))
        await pilot.press("enter")  # gpu1
        await settle(pilot)
        before = dict(fleet.source.polls)
        await until(pilot, lambda: fleet.source.polls["gpu1"] >= before["gpu1"] + 3)
        await settle(pilot)
        others = {name: count for name, count in fleet.source.polls.items() if name != "gpu1"}
        assert all(others[name] <= before[name] + 1 for name in others)  # at most the poll already due
        await pilot.press("escape")  # back on the fleet: the others are polled again at once
        await until(pilot, lambda: all(fleet.source.polls[n] > before[n] + 1 for n in others))


async def test_a_slow_node_shows_in_place_and_keys_still_answer() -> None:
    fleet = recorded_fleet()
    fleet.source.delays["pod-7"] = 3600.0  # its poll never answers during the test
    app = OpsConsoleApp(fleet.session(seed=False), cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: all(n in app.session.latest for n in app.nodes if n != "pod-7"))
        assert app.in_flight("pod-7")
        table = app.screen.query_one(FleetTable)
        assert cell(app, "pod-7", "state") == "… wait"
        app.screen.show_slow("pod-7", 12.0)  # what the app's timer reports after SLOW_AFTER_S
        assert cell(app, "pod-7", "state") == "⧗ slow"
        assert cell(app, "pod-7", "detail") == "polling for 12s"
        await pilot.press("down")  # answered while pod-7's poll is still in flight (timing is bench's job)
        assert table.cursor_row == 2
        await pilot.press("r")  # refresh now does not start a second poll of pod-7
        await pilot.pause()
        assert fleet.source.polls["pod-7"] == 1


async def test_checks_screen_filters_by_status_and_opens_the_node() -> None:
    app, _ = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChecksScreen)
        results = list(screen.shown.values())
        checks = {(r.node, r.check) for r in results}
        assert ("recorded", "prometheus.targets") not in checks  # via gpu1: the node is gpu1
        assert ("gpu1", "prometheus.alerts") in checks
        assert ("cerberus", "ssh.reachable") in checks
        assert ("pod-7", "nfs.responsive") in checks
        await pilot.press("f", "f")  # all -> problems -> critical
        assert screen.status_filter == "critical"
        assert {r.status.value for r in screen.shown.values()} == {"critical"}
        table = screen.query_one(FleetChecksTable)
        first = screen.shown[table.cursor_key or ""]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, NodeScreen)
        assert app.screen.node.name == first.node
        assert app.screen.query_one(TabbedContent).active == "checks"
