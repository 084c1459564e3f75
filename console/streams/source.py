"""StreamingSource: the fleet's one snapshot source, built on long-lived streams, for the TUI and `--check`.

Per node, started lazily on its first poll and restarted when they die:
- GPU: one `nvidia-smi --query-gpu=... -lms N` (console/streams/gpu_stream.py); N = the node's refresh.
- Containers: the Docker events stream, re-listing only on change (console/streams/docker_events.py).
- Basics: a kept shell answering one /proc report per poll with builtins (console/streams/basics_shell.py).
Services, mounts, node facts and the AI stack stay on demand: their collectors run per poll
(console.poll.on_demand_collectors). So a warm poll of a node with GPUs and Docker starts no process on
the node: it reads the latest GPU sample and container list, and asks the basics shell one question. GPU
processes (who holds GPU memory) are one command every `processes_every` seconds in the background, and
disk use one `stat -f` every `disk_every` seconds.

Where a transport cannot keep a stream (a local node: NVML in-process, or a wrapper without
`open_stream`) the one-shot collectors run instead, per poll, with the same snapshot types.

`one_shot=True` is `--check`, or any caller that polls once: the first poll of a node waits for the first
sample of each stream and for disk use, and starts no background process list; `close()` tears everything
down. A poll's sections become a NodeSnapshot in one place, `console.poll.assemble`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

from console.collectors.basics import NodeBasics, disk_paths
from console.collectors.docker_model import DockerSnapshot
from console.collectors.gpu import GpuSnapshot, collect_gpus
from console.collectors.gpu_processes import APPS_MARK, GpuProcess, apps_script, parse_apps_output
from console.inventory.model import Inventory, Node
from console.poll import (
    FleetConnections,
    assemble,
    gather_sections,
    gpu_source,
    on_demand_collectors,
    section_limit,
    timed_out_section,
    unreachable,
)
from console.snapshots import NodeSnapshot
from console.streams.basics_shell import DISK_EVERY_S, BasicsStream
from console.streams.docker_events import SAFETY_RELIST_S, DockerWatcher
from console.streams.gpu_stream import GpuStream
from console.transport.base import ConnectError, StreamingTransport, Transport, TransportError
from console.transport.pool import jittered
from console.transport.readonly import register_read_only

PROCESSES_EVERY_S = 30.0
GPU_INTERVAL_MIN_S, GPU_INTERVAL_MAX_S = 0.5, 10.0
APPS_COMMAND = apps_script()
register_read_only(APPS_COMMAND)


def restarting(docker: DockerSnapshot) -> bool:
    """A container in a restart loop: its next state change may come without an event."""
    return any(container.state == "restarting" for container in docker.containers)


def timed_out_docker(node: Node, seconds: float) -> DockerSnapshot:
    snapshot: DockerSnapshot = timed_out_section("docker", node.name, seconds)
    return snapshot


def scratch_paths(node: Node) -> tuple[str, ...]:
    """The node's local scratch paths, when the inventory model has them (`Node.scratch`)."""
    value = getattr(node, "scratch", ())
    return tuple(str(path) for path in value) if isinstance(value, (tuple, list)) else ()


class NodeStreams:
    """One node's streams and its slower background reads."""

    def __init__(self, node: Node, transport: Transport, source: StreamingSource) -> None:
        self.node = node
        self.transport = transport
        streaming = isinstance(transport, StreamingTransport) and not transport.is_local
        self.gpu: GpuStream | None = None
        if streaming and gpu_source(node) == "nvidia-smi":
            assert isinstance(transport, StreamingTransport)
            interval = source.gpu_interval or min(max(node.refresh, GPU_INTERVAL_MIN_S), GPU_INTERVAL_MAX_S)
            self.gpu = GpuStream(transport, interval=interval, open_timeout=node.ssh.command_timeout)
        self.docker: DockerWatcher | None = None
        if node.docker is not None:
            self.docker = DockerWatcher(transport, node, safety_every=source.docker_safety_every)
        scratch = (*scratch_paths(node), *source.scratch.get(node.name, ()))
        self.basics = BasicsStream(
            transport,
            disks=disk_paths(scratch, [mount.path for mount in node.mounts]),
            disk_every=source.disk_every,
            timeout=node.ssh.command_timeout,
        )
        self.processes_every = source.processes_every
        self.processes: tuple[GpuProcess, ...] = ()
        self.process_reads = 0
        self.polls = 0
        self._processes_due = 0.0
        self._processes_task: asyncio.Task[None] | None = None

    def kick(self) -> None:
        if self.gpu is not None:
            self.gpu.kick()

    def with_processes(self, gpu: GpuSnapshot, *, due: bool = True) -> GpuSnapshot:
        """The stream's sample with the latest process list; starts a background read when one is due."""
        if self.processes_every is None or gpu.status != "ok":
            return gpu
        running = self._processes_task is not None and not self._processes_task.done()
        if due and not running and time.monotonic() >= self._processes_due:
            self._processes_due = time.monotonic() + jittered(self.processes_every)
            self._processes_task = asyncio.create_task(
                self._read_processes(), name=f"gpu-apps {self.node.name}"
            )
        return dataclasses.replace(gpu, processes=self.processes) if self.processes else gpu

    async def _read_processes(self) -> None:
        with contextlib.suppress(TransportError):
            result = await self.transport.run(APPS_COMMAND, timeout=self.node.ssh.command_timeout)
            if result.ok:
                self.processes = parse_apps_output(result.stdout.partition(APPS_MARK)[2])
                self.process_reads += 1

    async def close(self) -> None:
        task, self._processes_task = self._processes_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for stream in (self.gpu, self.docker, self.basics):
            if stream is not None:
                await stream.close()


