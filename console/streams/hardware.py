"""The hardware section's stream: one read per connection, again every REREAD_S, never per refresh.

Hardware does not change while a node is up and a reboot is a new connection, so a warm poll answers from
the last read with no I/O. A new connection (the transport's `connected_at` moved) or a read older than
REREAD_S starts one background re-read; the poll keeps answering with the value in hand meanwhile. Only
the first read of a node is awaited by a poll. The stream needs no long-lived remote process: it runs the
section's one command through `transport.run`, so it serves local nodes too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime

from console.collectors.hardware import collect_hardware
from console.model.hardware import HardwareSnapshot
from console.model.inventory import Node
from console.sections.stream import Poll
from console.tasks import cancel_and_wait
from console.transport.base import Transport

REREAD_S = 600.0
RETRY_S = 30.0  # after a failed read (the command timed out, the channel broke)


class HardwareStream:
    def __init__(self, transport: Transport, node: Node, *, reread_s: float = REREAD_S) -> None:
        self.transport, self.node, self.reread_s = transport, node, reread_s
        self.value: HardwareSnapshot | None = None
        self.reads = 0
        self._read_at = 0.0
        self._connection: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    def _connected_at(self) -> datetime | None:
        return getattr(self.transport, "connected_at", None)

    def _stale(self) -> bool:
        if self.value is None:
            return True
        if self.value.error is not None:
            return time.monotonic() - self._read_at >= RETRY_S
        moved = self._connection is not None and self._connected_at() not in (None, self._connection)
        return moved or time.monotonic() - self._read_at >= self.reread_s

    def latest(self, poll: Poll) -> HardwareSnapshot | None:
        if self.value is None:
            return None
        if self._stale() and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._reread(), name=f"hardware {self.node.name}")
        return self.value

    async def _reread(self) -> None:
        with contextlib.suppress(Exception):  # never raises for node trouble; this is belt and braces
            await self._read(self.node.ssh.command_timeout)

    async def _read(self, timeout: float) -> HardwareSnapshot:
        connection = self._connected_at()
        value = await collect_hardware(self.transport, self.node.name, timeout=timeout)
        self.reads += 1
        if value.error is None or self.value is None or self.value.error is not None:
            self.value = value  # a failed re-read keeps the good reading (hardware does not change)
        self._read_at, self._connection = time.monotonic(), connection
        return self.value

    async def read(self, poll: Poll) -> HardwareSnapshot:
        return await self._read(min(poll.wait, self.node.ssh.command_timeout))

    def kick(self) -> None:
        pass

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
