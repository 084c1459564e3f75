"""Screenshots of every screen and tab at 80×24 and 160×48, on the deterministic recorded fleet.

The fleet is built from the real H100 captures with a fixed clock (console/demo/fleet.py); every shot is
taken after the workers finished (or, for the endless log follow, once the lines are in) and the cursor does
not blink. Review changed SVGs by eye before accepting them (`pytest --snapshot-update`, then look).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from console.demo.fleet import recorded_fleet
from screens.app import OpsConsoleApp
from widgets.log_view import LogView

NARROW, WIDE = (80, 24), (160, 48)


async def settle(pilot: Pilot[None]) -> None:
    await pilot.app.settled()
    await pilot.pause()


async def node(pilot: Pilot[None], name: str, tab: str) -> None:
    await settle(pilot)
    pilot.app.open_node(name, tab=tab)  # type: ignore[attr-defined]
    await settle(pilot)


async def fleet(pilot: Pilot[None]) -> None:
    await settle(pilot)


async def gpus(pilot: Pilot[None]) -> None:
    await node(pilot, "rack-a1", "gpus")


async def containers(pilot: Pilot[None]) -> None:
    await node(pilot, "gpu1", "containers")


async def mounts(pilot: Pilot[None]) -> None:
    await node(pilot, "pod-7", "mounts")


async def services(pilot: Pilot[None]) -> None:
    await node(pilot, "gpu1", "services")


async def node_checks(pilot: Pilot[None]) -> None:
    await node(pilot, "rack-a2", "checks")


async def logs(pilot: Pilot[None]) -> None:
    await node(pilot, "gpu1", "containers")
    await pilot.press("l")
    deadline = time.monotonic() + 5
    while not pilot.app.screen.query(LogView) or len(pilot.app.screen.query_one(LogView).lines_kept) < 25:
        assert time.monotonic() < deadline
        await pilot.pause(0.01)
    await pilot.pause()


async def confirm(pilot: Pilot[None]) -> None:
    await node(pilot, "gpu1", "containers")
    await pilot.press("down", "down", "R")
    await pilot.pause()


async def promql(pilot: Pilot[None], view: str | None = None) -> None:
    await settle(pilot)
    await pilot.press("e")
    await settle(pilot)
    box = pilot.app.screen.query_one(Input)
    box.value = 'DCGM_FI_DEV_POWER_USAGE{Hostname="rack-a1"}'
    await pilot.press("enter")
    await settle(pilot)
    if view:
        await pilot.press(view)
        await settle(pilot)


async def promql_table(pilot: Pilot[None]) -> None:
    await promql(pilot)


async def promql_graph(pilot: Pilot[None]) -> None:
    await promql(pilot, "f3")


async def promql_targets(pilot: Pilot[None]) -> None:
    await promql(pilot, "f4")


async def promql_alerts(pilot: Pilot[None]) -> None:
    await promql(pilot, "f5")


async def checks(pilot: Pilot[None]) -> None:
    await settle(pilot)
    await pilot.press("c")
    await settle(pilot)
    await pilot.press("f")  # problems only
    await pilot.pause()


Case = Callable[[Pilot[None]], Awaitable[None]]
CASES: list[tuple[str, Case, tuple[int, int]]] = [
    (name, case, size)
    for name, case, sizes in [
        ("fleet", fleet, (NARROW, WIDE)),
        ("node-gpus", gpus, (NARROW, WIDE)),
        ("node-containers", containers, (NARROW, WIDE)),
        ("node-mounts", mounts, (NARROW, WIDE)),
        ("node-services", services, (NARROW, WIDE)),
        ("node-checks", node_checks, (NARROW, WIDE)),
        ("logs", logs, (NARROW, WIDE)),
        ("confirm-restart", confirm, (NARROW,)),
        ("promql-table", promql_table, (NARROW, WIDE)),
        ("promql-graph", promql_graph, (NARROW, WIDE)),
        ("promql-targets", promql_targets, (NARROW,)),
        ("promql-alerts", promql_alerts, (WIDE,)),
        ("checks", checks, (NARROW, WIDE)),
    ]
    for size in sizes
]


@pytest.mark.parametrize(
    ("case", "size"),
    [pytest.param(case, size, id=f"{name}-{size[0]}x{size[1]}") for name, case, size in CASES],
)
def test_screen(snap_compare, case: Case, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    app = OpsConsoleApp(recorded_fleet().session(), cursor_blink=False, batch_window_s=0)
    assert snap_compare(app, terminal_size=size, run_before=case)
