"""One poll of one node, the unit both the TUI and `--check` are built from."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from console.collectors.basics import NodeBasics
from console.collectors.docker import close_docker_clients, collect_docker
from console.collectors.docker_model import DockerSnapshot
from console.collectors.gpu import GpuSnapshot, GpuSource, collect_gpus
from console.collectors.gpu_prometheus import collect_gpus_from_prometheus
from console.collectors.mounts import MountsSnapshot, collect_mounts
from console.collectors.node_facts import NodeFacts, collect_node_facts
from console.collectors.prometheus import PrometheusError, open_prometheus
from console.collectors.services import ServicesSnapshot, collect_services
from console.inventory.model import Inventory, Node
from console.snapshots import NodeSnapshot
from console.transport import ConnectError, SSHTransport, Transport, TransportError, transports_for
from console.transport.readonly import ReadOnlyTransport
from console.wizards.stack_checks import StackSnapshot, collect_stack

GpuCollector = Callable[[Node, Transport], Awaitable[GpuSnapshot]]
SECTION_GRACE_S = 1.0  # past the node's command timeout: the collectors' own deadlines answer first


class SnapshotSource(Protocol):
    """Where node snapshots come from: the live fleet, or recorded data for tests and benchmarks."""

    async def poll(self, node: Node, *, force: bool = False) -> NodeSnapshot: ...

    async def close(self) -> None: ...


async def _nvidia_smi(node: Node, transport: Transport) -> GpuSnapshot:
    return await collect_gpus(transport, timeout=node.ssh.command_timeout)


async def poll_node(
    node: Node,
    transport: Transport,
    *,
    force: bool = False,
    gpu_collector: GpuCollector = _nvidia_smi,
    within: float | None = None,
    gpu_source: GpuSource = "nvidia-smi",
) -> NodeSnapshot:
    """Connect (reusing the open connection), then run this node's collectors side by side.

    Never raises for node trouble: an unreachable node is a snapshot with `error`; one collector failing
    or hanging leaves the others' results standing (see `gather_sections`; `within` bounds the collectors).
    """
    started = time.monotonic()
    try:
        await transport.connect(force=force)
    except ConnectError as exc:
        return NodeSnapshot(node.name, datetime.now(UTC), reachable=False, error=str(exc))
    jobs: dict[str, Awaitable[Any]] = {"gpu": gpu_collector(node, transport)}
    jobs.update(on_demand_collectors(node, transport))
    if node.docker is not None:
        jobs["docker"] = collect_docker(transport, node, timeout=node.ssh.command_timeout)
    limit = section_limit(node, within, started)
    results = await gather_sections(node, jobs, limit, gpu_source=gpu_source)
    gpu = results["gpu"]
    if isinstance(gpu, TransportError):  # the connection went away under the GPU read
        return NodeSnapshot(
            node.name, datetime.now(UTC), reachable=False, error=str(gpu), **connection(transport)
        )
    for result in results.values():
        if isinstance(result, BaseException):
            raise result  # collectors never raise for node trouble: this is a bug, let it show
    return NodeSnapshot(
        node.name,
        datetime.now(UTC),
        reachable=True,
        gpu=gpu,
        services=results.get("services"),
        mounts=results.get("mounts"),
        docker=results.get("docker"),
        facts=results.get("facts"),
        stack=results.get("stack"),
        **connection(transport),
    )


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


def timed_out_section(name: str, node: str, seconds: float, *, gpu_source: GpuSource = "nvidia-smi") -> Any:
    """What a section that did not answer in time says: its own error, the rest of the node untouched."""
    now = datetime.now(UTC)
    message = f"timed out after {seconds:.3g}s"
    if name == "docker":
        return DockerSnapshot(node, now, None, error=f"Docker did not answer: {message}")
    if name == "gpu":
        return GpuSnapshot(node, now, gpu_source, "error", error=f"no GPU data: {message}")
    kinds: dict[str, Any] = {
        "services": ServicesSnapshot,
        "mounts": MountsSnapshot,
        "facts": NodeFacts,
        "stack": StackSnapshot,
        "basics": NodeBasics,
    }
    return kinds[name](node, now, error=message)


async def gather_sections(
    node: Node, jobs: dict[str, Awaitable[Any]], within: float, *, gpu_source: GpuSource = "nvidia-smi"
) -> dict[str, Any]:
    """Run a poll's collectors side by side for at most `within` seconds.

    Every collector that answered keeps its result (an exception is returned as the value, as
    `gather(return_exceptions=True)` does); one that did not is cancelled and its section says
    "timed out after Ns". So a frozen dockerd costs the Docker section only, never the node's SSH and GPU
    results. Cancelling the caller cancels every collector.
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
            results[name] = timed_out_section(name, node.name, within, gpu_source=gpu_source)
        elif task.cancelled():
            results[name] = timed_out_section(name, node.name, within, gpu_source=gpu_source)
        else:
            results[name] = task.exception() or task.result()
    return results


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a cancelled collector's outcome as seen, so a late error is not printed at exit."""
    if not task.cancelled():
        task.exception()


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
        self,
        inventory: Inventory,
        nodes: tuple[Node, ...] | None = None,
        *,
        read_only: bool = False,
        poll_within: float | None = None,
    ) -> None:
        self.inventory = inventory
        self.poll_within = poll_within  # a poll's collectors end this many seconds after it starts (--check)
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
        return await poll_node(
            node,
            self.transports[node.name],
            force=force,
            gpu_collector=collector,
            within=self.poll_within,
            gpu_source="prometheus" if from_prometheus else "nvidia-smi",
        )

    async def relist_containers(self, node: Node, timeout: float) -> None:
        """Nothing to do: this source lists a node's containers on every poll."""

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
