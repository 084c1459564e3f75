"""StreamingSource: the fleet's one snapshot source, built on long-lived streams, for the TUI and `--check`.

Each registered section that declares a stream (console/sections/stream.py) gets one per node, opened on the
node's first poll and kept (restarted by the stream itself when it dies): today the GPU sample stream,
Docker's events and the basics shell. Sections without one (services, mounts, node facts, the AI stack)
are read on demand by their collectors, per poll (console.poll.on_demand_collectors). So a warm poll of a
node with GPUs and Docker starts no process on the node: it reads the latest GPU sample and container list,
and asks the basics shell one question.

Where a transport cannot keep a stream (a local node: NVML in-process, or a wrapper without `open_stream`)
a section's stream factory says so and its one-shot fallback collector runs instead, per poll, with the same
snapshot type.

`one_shot=True` is `--check`, or any caller that polls once: the first poll of a node waits for the first
answer of each stream and for disk use, and starts no background process list; `close()` tears everything
down. A poll's sections become a NodeSnapshot in one place, `console.poll.assemble`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

from console.collectors.basics import NodeBasics
from console.inventory.model import Inventory, Node
from console.poll import (
    FleetConnections,
    assemble,
    gather_sections,
    on_demand_collectors,
    section_limit,
    unreachable,
    without_node_reads,
)
from console.sections import Poll, SectionStream, StreamContext, registered, timed_out
from console.snapshots import NodeSnapshot
from console.streams.basics_shell import DISK_EVERY_S
from console.streams.docker_events import SAFETY_RELIST_S
from console.transport.base import ConnectError, StreamingTransport, Transport

PROCESSES_EVERY_S = 30.0


class NodeStreams:
    """One node's streamed sections: a SectionStream each, or None where the fallback collector reads it."""

    def __init__(self, node: Node, transport: Transport, source: StreamingSource) -> None:
        self.node = node
        self.transport = transport
        streaming = isinstance(transport, StreamingTransport) and not transport.is_local
        context = StreamContext(node, transport, streaming, source)
        self.sections: dict[str, SectionStream | None] = {}
        self._fallbacks: dict[str, Any] = {}
        for section in registered():
            if section.stream is not None and section.wanted(node):
                self.sections[section.name] = section.stream.open(context)
                self._fallbacks[section.name] = section.stream.fallback
        self.polls = 0

    def __getitem__(self, name: str) -> SectionStream:
        """The stream of section `name` (KeyError when the node has none: not wanted, or a fallback)."""
        stream = self.sections[name]
        if stream is None:
            raise KeyError(name)
        return stream

    def kick(self) -> None:
        for stream in self.sections.values():
            if stream is not None:
                stream.kick()

    def read(self, poll: Poll, jobs: dict[str, Awaitable[Any]]) -> dict[str, Any]:
        """The sections whose latest value is in hand; the others go into `jobs` (a stream's read, or the
        fallback collector where the node keeps no stream)."""
        values: dict[str, Any] = {}
        for name, stream in self.sections.items():
            if stream is None:
                jobs[name] = self._fallbacks[name](self.transport, self.node)
            elif (value := stream.latest(poll)) is not None:
                values[name] = value
            else:
                jobs[name] = stream.read(poll)
        return values

    async def close(self) -> None:
        for stream in self.sections.values():
            if stream is not None:
                await stream.close()


class StreamingSource(FleetConnections):
    """The live fleet through streams: `poll(node)` returns the latest snapshot, mostly without I/O.

    `poll_within` bounds every poll's sections (`--check` gives each node what its deadline leaves).
    The settings (`gpu_interval`, `docker_safety_every`, `disk_every`, `processes_every`, `scratch`) are
    read by the sections' stream factories (console.sections.stream.StreamHost).
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
        """The node's latest state; `force` (the operator's refresh) also re-reads what can be (containers).

        Every section is awaited at most until the poll's limit (`section_limit`): one that has not
        answered by then says "timed out" and the others stand.
        """
        transport = self.transports[node.name]
        started = time.monotonic()
        try:
            await transport.connect(force=force)
        except ConnectError as exc:
            # What answers without the node (its BMC over Redfish) is still read, within the poll's limit.
            reads = without_node_reads(node)
            limit = section_limit(node, self.poll_within, started)
            return unreachable(node, exc, await gather_sections(node, reads, limit) if reads else None)
        streams = self.streams_for(node)
        streams.kick()  # connected: a stream waiting out a connection backoff may start now
        warm = streams.polls > 0 or self.one_shot  # a cold start leaves the slow reads to the next poll
        streams.polls += 1
        limit = section_limit(node, self.poll_within, started)
        wait = self.first_timeout if self.first_timeout is not None else node.ssh.command_timeout
        wait = min(wait, limit)
        # Only what needs I/O is awaited; the streams' latest values are read in place.
        jobs: dict[str, Awaitable[Any]] = {}
        sections = streams.read(Poll(wait, force=force, warm=warm, one_shot=self.one_shot), jobs)
        jobs.update(on_demand_collectors(node, transport))
        results = await gather_sections(node, jobs, limit)
        for name, value in results.items():
            if value is None and name in streams.sections:
                value = timed_out(name, node, wait)  # a stream's first answer did not come within `wait`
            sections[name] = value
        snapshot = assemble(node, transport, sections)
        if snapshot.basics is not None:
            self.latest_basics[node.name] = snapshot.basics
        return snapshot

    async def relist_containers(self, node: Node, timeout: float) -> None:
        """List the node's containers now (after an action), waiting up to `timeout` for the list."""
        streams = self.streams.get(node.name)
        docker = streams.sections.get("docker") if streams is not None else None
        if docker is not None:
            await docker.read(Poll(timeout, force=True))

    async def close(self) -> None:
        streams, self.streams = list(self.streams.values()), {}
        if streams:
            await asyncio.gather(*(node_streams.close() for node_streams in streams), return_exceptions=True)
        await super().close()
