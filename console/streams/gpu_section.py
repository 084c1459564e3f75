"""The GPU section's stream: the nvidia-smi sample stream, with the GPU processes read in the background.

A poll reads the stream's latest sample in place (no I/O once it answered). Who holds GPU memory is one
command (`APPS_COMMAND`) every `processes_every` seconds (jittered), started by a warm poll and never
awaited by one: the sample carries the latest process list read. Each process's SM and memory-bandwidth
share comes from one long-lived `nvidia-smi pmon` (console/streams/pmon.py); a process pmon sees that the
list lacks makes the list due again (at most every APPS_AFTER_NEW_S), so its container shows soon.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time

from console.collectors.gpu_processes import APPS_MARK, GpuProcess, apps_script, parse_apps_output
from console.model.gpu import GpuSnapshot
from console.model.inventory import Node
from console.pods import own_processes
from console.sections.stream import Poll
from console.streams.gpu_stream import GpuStream
from console.streams.pmon import PmonStream, merge_processes
from console.tasks import cancel_and_wait
from console.transport.base import StreamingTransport, Transport, TransportError
from console.transport.pool import jittered

APPS_COMMAND = apps_script()
APPS_AFTER_NEW_S = 5.0


class GpuSectionStream:
    """One node's GPU section: `stream` (nvidia-smi -lms) plus its process list."""

    def __init__(
        self, stream: GpuStream, transport: Transport, node: Node, *, processes_every: float | None
    ) -> None:
        self.stream = stream
        self.transport = transport
        self.node = node
        self.processes_every = processes_every
        self.processes: tuple[GpuProcess, ...] = ()
        self.process_reads = 0
        self._processes_due = 0.0
        self._processes_started = 0.0
        self._processes_read_at = 0.0  # when the list last came in (monotonic)
        self._unlisted: frozenset[int] = frozenset()
        self._processes_task: asyncio.Task[None] | None = None
        self.pmon: PmonStream | None = None
        if processes_every is not None and isinstance(transport, StreamingTransport):
            self.pmon = PmonStream(transport, interval=stream.interval, open_timeout=node.ssh.command_timeout)

    def latest(self, poll: Poll) -> GpuSnapshot | None:
        snapshot = self.stream.snapshot() if self.stream.answered else None
        return None if snapshot is None else self.with_processes(snapshot, due=poll.warm)

    async def read(self, poll: Poll) -> GpuSnapshot:
        return self.with_processes(await self.stream.first(poll.wait), due=poll.warm)

    def kick(self) -> None:
        self.stream.kick()

    def with_processes(self, gpu: GpuSnapshot, *, due: bool = True) -> GpuSnapshot:
        """The stream's sample with the latest process list; starts a background read when one is due."""
        if self.processes_every is None or gpu.status != "ok":
            return gpu
        processes = self.processes
        if self.pmon is not None:
            self.pmon.follow([reading.index for reading in gpu.gpus])
            sample = self.pmon.sample()
            processes, unlisted = merge_processes(processes, gpu, sample)
            fresh, self._unlisted = unlisted - self._unlisted, unlisted
            if fresh and sample is not None and 0 < self._processes_read_at < sample.at:  # the list is behind
                self._processes_due = min(self._processes_due, self._processes_started + APPS_AFTER_NEW_S)
        running = self._processes_task is not None and not self._processes_task.done()
        if due and not running and time.monotonic() >= self._processes_due:
            self._processes_started = time.monotonic()
            self._processes_due = self._processes_started + jittered(self.processes_every)
            self._processes_task = asyncio.create_task(
                self._read_processes(), name=f"gpu-apps {self.node.name}"
            )
        return dataclasses.replace(gpu, processes=processes) if processes else gpu

    async def _read_processes(self) -> None:
        with contextlib.suppress(TransportError):
            result = await self.transport.run(APPS_COMMAND, timeout=self.node.ssh.command_timeout)
            if result.ok:
                self.processes = own_processes(
                    self.node, parse_apps_output(result.stdout.partition(APPS_MARK)[2])
                )
                self.process_reads += 1
                self._processes_read_at = time.monotonic()

    async def close(self) -> None:
        task, self._processes_task = self._processes_task, None
        await cancel_and_wait(task)
        if self.pmon is not None:
            await self.pmon.close()
        await self.stream.close()
