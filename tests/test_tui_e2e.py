"""The console end to end on the REAL lab: sshd nodes, a real dockerd behind the node's SSH connection,
a real Prometheus. The fleet fills in, a restart from the Containers tab really restarts the container
(ground truth: the daemon itself), and a PromQL query answers."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot
from textual.widgets import Input

from console.inventory.model import DockerSettings, GpuExpectation, Inventory, PrometheusSettings
from console.session import ConsoleSession
from screens.app import OpsConsoleApp
from screens.confirm import ConfirmScreen
from screens.node import NodeScreen
from screens.promql import PromQLScreen
from tests.lab.docker_fixtures import IMAGE, DockerLab
from tests.lab.models import lab_node_model
from tests.lab.prometheus import PrometheusLab
from tests.lab.sshd import LabNode, SshLab
from widgets.fleet_table import FleetTable
from widgets.node_tables import ContainersTable
from widgets.prom_tables import InstantTable

CONTAINER = "tui-e2e"


async def until(pilot: Pilot[None], condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:g}s: {what}"
        await pilot.pause(0.05)


async def test_console_on_the_real_lab(
    ssh_lab: SshLab,
    gpu_node: LabNode,
    plain_node: LabNode,
    docker_lab: DockerLab,
    prometheus_lab: PrometheusLab,
) -> None:
    docker_lab.run_container(CONTAINER, "--init", IMAGE, "sleep", "3600")
    try:
        gpu = lab_node_model(
            ssh_lab,
            gpu_node,
            groups=("lab",),
            gpus=GpuExpectation(count=1),
            docker=DockerSettings(socket=docker_lab.socket, containers=(CONTAINER,)),
            refresh=1.0,
        )
        plain = lab_node_model(ssh_lab, plain_node, groups=("lab",), refresh=1.0)
        inventory = Inventory("lab", "lab", (gpu, plain), PrometheusSettings(prometheus_lab.url, timeout=5))
        app = OpsConsoleApp(ConsoleSession.live(inventory), cursor_blink=False, batch_window_s=0)
        async with app.run_test(size=(160, 48)) as pilot:
            table = app.screen.query_one(FleetTable)

            def cell(node: str, column: str) -> str:
                return table.get_cell(node, column).plain

            await until(pilot, lambda: cell(gpu.name, "gpus") == "1", 30, "the GPU node fills in")
            await until(pilot, lambda: cell(plain.name, "gpus") == "0", 30, "the plain node fills in")
            assert cell(gpu.name, "state") == "● up"
            assert cell(gpu.name, "temp") == "42°C"  # the replayed idle H100
            assert cell(gpu.name, "containers") == "1/1"

            app.open_node(gpu.name, tab="containers")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, NodeScreen)
            containers = screen.query_one(ContainersTable)
            await until(pilot, lambda: CONTAINER in containers.rows, 30, "the container is listed")
            containers.move_cursor(row=containers.get_row_index(CONTAINER))
            before = docker_lab.main.inspect(CONTAINER)["State"]["StartedAt"]
            await pilot.press("R")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 5, "the confirm dialog")
            await pilot.press("y")
            await until(
                pilot,
                lambda: any(
                    e["action"] == "docker.restart" and e["phase"] == "result"
                    for e in app.session.audit.entries()
                ),
                60,
                "the restart's result is audited",
            )
            (entry,) = [e for e in app.session.audit.entries() if e["action"] == "docker.restart"]
            # Its intent was written before anything reached the node, under the same id.
            lines = [e for e in app.session.audit.lines() if e["id"] == entry["id"]]
            assert [e["phase"] for e in lines] == ["intent", "result"]
            assert entry["ok"], entry
            assert (entry["node"], entry["target"]) == (gpu.name, CONTAINER)
            after = docker_lab.main.inspect(CONTAINER)["State"]
            assert after["Status"] == "running"
            assert after["StartedAt"] != before  # the daemon really restarted it
            await until(
                pilot,
                lambda: any("✔ ok" in line.plain for node, line in app.action_log if node == gpu.name),
                10,
                "the result is logged on screen",
            )

            await pilot.press("escape")
            await pilot.pause()
            await pilot.press("e")
            await until(pilot, lambda: isinstance(app.screen, PromQLScreen), 5, "the PromQL explorer")
            promql = app.screen
            promql.query_one(Input).value = 'up{job="dcgm"}'
            await pilot.press("enter")
            results = promql.query_one(InstantTable)
            await until(pilot, lambda: results.row_count == 1, 15, "the query answers")
            assert results.get_row_at(0)[1].plain == "1"
    finally:
        docker_lab.remove(CONTAINER)
