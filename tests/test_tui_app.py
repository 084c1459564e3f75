"""The console app on the recorded fleet: the command palette, screenshots, theme, clock, batching, colour,
the fleet header and what fits at 80 and 160 columns (keyboard flows of the screens: test_tui_flows.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandList
from textual.filter import Monochrome, NoColor

from console.demo.fleet import AT, recorded_fleet
from screens.app import OpsConsoleApp
from screens.checks import ChecksScreen
from screens.node import NodeScreen
from tests.tui_pilot import cell, make_app, open_gpu1, read, settle, until
from widgets.checks_table import FleetChecksTable
from widgets.fleet_table import FleetTable
from widgets.node_tables import ContainersTable


async def test_command_palette_goes_to_a_node() -> None:
    app, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"go to node rack-b1")
        commands = app.screen.query_one(CommandList)
        await until(
            pilot,
            lambda: commands.option_count > 0 and "rack-b1" in str(commands.get_option_at_index(0).prompt),
        )
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, NodeScreen)
        assert app.screen.node.name == "rack-b1"


async def test_command_palette_lists_every_key() -> None:
    from screens.commands import ConsoleCommands

    app, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        names = [name for name, _, _ in ConsoleCommands(app.screen)._commands()]
        for wanted in (
            "Filter (/)",
            "Sort (o)",
            "Shell (s)",
            "Trouble (])",
            "Fold (z)",
            "Pause (p)",
            "Refresh (r)",
            "Go to node cerberus",
        ):
            assert wanted in names, names


async def test_screenshot_key_and_method(isolated_home) -> None:  # type: ignore[no-untyped-def]
    app, _ = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+s")
        await pilot.pause()
        shots = list((isolated_home / ".local" / "state" / "opsconsole" / "screenshots").glob("*.svg"))
        assert len(shots) == 1
        assert shots[0].name.startswith("opsconsole-fleet-")
        assert "gpu1" in read(shots[0])
        saved = app.save_screenshot_to(isolated_home / "bug" / "fleet.svg")
        assert saved.endswith("bug/fleet.svg")
        assert "<svg" in read(Path(saved))


async def test_cli_screenshot_saves_once_everything_answered_and_exits(isolated_home) -> None:  # type: ignore[no-untyped-def]
    fleet = recorded_fleet()
    target = isolated_home / "shot.svg"
    app = OpsConsoleApp(fleet.session(seed=False), screenshot=str(target), cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: target.exists())
        await settle(pilot)
    text = read(target).replace("&#160;", " ")
    assert "cerberus" in text
    assert "✖ down" in text
    assert "waiting" not in text


async def test_theme_is_remembered(isolated_home) -> None:  # type: ignore[no-untyped-def]
    app, _ = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.theme = "nord"
        await pilot.pause()
    again, _ = make_app()
    async with again.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert again.theme == "nord"
    settings = isolated_home / ".config" / "opsconsole" / "settings.json"
    assert '"theme": "nord"' in settings.read_text()


async def test_fixed_clock_drives_the_times_shown() -> None:
    app, _ = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_gpu1(pilot)
        status = str(screen.query_one("#node-status").render())
        assert f"polled {AT:%H:%M:%S} UTC" in status
        await pilot.press("2")
        assert screen.query_one(ContainersTable).get_cell("comfyui", "uptime").plain == "3d 4h"


async def test_answers_reach_the_screen_in_batches() -> None:
    fleet = recorded_fleet()
    app = OpsConsoleApp(fleet.session(seed=False), cursor_blink=False, batch_window_s=1.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: all(name in app.session.latest for name in app.nodes))
        await pilot.app.settled()
        assert cell(app, "gpu1", "state") == "… wait"  # answered, but the batch is still open
        await until(pilot, lambda: cell(app, "gpu1", "state") == "● up", timeout=3)
        assert cell(app, "cerberus", "state") == "✖ down"  # the whole batch arrived together


async def test_no_color_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app, _ = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.no_color
        assert any(isinstance(f, (Monochrome, NoColor)) for f in app._filters)
        assert cell(app, "cerberus", "state") == "✖ down"  # the words carry the meaning


async def test_fleet_header_counts_prometheus_problems_one_key_away() -> None:
    app, _ = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        summary = str(app.screen.query_one("#fleet-summary").render())
        assert "✖ Prometheus: 2 alerts, 1 target down (a)" in summary
        await pilot.press("a")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChecksScreen)
        assert screen.scope == "prometheus"
        assert screen.status_filter == "problems"
        shown = list(screen.shown.values())
        assert len(shown) == 3
        assert {r.check for r in shown} == {"prometheus.alerts", "prometheus.targets"}
        await pilot.press("a")  # everything again
        assert len(screen.shown) > 3


async def test_screens_fit_at_80_columns_without_losing_what_tells_rows_apart() -> None:
    app, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        fleet = app.screen.query_one(FleetTable)
        assert "detail" in fleet.shown_columns  # why cerberus is down
        assert cell(app, "cerberus", "detail").startswith("10.60.0.1:22: connection refused")
        await pilot.press("c")
        await settle(pilot)
        checks = app.screen.query_one(FleetChecksTable)
        assert {"status", "node", "check", "target", "summary"} <= set(checks.shown_columns)
        # the service.* rows differ only by target: every such target is shown whole
        services = [r.target or "" for r in app.screen.shown.values() if r.check.startswith("service.")]
        assert services
        assert checks.shown_widths["target"] >= max(len(target) for target in services)
        app.open_node("gpu1", tab="containers")
        await settle(pilot)
        containers = app.screen.query_one(ContainersTable)
        assert containers.shown_widths["ports"] >= len("⚠ PUBLIC 0.0.0.0:8188→8188")


async def test_wide_screens_give_the_room_to_the_cut_columns() -> None:
    app, _ = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        checks = app.screen.query_one(FleetChecksTable)
        natural, widths = checks.natural_widths(), checks.shown_widths
        for key in ("node", "check", "target"):
            assert widths[key] == natural[key], key
        if "fix" in widths and widths["fix"] > 20:  # Fix only grows once Summary is whole
            assert widths["summary"] >= natural["summary"]


async def test_node_header_shows_the_real_connect_time_and_its_age() -> None:
    app, _ = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await open_gpu1(pilot)
        status = str(app.screen.query_one("#node-status").render())
        assert "connected 3h 12m ago in 0.04s" in status


async def test_every_node_key_is_in_the_footer_and_the_keys_panel() -> None:
    app, _ = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_gpu1(pilot)
        footer = app.export_screenshot()
        assert "Wizard" in footer
        await pilot.press("question_mark")
        await pilot.pause()
        panel = app.export_screenshot()
        assert screen.query("HelpPanel")
        for words in ("Wizard", "Back", "Tabs"):
            assert words in panel, words
        await pilot.press("question_mark", "2")
        await settle(pilot)
        footer = app.export_screenshot()
        for words in ("Logs", "Restart", "Wizard"):
            assert words in footer, words
