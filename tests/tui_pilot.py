"""What the pilot tests of the console share: the app on the recorded fleet, and waiting for it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from console.demo.fleet import recorded_fleet
from screens.app import OpsConsoleApp
from screens.node import NodeScreen
from widgets.fleet_table import FleetTable


def make_app(**options: object) -> tuple[OpsConsoleApp, object]:
    fleet = recorded_fleet()
    return OpsConsoleApp(fleet.session(), cursor_blink=False, batch_window_s=0, **options), fleet  # type: ignore[arg-type]


async def settle(pilot: Pilot[None]) -> None:
    await pilot.app.settled()
    await pilot.pause()


async def until(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the app run until `condition` holds (for screens whose workers never finish, like a log follow)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.01)


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def cell(app: OpsConsoleApp, node: str, column: str) -> str:
    return app.screen.query_one(FleetTable).get_cell(node, column).plain


async def open_gpu1(pilot: Pilot[None]) -> NodeScreen:
    await settle(pilot)
    table = pilot.app.screen.query_one(FleetTable)
    assert table.cursor_key == "gpu1"
    await pilot.press("enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, NodeScreen)
    return screen
