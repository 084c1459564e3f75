"""The fleet screen on a fleet read from a real Prometheus (Debian's) scraping the synthetic fleet exporter
(tests/lab/fleet_exporter.py); the inventory lists no node at all: every row comes from the series."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.inventory.loader import load_inventory
from console.session import ConsoleSession
from screens.app import OpsConsoleApp
from tests.lab.fleet_exporter import node_name
from tests.lab.prom_fleet import PromFleetLab
from tests.lab.prom_fleet_fixtures import PROM_FLEET_NODES
from tests.tui_pilot import until
from widgets.fleet_table import FleetTable

NODES = PROM_FLEET_NODES


@pytest.fixture
def lab(prom_fleet_lab: PromFleetLab) -> PromFleetLab:
    return prom_fleet_lab


async def test_the_fleet_screen_lists_the_discovered_nodes_and_marks_the_frozen_one(
    lab: PromFleetLab, tmp_path: Path
) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(
        f'version: 1\nname: prom-fleet\nprometheus: {{url: "{lab.url}"}}\n'
        "fleet: {source: prometheus, rate_window: 5s}\n",
        encoding="utf-8",
    )
    inventory = load_inventory(path)
    app = OpsConsoleApp(ConsoleSession.live(inventory), cursor_blink=False, batch_window_s=0)
    app.interval_override = 1.0  # the exporter is scraped every second
    names = [node_name(i) for i in range(NODES)]
    frozen = names[-1]
    async with app.run_test(size=(200, 50)) as pilot:
        table = app.screen.query_one(FleetTable)

        def state(name: str) -> str:
            return table.get_cell(name, "state").plain if name in table.rows else ""

        await until(pilot, lambda: all(name in table.rows for name in names), timeout=30.0)
        assert not app.nodes  # nothing polled over SSH
        # the figures the series say (node 3: 4 GPUs, load 3.25), and the stale one said to be stale
        await until(pilot, lambda: "stale" in state(frozen), timeout=30.0)
        assert table.get_cell(node_name(3), "gpus").plain == "4"
        assert table.get_cell(node_name(3), "host_load").plain == "3.25"
        assert "stale" in table.get_cell(frozen, "detail").plain
        assert all("stale" not in state(name) for name in names[:-1])
        # node 2 has the lab's firing alert
        await until(pilot, lambda: "alert" in table.get_cell(node_name(2), "detail").plain, timeout=30.0)
        reads = app.session.prom_fleet.reader.reader.reads  # type: ignore[union-attr]
        assert reads <= 40  # one fleet read per refresh at most, never one per node
