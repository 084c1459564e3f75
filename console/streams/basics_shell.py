"""Node basics over one long-lived shell: a line in, a /proc report out, no process started per refresh.

The shell (console/collectors/basics.py STREAM_SCRIPT) answers each request with shell builtins only. Disk
use (statfs) needs a `stat` process, so it is read in the background at most every `disk_every` seconds
(jittered) and the latest result rides along with every report; just before it, the shell hands over the
node's mount table, and a path on a network filesystem is never statted. A transport that cannot keep a
stream (LocalTransport, a read-only wrapper without `open_stream`) gets `collect_basics`, one command per
read.

Each request also names the node's running containers (`containers`, from the Docker watcher's latest
list), whose cgroup files the same shell reads (console/collectors/cgroups.py). CPU %, network rates and the
containers' CPU % are deltas from the previous answer (`Rates`): the first read has none.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from console.collectors.basics import (
    MARK,
    MAX_MOUNT_LINES,
    MOUNT_MARK,
    STREAM_COMMAND,
    DiskUse,
    NodeBasics,
    collect_basics,
    collect_disks,
    local_disks,
    local_only,
    parse_report,
    with_rates,
)
from console.collectors.cgroups import (
    CGROUP_MARK,
    MAX_CONTAINERS,
    cgroup_request,
    local_cgroup_line,
    parse_cgroup_line,
)
from console.model.docker import ContainerInfo
from console.streams.docker_events import running_containers
from console.tasks import cancel_and_wait
from console.text import clean_line
from console.transport.base import LineStream, StreamingTransport, Transport, TransportError
from console.transport.pool import jittered

DISK_EVERY_S = 60.0


class BasicsStream:
    """Node basics of one node, one request per `read()` on a kept shell."""

    def __init__(
        self,
        transport: Transport,
        *,
        disks: tuple[str, ...] = ("/",),
        disk_every: float = DISK_EVERY_S,
        timeout: float = 10.0,
        containers: Callable[[], Iterable[ContainerInfo]] | None = None,
    ) -> None:
        self.transport = transport
        # The running containers whose cgroups each read also reads (default: the node's Docker watcher's).
        self.containers = containers
        # A runtime Protocol check costs tens of microseconds: once, not per read.
        self._streaming = isinstance(transport, StreamingTransport) and not transport.is_local
        self.disk_paths = disks
        self.disk_every = disk_every
        self.timeout = timeout
        self.starts = 0  # shells started
        self.reports = 0
        self.disk_reads = 0
        self._lines: LineStream | None = None
        self._requests = 0
        self._lock = asyncio.Lock()
        self._disks: tuple[DiskUse, ...] = ()
        self._disks_at: datetime | None = None
        self._disk_due = 0.0  # monotonic
        self._disk_task: asyncio.Task[None] | None = None
        self._previous: NodeBasics | None = None  # the last good answer: rates are deltas from it

    @property
    def node(self) -> str:
        return self.transport.node_name

    async def read(self, *, wait_disks: bool = False, disks_due: bool = True) -> NodeBasics:
        """A fresh /proc report with the latest disk use.

        `disks_due=False` starts no disk read now (a cold start leaves it to the next read); `wait_disks`
        waits for a disk read started now.
        """
        if disks_due:
            self._maybe_read_disks()
        if wait_disks and self._disk_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._disk_task)
        if self.containers is not None:
            containers = tuple(self.containers())
        else:  # the node's Docker watcher's latest list, when Docker is watched
            containers = running_containers(self.transport)
        if self._streaming:
            basics = await self._ask(cgroup_request(containers))
        else:
            basics = await collect_basics(self.transport, timeout=self.timeout)
            if self.transport.is_local and basics.error is None:
                basics = self._local_cgroups(basics, containers)
        self.reports += basics.error is None
        if basics.error is None:
            if not self._streaming:  # the shell's answers come with their rates (_ask)
                basics = with_rates(basics, self._previous)
            self._previous = basics
        if not self.disk_paths or basics.error is not None:
            return basics
        return replace(basics, disks=self._disks, disks_at=self._disks_at)

    def _local_cgroups(self, basics: NodeBasics, containers: tuple[ContainerInfo, ...]) -> NodeBasics:
        """A local node's containers, read in-process as the shell would (files only, no process)."""
        costs = []
        for word in cgroup_request(containers).split():
            container_id, _, pid = word.partition(":")
            cost = parse_cgroup_line(local_cgroup_line("-", container_id, int(pid)))
            if cost is not None:
                costs.append(cost)
        return replace(basics, containers=tuple(costs))

    async def _exchange(self, request: str, rest: str, marker: str, limit: int) -> tuple[str, list[str]]:
        """Ask the kept shell one request; its answer's last line and the `marker` lines before it."""
        extra: list[str] = []
        async with self._lock:  # one request in flight per shell: answers come back in order
            try:
                async with asyncio.timeout(self.timeout):
                    lines = await self._shell()
                    lines.write(f"{request}{rest}\n")
                    line = await self._answer(lines, request, marker, extra, limit)
            except (TransportError, TimeoutError):
                await self._drop()
                raise
        return line, extra

    async def _ask(self, containers: str = "") -> NodeBasics:
        started = time.monotonic()
        self._requests += 1
        try:
            line, cgroups = await self._exchange(str(self._requests), containers, CGROUP_MARK, MAX_CONTAINERS)
        except (TransportError, TimeoutError) as exc:
            why = clean_line(exc) or f"no basics report within {self.timeout:g}s"
            return NodeBasics(self.node, datetime.now(UTC), error=why, duration_s=time.monotonic() - started)
        return parse_report(
            self.node,
            line,
            taken_at=datetime.now(UTC),
            duration_s=time.monotonic() - started,
            cgroup_lines=cgroups,
            previous=self._previous,
        )

    async def _shell(self) -> LineStream:
        if self._lines is None:
            assert isinstance(self.transport, StreamingTransport)
            self._lines = await self.transport.open_stream(STREAM_COMMAND, timeout=self.timeout)
            self.starts += 1
        return self._lines

    async def _answer(
        self, lines: LineStream, request: str, marker: str, extra: list[str], limit: int
    ) -> str:
        """The report line answering request, its `marker` lines (without the marker) into `extra`; what is
        left of an earlier, abandoned request is skipped."""
        prefix, extra_prefix = f"{MARK} {request}|", f"{marker} {request}|"
        while True:
            line = await lines.readline()
            if line is None:
                why = clean_line(lines.error or lines.exit_status, limit=200)
                raise TransportError(f"{self.node}: basics shell ended ({why})")
            if line.startswith(prefix):
                return line
            if line.startswith(extra_prefix) and len(extra) < limit:
                extra.append(line[len(marker) + 1 :])

    async def _drop(self) -> None:
        lines, self._lines = self._lines, None
        if lines is not None:
            await lines.close()

    def _maybe_read_disks(self) -> None:
        if not self.disk_paths or time.monotonic() < self._disk_due:
            return
        if self._disk_task is not None and not self._disk_task.done():
            return
        self._disk_due = time.monotonic() + jittered(self.disk_every)
        self._disk_task = asyncio.create_task(self._read_disks(), name=f"disks {self.node}")

    async def _mount_table(self) -> str | None:
        """The node's /proc/self/mountinfo, from the kept shell (or read here for a local node)."""
        if self.transport.is_local:
            try:
                return await asyncio.to_thread(Path("/proc/self/mountinfo").read_text, "utf-8", "replace")
            except OSError:
                return None
        if not self._streaming:
            return None
        self._requests += 1
        request = f"m{self._requests}"
        try:
            _, lines = await self._exchange(request, "", MOUNT_MARK, MAX_MOUNT_LINES)
        except (TransportError, TimeoutError):
            return None
        return "\n".join(line.removeprefix(f"{request}|") for line in lines)

    async def _read_disks(self) -> None:
        """statfs of the disk paths that sit on a local filesystem by the node's own mount table."""
        local, refused = local_only(self.disk_paths, await self._mount_table())
        if not local:
            read: tuple[DiskUse, ...] = ()
        elif self.transport.is_local:
            read = await asyncio.to_thread(local_disks, local)
        else:
            read = await collect_disks(self.transport, local, timeout=self.timeout)
        found = {disk.path: disk for disk in read}
        self._disks = tuple(refused.get(path) or found[path] for path in self.disk_paths)
        self._disks_at = datetime.now(UTC)
        self.disk_reads += 1

    async def close(self) -> None:
        task, self._disk_task = self._disk_task, None
        await cancel_and_wait(task)
        await self._drop()
