"""What every poll of a node is made of, whichever way its sections are read.

The fleet's one snapshot source is `console.streams.source.StreamingSource` (the TUI, and `--check` with
`one_shot=True`). Here are its parts that are not streams: the connections it holds (`FleetConnections`),
the collectors a poll runs each time (`on_demand_collectors`: the registered sections' collectors), the
per-section deadline (`gather_sections`) and the one function that turns a poll's sections into a
`NodeSnapshot` (`assemble`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from console.collectors.docker import close_docker_clients
from console.collectors.gpu import GpuSnapshot
from console.collectors.gpu_prometheus import collect_gpus_from_prometheus
from console.collectors.prometheus import PrometheusError, open_prometheus
from console.inventory.model import Inventory, Node
from console.sections import registered, timed_out
from console.sections.registry import SNAPSHOT_FIELDS
from console.snapshots import NodeSnapshot
from console.transport import ConnectError, SSHTransport, Transport, TransportError, transports_for
from console.transport.readonly import ReadOnlyTransport

SECTION_GRACE_S = 1.0  # past the node's command timeout: the collectors' own deadlines answer first


class SnapshotSource(Protocol):
    """Where node snapshots come from: the live fleet, or recorded data for tests and benchmarks."""

    async def poll(self, node: Node, *, force: bool = False) -> NodeSnapshot: ...

    async def close(self) -> None: ...

    async def relist_containers(self, node: Node, timeout: float) -> None:
        """List the node's containers now (after an action), waiting up to `timeout`; the next poll shows
        the list. A source without live containers does nothing."""
        ...


def unreachable(node: Node, error: ConnectError, sections: Mapping[str, Any] | None = None) -> NodeSnapshot:
    """The snapshot of a node whose connection could not be made, with what the sections read without it
    (`without_node_reads`; None: not read). Never hides a bug: a section that is an exception is raised."""
    read = {name: value for name, value in (sections or {}).items() if value is not None}
    for value in read.values():
        if isinstance(value, BaseException):
            raise value
    return NodeSnapshot(node.name, datetime.now(UTC), reachable=False, error=str(error), **read)


def without_node_reads(node: Node) -> dict[str, Awaitable[Any]]:
    """The reads of this node's wanted sections that need no connection to it (Section.without_node)."""
    return {
        section.name: section.without_node(node)
        for section in registered()
        if section.without_node is not None and section.wanted(node)
    }


def assemble(node: Node, transport: Transport, sections: Mapping[str, Any]) -> NodeSnapshot:
    """A reached node's snapshot from its sections, keyed by NodeSnapshot field (absent or None: not read).

    Never hides a bug: a section that is an exception is raised (collectors never raise for node trouble),
    except a GPU read that lost the connection, which makes the node unreachable.
    """
    unknown = set(sections) - SNAPSHOT_FIELDS
    if unknown:
        raise ValueError(f"not NodeSnapshot sections: {', '.join(sorted(unknown))}")
    gpu = sections.get("gpu")
    if isinstance(gpu, TransportError):  # the connection went away under the GPU read
        return NodeSnapshot(
            node.name, datetime.now(UTC), reachable=False, error=str(gpu), **connection(transport)
        )
    for result in sections.values():
        if isinstance(result, BaseException):
            raise result
    return NodeSnapshot(node.name, datetime.now(UTC), reachable=True, **sections, **connection(transport))


def connection(transport: Transport) -> dict[str, Any]:
    """The connection's real handshake time and age, for NodeSnapshot (never the time a reuse took)."""
    return {
        "connect_s": getattr(transport, "connect_seconds", None),
        "connected_at": getattr(transport, "connected_at", None),
    }


def section_limit(node: Node, within: float | None, started: float) -> float:
    """Seconds left for a poll's collectors: the node's command timeout plus a grace, or less when the
    caller's deadline (`within` seconds from `started`) comes first."""
    limit = node.ssh.command_timeout + SECTION_GRACE_S
    if within is not None:
        limit = min(limit, within - (time.monotonic() - started))
    return max(limit, 0.0)


async def gather_sections(node: Node, jobs: dict[str, Awaitable[Any]], within: float) -> dict[str, Any]:
    """Run a poll's collectors side by side for at most `within` seconds.

    Every collector that answered keeps its result (an exception is returned as the value, as
    `gather(return_exceptions=True)` does); one that did not is cancelled and its section says
    "timed out after Ns" (its `Section.timed_out`). So a frozen dockerd costs the Docker section only,
    never the node's SSH and GPU results. Cancelling the caller cancels every collector.
    """
    tasks = {name: asyncio.ensure_future(job) for name, job in jobs.items()}
    if not tasks:
        return {}
    try:
        await asyncio.wait(tasks.values(), timeout=within)
    except BaseException:
        for task in tasks.values():
            task.cancel()
        raise
    results: dict[str, Any] = {}
    for name, task in tasks.items():
        if not task.done():
            task.cancel()  # closing its channel is the real cancel; nobody waits for it
            task.add_done_callback(_retrieve)
            results[name] = timed_out(name, node, within)  # the section's own placeholder
        elif task.cancelled():
            results[name] = timed_out(name, node, within)
        else:
            results[name] = task.exception() or task.result()
    return results


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a cancelled collector's outcome as seen, so a late error is not printed at exit."""
    if not task.cancelled():
        task.exception()


def on_demand_collectors(node: Node, transport: Transport) -> dict[str, Awaitable[Any]]:
    """The collectors a poll runs each time, keyed by NodeSnapshot field: those of the registered sections
    that the node's inventory asks for and that no stream fills."""
    return {
        section.name: section.collect(transport, node)
        for section in registered()
        if section.collect is not None and section.wanted(node)
    }


class FleetConnections:
    """One persistent transport per selected node (and the Prometheus `via` node), closed together.

    The snapshot source's connection half: what the session's actions and the checks runner reach the
    nodes and Prometheus through.
    """

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

    async def gpus_from_prometheus(self, node: Node) -> GpuSnapshot:
        """The node's GPUs as the fleet's Prometheus (DCGM exporter) last saw them."""
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

    async def close(self) -> None:
        await close_transports(self.transports)


async def close_transports(transports: Mapping[str, Transport]) -> None:
    """Close what `transports_for` made: every transport (its Docker clients first), then the jump hosts
    behind them that are not among them (an inventory node used as a jump but not selected still holds a
    connection). Closing a dead connection has nothing left to tell us: errors are dropped."""
    for transport in transports.values():
        with contextlib.suppress(OSError, TransportError):
            await close_docker_clients(transport)
            await transport.close()
    for jump in _unlisted_jumps(transports):
        with contextlib.suppress(OSError, TransportError):
            await jump.close()


def _unlisted_jumps(transports: Mapping[str, Transport]) -> list[SSHTransport]:
    listed = {id(getattr(t, "inner", t)) for t in transports.values()}
    jumps: dict[int, SSHTransport] = {}
    for transport in transports.values():
        jump = getattr(getattr(transport, "inner", transport), "jump", None)
        while isinstance(jump, SSHTransport):
            if id(jump) not in listed:
                jumps[id(jump)] = jump
            jump = jump.jump
    return list(jumps.values())
