"""Answers are shown once per frame: many in one frame cost one repaint, an answer that changes nothing
costs none, and a screen underneath does no work until it is shown again (screens/app.py, screens/base.py)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from textual import events

import screens.app as app_module
import screens.slices as slices_module
from console.demo.fleet import recorded_fleet
from console.model.node import NodeSnapshot
from screens.app import OpsConsoleApp
from screens.base import ConsoleScreen
from screens.checks import ChecksScreen
from screens.fleet import FleetScreen
from screens.messages import NodePolled
from screens.node import NodeScreen
from tests.tui_pilot import settle, until
from widgets.fleet_table import FleetTable

FRAME = 0.5  # wide enough that a loaded test machine delivers everything inside one frame


class Counts:
    """Spies on one screen: its frames (compositor updates that reached the display), the snapshot hooks
    the app calls, the status line and the rows its fleet table renders."""

    def __init__(self, screen: ConsoleScreen) -> None:
        self.frames = 0
        self.batches: list[list[str]] = []
        self.status = 0
        self.rows: list[str] = []
        compositor = screen._compositor
        render_update = compositor.render_update

        def counted_update(*args: Any, **kwargs: Any) -> Any:
            update = render_update(*args, **kwargs)
            if update is not None:
                self.frames += 1
            return update

        compositor.render_update = counted_update  # type: ignore[method-assign]
        show_snapshots, show_status = screen.show_snapshots, screen.show_status

        def counted_snapshots(snapshots: Sequence[NodeSnapshot]) -> None:
            self.batches.append([snapshot.node for snapshot in snapshots])
            show_snapshots(snapshots)

        def counted_status(*args: Any, **kwargs: Any) -> None:
            self.status += 1
            show_status(*args, **kwargs)

        screen.show_snapshots = counted_snapshots  # type: ignore[method-assign]
        screen.show_status = counted_status  # type: ignore[method-assign]
        for table in screen.query(FleetTable):
            render_row = table.render_row

            def counted_row(key: str, index: int, render_row: Any = render_row) -> Any:
                self.rows.append(key)
                return render_row(key, index)

            table.render_row = counted_row  # type: ignore[method-assign]


async def answer(app: OpsConsoleApp, name: str) -> NodeSnapshot:
    """One poll of `name` through the session, its answer posted the way the poll worker posts it."""
    snapshot = await app.session.poll(app.nodes[name], force=True)
    app.post_message(NodePolled(snapshot))
    return snapshot


async def test_answers_within_one_frame_cost_one_repaint_and_one_row_render() -> None:
    fleet = recorded_fleet(moving=True)
    app = OpsConsoleApp(fleet.session(), cursor_blink=False, batch_window_s=FRAME)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: all(name in app.session.latest for name in app.nodes))
        await pilot.pause(FRAME + 0.1)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        counts = Counts(screen)
        began = time.monotonic()
        for _ in range(5):  # gpu1 answers five times, moving each time, and two more nodes once
            last = await answer(app, "gpu1")
        await answer(app, "pod-7")
        await answer(app, "rack-a2")
        assert time.monotonic() - began < FRAME, "the machine is too slow to deliver within one frame"
        await pilot.pause()
        assert counts.batches == []  # the frame is still open: nothing shown yet
        await until(pilot, lambda: bool(counts.batches), timeout=FRAME * 4)
        await settle(pilot)
        assert counts.batches == [["gpu1", "pod-7", "rack-a2"]]  # one hand-over, the latest per node
        assert counts.status == 1  # the fleet's header is counted once for the frame, not per answer
        assert counts.frames == 1
        assert counts.rows.count("gpu1") == 1
        assert app.session.latest["gpu1"] is last
        assert screen.view(app.nodes["gpu1"]).snapshot is last  # the row was drawn from the last answer


async def test_an_answer_that_changes_nothing_repaints_nothing() -> None:
    fleet = recorded_fleet()  # not moving: every poll answers the same recording
    app = OpsConsoleApp(fleet.session(), cursor_blink=False, batch_window_s=0.05)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: all(name in app.session.latest for name in app.nodes))
        await pilot.pause(0.3)
        await settle(pilot)
        counts = Counts(app.screen)
        for name in app.nodes:
            await answer(app, name)
        await until(pilot, lambda: bool(counts.batches))
        await pilot.pause(0.2)
        await settle(pilot)
        assert counts.batches
        assert sorted(counts.batches[0]) == sorted(app.nodes)
        assert counts.rows == []
        assert counts.frames == 0


async def test_checks_across_the_fleet_are_gathered_once_per_frame() -> None:
    fleet = recorded_fleet(moving=True)
    app = OpsConsoleApp(fleet.session(), cursor_blink=False, batch_window_s=FRAME)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: all(name in app.session.latest for name in app.nodes))
        app.open_checks()
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen))
        await pilot.pause(FRAME + 0.1)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChecksScreen)
        gathered: list[int] = []
        all_results = screen.all_results

        def counted() -> Any:
            gathered.append(1)
            return all_results()

        screen.all_results = counted  # type: ignore[method-assign]
        for name in ("gpu1", "pod-7", "rack-a2", "cerberus"):
            await answer(app, name)
        await until(pilot, lambda: bool(gathered), timeout=FRAME * 4)
        await pilot.pause(FRAME + 0.1)
        await settle(pilot)
        assert len(gathered) == 1


async def test_a_hidden_screen_renders_nothing_and_shows_the_latest_when_back() -> None:
    fleet = recorded_fleet()
    app = OpsConsoleApp(fleet.session(), cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: all(name in app.session.latest for name in app.nodes))
        await settle(pilot)
        fleet_screen = app.screen
        assert isinstance(fleet_screen, FleetScreen)
        table = fleet_screen.query_one(FleetTable)
        assert table.get_cell("gpu1", "state").plain == "● up"
        app.open_node("gpu1")
        await until(pilot, lambda: isinstance(app.screen, NodeScreen))
        await settle(pilot)
        hidden = Counts(fleet_screen)
        shown = Counts(app.screen)
        shows: list[str] = []
        table_show = table.show

        def counted_show(view: Any, **options: Any) -> None:
            shows.append(view.node.name)
            table_show(view, **options)

        table.show = counted_show  # type: ignore[method-assign]
        # gpu1 goes down while its node screen is open, above the fleet
        up = fleet.source.snapshots["gpu1"]
        fleet.source.snapshots["gpu1"] = replace(
            up, reachable=False, error="connection refused", gpu=None, docker=None
        )
        await answer(app, "gpu1")
        await until(pilot, lambda: bool(shown.batches))
        await settle(pilot)
        assert shown.batches == [["gpu1"]]
        assert shown.frames >= 1  # the node screen shows it
        assert "connection refused" in str(app.screen.query_one("#node-status").render())
        # the fleet underneath was told nothing and drew nothing
        assert hidden.batches == []
        assert shows == []
        assert hidden.rows == []
        assert hidden.frames == 0
        assert table.get_cell("gpu1", "state").plain == "● up"
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is fleet_screen)
        await settle(pilot)
        assert table.get_cell("gpu1", "state").plain == "✖ down"  # caught up from the latest snapshot
        assert "gpu1" in hidden.rows


def running_timers(app: OpsConsoleApp) -> int:
    return sum(1 for timer in app._timers if timer._task is not None and not timer._task.done())


async def test_one_timer_keeps_a_fleet_polling() -> None:
    fleet = recorded_fleet(60, refresh=1.0, moving=True)
    app = OpsConsoleApp(fleet.session(), cursor_blink=False, batch_window_s=0.05)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: all(fleet.source.polls.get(name, 0) >= 1 for name in app.nodes))
        seen = 0
        for _ in range(8):  # while every node waits for its turn, polls, answers and waits again
            await pilot.pause(0.25)
            seen = max(seen, running_timers(app))
        await until(pilot, lambda: all(fleet.source.polls.get(name, 0) >= 3 for name in app.nodes))
        assert seen < 10  # one timer per node would be 60 or more


async def test_a_poll_running_long_is_reported_by_the_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "SLOW_AFTER_S", 0.3)
    fleet = recorded_fleet()
    fleet.source.delays["pod-7"] = 3.0
    app = OpsConsoleApp(fleet.session(seed=False), cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        said: list[tuple[str, float]] = []
        show_slow = screen.show_slow

        def counted(node: str, seconds: float) -> None:
            said.append((node, seconds))
            show_slow(node, seconds)

        screen.show_slow = counted  # type: ignore[method-assign]
        await until(pilot, lambda: len([s for n, s in said if n == "pod-7"]) >= 3)
        times = [seconds for node, seconds in said if node == "pod-7"]
        assert times[0] >= 0.3
        assert times == sorted(times)  # said again, later each time, while it runs
        assert app.in_flight("pod-7")
        assert {node for node, _ in said} == {"pod-7"}  # the others answered in time


async def test_a_large_frame_is_drawn_in_slices_and_a_key_goes_between(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(slices_module, "SLICE_S", 0.0)  # every slice's time is up: one slice per turn
    fleet = recorded_fleet(60, moving=True)
    app = OpsConsoleApp(fleet.session(), cursor_blink=False, batch_window_s=FRAME)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: all(name in app.session.latest for name in app.nodes))
        await pilot.pause(FRAME + 0.1)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        table = screen.query_one(FleetTable)
        table.focus()
        await pilot.pause()
        counts = Counts(screen)
        order: list[str] = []
        show_snapshots = screen.show_snapshots

        def noted(snapshots: Sequence[NodeSnapshot]) -> None:
            order.append("slice")
            show_snapshots(snapshots)

        screen.show_snapshots = noted  # type: ignore[method-assign]
        for name in app.nodes:
            await answer(app, name)
        await until(pilot, lambda: bool(order), timeout=FRAME * 4)
        row = table.cursor_row
        cursor_down = table.action_cursor_down

        def noted_key() -> None:
            order.append("key")
            cursor_down()

        table.action_cursor_down = noted_key  # type: ignore[method-assign]
        app.post_message(events.Key("down", None))  # as a terminal's key arrives, not waiting for idle
        await until(pilot, lambda: sum(len(batch) for batch in counts.batches) == 60)
        assert all(len(batch) <= slices_module.SLICE_NODES for batch in counts.batches)
        assert len(counts.batches) == 6
        assert order.index("key") < len(order) - 1  # the key was handled before the last slice
        assert table.cursor_row == row + 1


async def test_a_poll_hands_its_answer_over_without_a_message() -> None:
    fleet = recorded_fleet(moving=True)
    app = OpsConsoleApp(fleet.session(), cursor_blink=False, batch_window_s=0.05)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: all(name in app.session.latest for name in app.nodes))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        posted: list[NodePolled] = []
        post_message = app.post_message

        def counted(message: Any) -> bool:
            if isinstance(message, NodePolled):
                posted.append(message)
            return post_message(message)

        app.post_message = counted  # type: ignore[method-assign]
        counts = Counts(screen)
        before = app.session.latest["gpu1"]
        app.poll_node("gpu1", force=True)
        await until(pilot, lambda: any("gpu1" in batch for batch in counts.batches))
        assert app.session.latest["gpu1"] is not before
        assert screen.view(app.nodes["gpu1"]).snapshot is app.session.latest["gpu1"]
        assert posted == []  # the answer went into the frame as data: no message dispatched per poll
