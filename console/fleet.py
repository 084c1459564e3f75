"""One poll of one node, the unit both the TUI and `--check` are built from."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from console.collectors.docker import close_docker_clients, collect_docker
from console.collectors.gpu import GpuSnapshot, collect_gpus
from console.collectors.gpu_prometheus import collect_gpus_from_prometheus
from console.collectors.mounts import collect_mounts
from console.collectors.node_facts import collect_node_facts
from console.collectors.prometheus import PrometheusError, open_prometheus
from console.collectors.services import collect_services
from console.inventory.model import Inventory, Node
from console.snapshots import NodeSnapshot
from console.transport import ConnectError, SSHTransport, Transport, TransportError, transports_for
from console.transport.readonly import ReadOnlyTransport
from console.wizards.stack_checks import collect_stack

GpuCollector = Callable[[Node, Transport], Awaitable[GpuSnapshot]]


class SnapshotSource(Protocol):
    """Where node snapshots come from: the live fleet, or recorded data for tests and benchmarks."""

    async def poll(self, node: Node, *, force: bool = False) -> NodeSnapshot: ...

    async def close(self) -> None: ...


async def _nvidia_smi(node: Node, transport: Transport) -> GpuSnapshot:
    return await collect_gpus(transport, timeout=node.ssh.command_timeout)


async def poll_node(
    node: Node, transport: Transport, *, force: bool = False, gpu_collector: GpuCollector = _nvidia_smi
) -> NodeSnapshot:
    """Connect (reusing the open connection), then run this node's collectors side by side.

    Never raises for node trouble: an unreachable node is a snapshot with `error`; one collector failing
    leaves the others' results standing.
    """
    started = time.monotonic()
    try:
        await transport.connect(force=force)
    except ConnectError as exc:
        return NodeSnapshot(node.name, datetime.now(UTC), reachable=False, error=str(exc))
    connect_s = time.monotonic() - started

    jobs = on_demand_collectors(node, transport)
    if node.docker is not None:
        jobs["docker"] = collect_docker(transport, node, timeout=node.ssh.command_timeout)
    tasks = {name: asyncio.ensure_future(job) for name, job in jobs.items()}  # they overlap the GPU read
    try:
        gpu = await gpu_collector(node, transport)
    except TransportError as exc:
        for task in tasks.values():
            task.cancel()
        return NodeSnapshot(
            node.name, datetime.now(UTC), reachable=False, error=str(exc), connect_s=connect_s
        )
    results = {name: await task for name, task in tasks.items()}
    return NodeSnapshot(
        node.name,
        datetime.now(UTC),
        reachable=True,
        gpu=gpu,
        connect_s=connect_s,
        services=results.get("services"),
        mounts=results.get("mounts"),
        docker=results.get("docker"),
        facts=results.get("facts"),
        stack=results.get("stack"),
    )


def on_demand_collectors(node: Node, transport: Transport) -> dict[str, Awaitable[Any]]:
    """The collectors a poll runs each time for what the node's inventory asks, keyed by NodeSnapshot field.

    Both sources run exactly these (LiveSource here, StreamingSource beside its streams), so a new section
    is added in one place.
    """
    timeout = node.ssh.command_timeout
    jobs: dict[str, Awaitable[Any]] = {}
    if node.services:
        jobs["services"] = collect_services(transport, node)
    if node.mounts:
        jobs["mounts"] = collect_mounts(transport, node.mounts, timeout=timeout)
    if node.sshd is not None or node.storage:
        jobs["facts"] = collect_node_facts(transport, node, timeout=timeout)
    if node.ai_stack is not None:
        jobs["stack"] = collect_stack(transport, node)
    return jobs


class LiveSource:
    """Snapshots from the real nodes, one persistent transport per node."""

    def __init__(
        self, inventory: Inventory, nodes: tuple[Node, ...] | None = None, *, read_only: bool = False
    ) -> None:
        self.inventory = inventory
        wanted = nodes if nodes is not None else inventory.nodes
        via = inventory.prometheus.via if inventory.prometheus is not None else None
        if via and via not in {node.name for node in wanted}:
            wanted = (*wanted, inventory.node(via))  # Prometheus is reached through this node's tunnel
        self.transports = transports_for(inventory, wanted)
        if read_only:  # after transports_for, so nodes behind a jump host still share its connection
            self.transports = {name: ReadOnlyTransport(t) for name, t in self.transports.items()}

    def prometheus_transport(self) -> Transport | None:
        settings = self.inventory.prometheus
        return self.transports.get(settings.via) if settings is not None and settings.via else None

    async def _gpus_from_prometheus(self, node: Node, transport: Transport) -> GpuSnapshot:
        settings = self.inventory.prometheus
        if settings is None:
            return GpuSnapshot(
                node.name,
                datetime.now(UTC),
                "prometheus",
                "error",
                error="gpus.source is prometheus but the inventory has no prometheus section",
            )
        try:
            # Opened per poll: after an SSH reconnect the tunnel has a new local port.
            with await open_prometheus(settings, self.prometheus_transport()) as client:
                return await collect_gpus_from_prometheus(client, node)
        except (PrometheusError, TransportError) as exc:
            return GpuSnapshot(node.name, datetime.now(UTC), "prometheus", "error", error=str(exc))

    async def poll(self, node: Node, *, force: bool = False) -> NodeSnapshot:
        from_prometheus = node.gpus is not None and node.gpus.source == "prometheus"
        collector = self._gpus_from_prometheus if from_prometheus else _nvidia_smi
        return await poll_node(node, self.transports[node.name], force=force, gpu_collector=collector)

    async def close(self) -> None:
        for transport in self.transports.values():
            # Closing a dead connection has nothing left to tell us.
            with contextlib.suppress(OSError, TransportError):
                await close_docker_clients(transport)
                await transport.close()
        # Jump hosts that are not selected nodes themselves still hold a connection each.
        for jump in self._unlisted_jumps():
            with contextlib.suppress(OSError, TransportError):
                await jump.close()

    def _unlisted_jumps(self) -> list[SSHTransport]:
        listed = {id(getattr(t, "inner", t)) for t in self.transports.values()}
        jumps: dict[int, SSHTransport] = {}
        for transport in self.transports.values():
            jump = getattr(getattr(transport, "inner", transport), "jump", None)
            while isinstance(jump, SSHTransport):
                if id(jump) not in listed:
                    jumps[id(jump)] = jump
                jump = jump.jump
        return list(jumps.values())
