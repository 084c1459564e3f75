"""Connections at fleet scale: the per-connection channel budget, bounded connects, jittered schedules.

sshd refuses a session channel (a command, a shell, a stream) beyond `MaxSessions` per connection (10 by
default) with a bare "open failed". `ChannelBudget` keeps one connection's session channels under that
limit and queues the rest in arrival order: long-lived streams hold a slot for as long as they run, short
commands share the slots left, and `command_reserve` slots are never given to streams, so commands always
get through. Only session channels count: sshd does not limit direct-tcpip or direct-streamlocal channels
(port forwards, the Docker socket) by MaxSessions, so those are not budgeted.

`connect_slot()` bounds how many SSH handshakes run at once in the process (a 300-node cold start does not
start 300 key exchanges together); waiting for a slot never counts against the node's connect_timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator

DEFAULT_MAX_SESSIONS = 10  # OpenSSH's MaxSessions default
COMMAND_RESERVE = 2  # slots streams never take
CONNECT_CONCURRENCY = 64


class ChannelSlot:
    """One granted slot; `release()` gives it back (idempotent)."""

    __slots__ = ("_budget", "_released", "stream")

    def __init__(self, budget: ChannelBudget, stream: bool) -> None:
        self._budget = budget
        self.stream = stream
        self._released = False

    @property
    def released(self) -> bool:
        return self._released

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._budget._give_back(self.stream)


class ChannelBudget:
    """Session channels of one SSH connection: at most `limit` at once, streams at most limit - reserve."""

    def __init__(self, limit: int = DEFAULT_MAX_SESSIONS, *, command_reserve: int = COMMAND_RESERVE) -> None:
        if limit < 1:
            raise ValueError("a connection needs at least one session channel")
        self.limit = limit
        self.stream_limit = max(0, limit - command_reserve)
        self.in_use = 0
        self.streams = 0
        self.peak = 0  # the most slots ever in use at once (tests and benchmarks read it)
        self.queued_total = 0  # how many acquisitions had to wait
        self.last_release = -math.inf  # monotonic time of the latest release
        self._waiters: deque[tuple[asyncio.Future[ChannelSlot], bool]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for future, _ in self._waiters if not future.done())

    def _fits(self, stream: bool) -> bool:
        if self.in_use >= self.limit:
            return False
        return not stream or self.streams < self.stream_limit

    def _grant(self, stream: bool) -> ChannelSlot:
        self.in_use += 1
        self.streams += stream
        self.peak = max(self.peak, self.in_use)
        return ChannelSlot(self, stream)

    def try_acquire(self, *, stream: bool = False) -> ChannelSlot | None:
        """A slot now when one is free and nobody waits before us (no suspension), else None."""
        if stream and self.stream_limit == 0:
            raise ValueError(f"no session channel left for streams (limit {self.limit})")
        if not self.waiting and self._fits(stream):
            return self._grant(stream)
        return None

    async def acquire(self, *, stream: bool = False) -> ChannelSlot:
        """A slot now when one is free and nobody waits before us; else wait for our turn.

        Cancelling the wait (a caller's deadline) leaves the queue as if we had never asked.
        """
        slot = self.try_acquire(stream=stream)
        if slot is not None:
            return slot
        future: asyncio.Future[ChannelSlot] = asyncio.get_running_loop().create_future()
        self._waiters.append((future, stream))
        self.queued_total += 1
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                future.result().release()  # granted as we were cancelled: pass it on
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove((future, stream))

    def _give_back(self, stream: bool) -> None:
        self.last_release = time.monotonic()
        self.in_use -= 1
        self.streams -= stream
        self._wake()

    def _wake(self) -> None:
        """Grant waiters in arrival order; a stream held back by its own limit lets commands behind pass."""
        for future, stream in list(self._waiters):
            if future.done():
                continue
            if self.in_use >= self.limit:
                return
            if self._fits(stream):
                future.set_result(self._grant(stream))


_CONNECT_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def set_connect_concurrency(limit: int) -> None:
    """How many SSH handshakes may run at once in this process (applies to loops started afterwards)."""
    global CONNECT_CONCURRENCY
    CONNECT_CONCURRENCY = max(1, limit)
    _CONNECT_GATES.clear()


@contextlib.asynccontextmanager
async def connect_slot() -> AsyncIterator[None]:
    """Hold one of the process's handshake slots (one gate per event loop)."""
    loop = asyncio.get_running_loop()
    gate = _CONNECT_GATES.get(loop)
    if gate is None:
        gate = _CONNECT_GATES[loop] = asyncio.Semaphore(CONNECT_CONCURRENCY)
    async with gate:
        yield


def jittered(interval: float, spread: float = 0.1) -> float:
    """interval ± spread (a fraction), so that 300 nodes' timers drift apart instead of firing together."""
    return max(0.0, interval * random.uniform(1.0 - spread, 1.0 + spread))


def backoff(failures: int, *, first: float = 1.0, cap: float = 60.0) -> float:
    """Exponential backoff after `failures` consecutive failures (1 → first), jittered, at most cap."""
    if failures <= 0:
        return 0.0
    return jittered(min(cap, first * 2 ** (failures - 1)), 0.2)
