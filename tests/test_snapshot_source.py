"""The snapshot source's shared parts: the one NodeSnapshot assembly; what the checks runner asks of it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from console.checks.model import Status
from console.checks.runner import run_checks
from console.collectors.basics import NodeBasics
from console.collectors.gpu import GpuSnapshot
from console.inventory.model import Inventory, Node, PrometheusSettings
from console.poll import assemble
from console.sections.registry import SNAPSHOT_FIELDS
from console.snapshots import NodeSnapshot
from console.transport import TransportError
from console.transport.local import LocalTransport
from tests.lab.prometheus import PrometheusLab

AT = datetime(2026, 1, 1, tzinfo=UTC)
NODE = Node("gw", "127.0.0.1", transport="local")


def test_assemble_fills_every_section_by_its_field_name() -> None:
    gpu = GpuSnapshot("gw", AT, "nvidia-smi", "ok")
    basics = NodeBasics("gw", AT, cpus=8)
    snapshot = assemble(NODE, LocalTransport("gw"), {"gpu": gpu, "basics": basics, "docker": None})
    assert snapshot.reachable
    assert snapshot.error is None
    assert (snapshot.gpu, snapshot.basics, snapshot.docker, snapshot.mounts) == (gpu, basics, None, None)
    assert {"gpu", "services", "mounts", "docker", "facts", "stack", "basics"} <= SNAPSHOT_FIELDS
    assert not {"node", "taken_at", "reachable", "error", "connect_s", "connected_at"} & SNAPSHOT_FIELDS


def test_assemble_refuses_what_is_not_a_section() -> None:
    with pytest.raises(ValueError, match="error, gpus"):
        assemble(NODE, LocalTransport("gw"), {"gpus": None, "error": "x"})


def test_a_gpu_read_that_lost_the_connection_makes_the_node_unreachable() -> None:
    snapshot = assemble(
        NODE, LocalTransport("gw"), {"gpu": TransportError("connection lost"), "basics": None}
    )
    assert not snapshot.reachable
    assert snapshot.error == "connection lost"
    assert snapshot.basics is None


def test_a_collector_that_raised_is_a_bug_and_shows() -> None:
    with pytest.raises(KeyError):
        assemble(NODE, LocalTransport("gw"), {"gpu": None, "mounts": KeyError("bug")})


class NotStreaming:
    """A source of another kind: the runner asks it for Prometheus's connection like any other."""

    def __init__(self) -> None:
        self.asked = 0

    async def poll(self, node: Node, *, force: bool = False) -> NodeSnapshot:
        return NodeSnapshot(node.name, datetime.now(UTC), reachable=False, error="not polled")

    def prometheus_transport(self) -> LocalTransport:
        self.asked += 1
        return LocalTransport("gw")


async def test_the_runner_reaches_prometheus_through_any_sources_connection(
    prometheus_lab: PrometheusLab,
) -> None:
    inventory = Inventory("lab", "lab.yaml", (NODE,), PrometheusSettings(prometheus_lab.url, via="gw"))
    source = NotStreaming()
    report = await run_checks(inventory, source, nodes=(), timeout=20)
    assert source.asked == 1
    prometheus = [result for result in report.results if result.check.startswith("prometheus.")]
    assert prometheus
    assert all(result.status is not Status.UNKNOWN for result in prometheus), prometheus