class StreamingSource(FleetConnections):
    """The live fleet through streams: `poll(node)` returns the latest snapshot, mostly without I/O.

    `poll_within` bounds every poll's sections (`--check` gives each node what its deadline leaves).
    """

    def __init__(
        self,
        inventory: Inventory,
        nodes: tuple[Node, ...] | None = None,
        *,
        one_shot: bool = False,
        gpu_interval: float | None = None,
        docker_safety_every: float = SAFETY_RELIST_S,
        disk_every: float = DISK_EVERY_S,
        processes_every: float | None = PROCESSES_EVERY_S,
        first_timeout: float | None = None,
        scratch: Mapping[str, Sequence[str]] | None = None,
        read_only: bool = False,
        poll_within: float | None = None,
    ) -> None:
        super().__init__(inventory, nodes, read_only=read_only)
        self.poll_within = poll_within
        self.one_shot = one_shot
        self.gpu_interval = gpu_interval
        self.docker_safety_every = docker_safety_every
        self.disk_every = disk_every
        self.processes_every = None if one_shot else processes_every
        self.first_timeout = first_timeout
        self.scratch = {name: tuple(paths) for name, paths in (scratch or {}).items()}
        self.streams: dict[str, NodeStreams] = {}
        # The last basics of each node, also in its snapshot: for callers that see only check results.
        self.latest_basics: dict[str, NodeBasics] = {}

    def streams_for(self, node: Node) -> NodeStreams:
        streams = self.streams.get(node.name)
        if streams is None:
            streams = self.streams[node.name] = NodeStreams(node, self.transports[node.name], self)
        return streams

    async def poll(self, node: Node, *, force: bool = False) -> NodeSnapshot:
        """The node's latest state; `force` (the operator's refresh) also re-lists its containers now.

        Every section is awaited at most until the poll's limit (`section_limit`): one that has not
        answered by then says "timed out" and the others stand.
        """
        transport = self.transports[node.name]
        started = time.monotonic()
        try:
            await transport.connect(force=force)
        except ConnectError as exc:
            return unreachable(node, exc)
        streams = self.streams_for(node)
        streams.kick()  # connected: a stream waiting out a connection backoff may start now
        warm = streams.polls > 0 or self.one_shot  # a cold start leaves the slow reads to the next poll
        streams.polls += 1
        limit = section_limit(node, self.poll_within, started)
        wait = self.first_timeout if self.first_timeout is not None else node.ssh.command_timeout
        wait = min(wait, limit)
        # Only what needs I/O is awaited; the streams' latest values are read in place.
        jobs: dict[str, Awaitable[Any]] = {
            "basics": streams.basics.read(wait_disks=self.one_shot, disks_due=warm),
        }
        gpu = streams.gpu.snapshot() if streams.gpu is not None and streams.gpu.answered else None
        if gpu is None:
            jobs["gpu"] = self._gpu(node, transport, streams, wait)
        docker = streams.docker.latest if streams.docker is not None else None
        if streams.docker is not None:
            if docker is None or not streams.docker.running:
                jobs["docker"] = streams.docker.first(wait)
            elif force or restarting(docker):
                # Docker sends no event when a restart loop gives up or a restart fails to start: look now.
                jobs["docker"] = streams.docker.relist_now(wait)
        jobs.update(on_demand_collectors(node, transport))
        results = await gather_sections(node, jobs, limit, gpu_source=gpu_source(node))
        # What was read now, over the streams' latest values.
        sections: dict[str, Any] = {"gpu": gpu, "docker": docker, **results}
        if isinstance(sections["gpu"], GpuSnapshot) and streams.gpu is not None:
            sections["gpu"] = streams.with_processes(sections["gpu"], due=warm)
        if sections["docker"] is None and streams.docker is not None:
            sections["docker"] = timed_out_docker(node, wait)  # the watcher's first list did not come in time
        snapshot = assemble(node, transport, sections)
        if snapshot.basics is not None:
            self.latest_basics[node.name] = snapshot.basics
        return snapshot

    async def relist_containers(self, node: Node, timeout: float) -> None:
        """List the node's containers now (after an action), waiting up to `timeout` for the list."""
        streams = self.streams.get(node.name)
        if streams is not None and streams.docker is not None:
            await streams.docker.relist_now(timeout)

    async def _gpu(self, node: Node, transport: Transport, streams: NodeStreams, wait: float) -> GpuSnapshot:
        if gpu_source(node) == "prometheus":
            return await self.gpus_from_prometheus(node)
        if streams.gpu is None:  # local (NVML in-process) or a transport without streams
            return await collect_gpus(transport, timeout=node.ssh.command_timeout)
        return await streams.gpu.first(wait)

    async def close(self) -> None:
        streams, self.streams = list(self.streams.values()), {}
        if streams:
            await asyncio.gather(*(node_streams.close() for node_streams in streams), return_exceptions=True)
        await super().close()
