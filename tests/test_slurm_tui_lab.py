"""The Slurm screen on a live session against the real Slurm lab: `J` from the fleet shows the cluster read
through h0, and resuming the drained node from the screen (asked, confirmed, audited) really resumes it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from console.inventory.loader import load_inventory
from console.session import ConsoleSession
from screens.app import OpsConsoleApp
from screens.confirm import ConfirmScreen
from screens.slurm import SlurmScreen
from tests.lab.slurm import SlurmLab
from tests.lab.slurm_fixtures import slurm_lab  # noqa: F401  (the fixture, by name)
from widgets.slurm_tables import SlurmNodeTable

pytestmark = pytest.mark.lab


async def until(pilot: Pilot[None], condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        await pilot.pause(0.05)


async def test_resume_from_the_screen_on_the_real_cluster(slurm_lab: SlurmLab, tmp_path: Path) -> None:  # noqa: F811
    assert slurm_lab.fleet is not None
    path = tmp_path / "slurm.yaml"
    path.write_text(slurm_lab.inventory_yaml())
    inventory = load_inventory(path)
    h2 = slurm_lab.hosts[2].name
    with slurm_lab.fleet.enter():  # the hosts' addresses exist in the hub namespace only
        session = ConsoleSession.live(inventory)
        app = OpsConsoleApp(session, cursor_blink=False, batch_window_s=0)
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("J")
            await until(pilot, lambda: isinstance(app.screen, SlurmScreen), "the Slurm screen")
            table = app.screen.query_one(SlurmNodeTable)
            await until(pilot, lambda: f"node|{h2}" in table.rows, "the cluster's nodes")
            assert table.cells(f"node|{h2}")["state"].plain == "drained"
            assert table.cells(f"node|{h2}")["reason"].plain == "bad DIMM"
            assert table.cells(f"node|{h2}")["reported"].plain == "1"  # the node's own nvidia-smi
            table.move_cursor(row=table.get_row_index(f"node|{h2}"))
            await pilot.press("u")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
            await pilot.press("y")
            await until(pilot, lambda: slurm_lab.node_state(h2) == "idle", f"{h2} resumed in Slurm")
            await until(
                pilot, lambda: table.cells(f"node|{h2}")["state"].plain == "idle", "the screen shows it"
            )
        await session.close()
    actions = [(line["phase"], line["action"], line["target"], line["ok"]) for line in session.audit.lines()]
    assert actions == [("intent", "slurm.resume", h2, None), ("result", "slurm.resume", h2, True)]
