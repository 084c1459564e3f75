"""The fleet read from Prometheus in the TUI (`fleet: {source: prometheus}`), on the recorded fleet.

The fleet's reader is a stand-in here (`Recorded`: the same `read`/`node_gpus` as the live one, answering
recorded PromFleetSnapshots); the live reader against a real Prometheus is tests/test_prom_fleet_tui_lab.py.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.pilot import Pilot

from console.demo.fleet import AT, recorded_fleet
from console.fleet_from_prometheus import FleetReader, PromFleet
from console.model.gpu import GpuReading, GpuSnapshot
from console.model.inventory import Node
from console.model.prom_fleet import PromFleetSnapshot, PromNode
from screens.app import OpsConsoleApp
from screens.fleet import FleetScreen
from screens.prom_node import NO_SSH, PromNodeScreen
from tests.tui_pilot import settle, until
from widgets.checks_table import ChecksTable
from widgets.fleet_table import FleetTable
from widgets.gpu_tables import GpuTable

URL = "http://prometheus.mgmt:9090"


def prom(name: str, i: int, **figures: object) -> PromNode:
    base: dict[str, object] = {
        "cpu_pct": 10.0 + i,
        "mem_total_bytes": 512 * 2**30,
        "mem_available_bytes": 400 * 2**30,
        "load1": 1.5 + i,
        "disk_fullest_pct": 30.0 + i,
        "disk_fullest_mount": "/",
        "net_rx_bps": 2e6,
        "net_tx_bps": 1e6,
        "gpu_count": 4,
        "gpu_util_pct": 40.0 + i,
        "gpu_temp_max_c": 60.0 + i,
        "gpu_power_w": 1200.0 + i,
        "gpu_mem_used_mib": 4 * 20480.0,
        "gpu_mem_total_mib": 4 * 81559.0,
        "containers_running": 3,
        "container_restarts": 0,
        "alerts_firing": 0,
        "up": True,
        "age_s": 1.0,
        "scrape_interval_s": 10.0,
    }
    return PromNode(name, **(base | figures))  # type: ignore[arg-type]


FIRST = (
    prom("gpu1", 0),  # an inventory node: polled over SSH, never taken from the series
    prom("p-0001", 1, gpu_temp_max_c=97.0),  # too hot: critical, as gpu.temperature says
    prom("p-0002", 2, age_s=95.0),  # its series stopped: stale (older than 3 scrapes)
    prom("p-0003", 3, alerts_firing=2),
    prom("p-0004", 4, gpu_count=None, gpu_util_pct=None, gpu_temp_max_c=None, gpu_power_w=None),
)
SECOND = (*FIRST[:2], *FIRST[3:], prom("p-0005", 5))  # p-0002 gone, p-0005 new


class Recorded(FleetReader):
    """Answers recorded reads in turn (the last one again once they run out), as a reader returns its
    last snapshot until Prometheus scraped again; counts the reads it was asked for."""

    def __init__(self, *reads: tuple[PromNode, ...]) -> None:
        self.snapshots = [PromFleetSnapshot(AT, URL, nodes, queries=8) for nodes in reads]
        self.reads = 0
        self.gpu_reads: list[str] = []

    async def read(self) -> PromFleetSnapshot:
        self.reads += 1
        return self.snapshots[min(self.reads, len(self.snapshots)) - 1]

    async def node_gpus(self, node: Node) -> GpuSnapshot:
        self.gpu_reads.append(node.name)
        readings = tuple(
            GpuReading(i, f"GPU-{i}", "NVIDIA H100 80GB HBM3", temperature_c=60.0 + 30 * i, util_gpu_pct=40.0)
            for i in range(2)
        )
        return GpuSnapshot(node.name, AT, "prometheus", "ok", readings)


def make_app(reader: Recorded) -> OpsConsoleApp:
    fleet = recorded_fleet()
    session = fleet.session(prom_fleet=PromFleet(fleet.inventory, reader))
    return OpsConsoleApp(session, cursor_blink=False, batch_window_s=0)


def cell(app: OpsConsoleApp, node: str, column: str) -> str:
    return app.screen.query_one(FleetTable).get_cell(node, column).plain


async def test_discovered_nodes_are_rows_from_one_read() -> None:
    reader = Recorded(FIRST, SECOND)
    app = make_app(reader)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        table = screen.query_one(FleetTable)
        assert reader.reads == 1  # one read of the whole fleet, not one per node
        for name in ("p-0001", "p-0002", "p-0003", "p-0004"):
            assert name in table.rows
            assert name not in app.nodes  # never polled over SSH
        assert "gpu1" in app.nodes
        assert app.session.latest["gpu1"].prom is None
        # the series' aggregates in the sections' columns; the colour from the checks (gpu.temperature)
        assert cell(app, "p-0001", "gpus") == "4"
        assert cell(app, "p-0001", "temp") == "97°C"
        assert table.get_cell("p-0001", "temp").style == table.get_cell("p-0001", "checks").style
        assert "crit" in cell(app, "p-0001", "checks")
        assert cell(app, "p-0003", "host_load") == "4.50"
        assert cell(app, "p-0003", "containers") == "3"
        assert "2 alerts firing" in cell(app, "p-0003", "detail")
        assert cell(app, "p-0004", "gpus") == "0"
        # the stale one says so, and its figures are not shown as fresh
        assert "stale" in cell(app, "p-0002", "state")
        assert "95s old" in cell(app, "p-0002", "detail")
        assert "dim" in str(table.get_cell("p-0002", "util").style)
        status = str(screen.query_one("#fleet-summary").render())
        assert "4 from Prometheus" in status
        assert "crit" in status  # the header's tally counts them
        # the next read: a new node is added, the one gone from the series is marked, not dropped
        screen.read_prom_fleet()
        await settle(pilot)
        assert reader.reads == 2
        assert "p-0005" in table.rows
        assert "gone" in cell(app, "p-0002", "state")
        assert "gone from Prometheus" in cell(app, "p-0002", "detail")
        # a read that is the one already shown touches no row
        before = dict(table.cells("p-0003"))
        screen.read_prom_fleet()
        await settle(pilot)
        assert table.cells("p-0003") == before


async def test_a_discovered_node_opens_from_its_series_alone() -> None:
    reader = Recorded(FIRST)
    app = make_app(reader)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(FleetTable)
        table.restore_cursor("p-0001")
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PromNodeScreen)
        assert NO_SSH in str(screen.query_one("#prom-node-status").render())
        assert reader.gpu_reads == ["p-0001"]  # that one node's GPU series, one by one
        gpus = screen.query_one(GpuTable)
        assert len(gpus.rows) == 2
        assert "90°C" in gpus.get_cell("gpu1", "temp").plain
        checks = screen.query_one(ChecksTable)
        keys = " ".join(checks.rows)
        assert "gpu.temperature" in keys  # judged from its series, as --check judges it
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, FleetScreen)
        table.restore_cursor("p-0001")
        await pilot.press("s")  # no SSH to it: said, nothing started
        await settle(pilot)
        assert isinstance(app.screen, FleetScreen)


async def _fleet_on_stale(pilot: Pilot[None]) -> None:
    await settle(pilot)
    pilot.app.screen.query_one(FleetTable).restore_cursor("p-0002")
    await settle(pilot)


async def _prom_node(pilot: Pilot[None]) -> None:
    await settle(pilot)
    pilot.app.screen.query_one(FleetTable).restore_cursor("p-0001")
    await pilot.press("enter")
    await settle(pilot)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
@pytest.mark.parametrize("case", [_fleet_on_stale, _prom_node], ids=["fleet", "node"])
def test_screens_from_prometheus(snap_compare, case, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(Recorded(FIRST)), terminal_size=size, run_before=case)


def test_a_read_redraws_only_the_nodes_whose_figures_changed() -> None:
    fleet = recorded_fleet()
    merged = PromFleet(fleet.inventory, Recorded())
    first = merged.merge(PromFleetSnapshot(AT, URL, FIRST))
    assert [s.node for s in first.snapshots] == ["p-0001", "p-0002", "p-0003", "p-0004"]
    # a scrape later: every series a second newer, node 3 hotter, the stale one a second older
    later = tuple(replace(p, age_s=(p.age_s or 0) + 1) for p in FIRST)
    later = (*later[:3], replace(later[3], gpu_temp_max_c=80.0), later[4])
    again = merged.merge(PromFleetSnapshot(AT, URL, later))
    assert [s.node for s in again.snapshots] == ["p-0002", "p-0003"]
    assert merged.figures["p-0001"].age_s == 2.0  # the figures are the newest, shown or not


class Failing(Recorded):
    async def read(self) -> PromFleetSnapshot:
        self.reads += 1
        if self.reads == 2:
            raise RuntimeError("boom")
        return self.snapshots[0]


async def test_a_read_that_fails_is_said_on_the_rows_and_the_next_read_comes() -> None:
    reader = Failing(FIRST)
    app = make_app(reader)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app.screen.read_prom_fleet()  # type: ignore[attr-defined]
        await settle(pilot)
        # the answer came back as a message (whose handler sets the next read's timer), saying why
        assert "internal error: boom" in cell(app, "p-0003", "detail")
        assert "down" in cell(app, "p-0003", "state")
        app.screen.read_prom_fleet()  # type: ignore[attr-defined]
        await settle(pilot)
        assert cell(app, "p-0003", "detail") == "Prometheus: 2 alerts firing"


async def test_the_checks_screen_lists_the_discovered_nodes_results() -> None:
    app = make_app(Recorded(FIRST))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        shown = app.screen.all_results()  # type: ignore[attr-defined]
        hot = [r for r in shown if r.node == "p-0001" and r.check == "gpu.temperature"]
        assert [r.status.value for r in hot] == ["critical"]


async def test_a_key_pressed_during_a_large_read_is_handled_before_every_row_is_updated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """2,000 nodes: a read's rows reach the table in slices (screens/slices.py in_slices), so a key pressed
    right after the read moves the cursor while rows are still due, not after all 2,000."""
    import screens.slices

    monkeypatch.setattr(screens.slices, "SLICE_S", 0.0)  # one slice per turn of the loop, whatever the clock
    many = tuple(prom(f"p-{i:04d}", i % 50) for i in range(2000))
    hotter = tuple(replace(p, gpu_temp_max_c=99.0) for p in many)
    app = make_app(Recorded(many, hotter))
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        table = screen.query_one(FleetTable)
        await until(pilot, lambda: sum(key.startswith("p-") for key in table.rows) == 2000, timeout=60.0)
        await settle(pilot)

        def hot() -> int:
            return sum(table.get_cell(name.name, "temp").plain == "99°C" for name in many)

        updated_at_key: list[int] = []
        down = table.action_cursor_down

        def counting_down() -> None:
            updated_at_key.append(hot())
            down()

        table.action_cursor_down = counting_down  # type: ignore[method-assign]
        table.focus()
        before = table.cursor_row
        screen.read_prom_fleet()
        await until(pilot, lambda: hot() > 0, timeout=30.0)
        await pilot.press("down")
        assert table.cursor_row == before + 1
        assert updated_at_key
        assert 0 < updated_at_key[0] < 2000  # handled between slices
        await until(pilot, lambda: hot() == 2000, timeout=60.0)
        assert not screen._prom_due


async def test_go_to_node_reaches_the_discovered_nodes() -> None:
    """The palette's "Go to node …" and `open_node` know the nodes only the series name; a name is remote
    text (markup in it is shown as written, never read)."""
    from textual.command import CommandList

    hostile = "p-[/]evil[reverse]"
    app = make_app(Recorded((*FIRST, prom(hostile, 6))))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert "p-0003" in app.discovered_nodes()
        assert "gpu1" not in app.discovered_nodes()  # the inventory's own: polled over SSH
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"go to node p-0003")
        commands = app.screen.query_one(CommandList)
        await until(
            pilot,
            lambda: commands.option_count > 0 and "p-0003" in str(commands.get_option_at_index(0).prompt),
        )
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PromNodeScreen)
        assert app.screen.node.name == "p-0003"
        app.open_node("p-0004")  # from any screen: back to the fleet, then the node
        await settle(pilot)
        assert isinstance(app.screen, PromNodeScreen)
        assert app.screen.node.name == "p-0004"
        assert [type(s).__name__ for s in app.screen_stack][-2:] == ["FleetScreen", "PromNodeScreen"]
        app.open_node("nobody")  # a name nobody knows: nothing opens
        await settle(pilot)
        assert app.screen.node.name == "p-0004"
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"evil")
        commands = app.screen.query_one(CommandList)
        await until(pilot, lambda: commands.option_count > 0)
        prompt = commands.get_option_at_index(0).prompt
        assert f"Go to node {hostile}" in getattr(prompt, "plain", str(prompt))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PromNodeScreen)
        assert app.screen.node.name == hostile


async def test_the_filter_follows_a_row_whose_state_changed() -> None:
    """What the filter looks in is kept per row: a read that makes a node stale shows it under "stale"."""
    later = (*FIRST[:3], prom("p-0003", 3, alerts_firing=2, age_s=95.0), FIRST[4])
    reader = Recorded(FIRST, later)
    app = make_app(reader)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        table = screen.query_one(FleetTable)
        table.set_filter("stale")
        assert "p-0002" in table.rows
        assert "p-0003" not in table.rows
        screen.read_prom_fleet()
        await settle(pilot)
        assert "stale" in cell(app, "p-0003", "state")
        assert "p-0003" in table.rows
