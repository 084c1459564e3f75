"""Reads a cluster collector runs on its via node (kubectl, the Slurm clients): each one bounded by the
node's command timeout, several side by side on the node's one connection, and the one-line text a failed
read leaves in the snapshot. Node trouble comes back as a value, never raised."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

from console.text import clean_line
from console.transport.base import CommandResult, Transport, TransportError


class _Taken(Protocol):
    @property
    def taken_at(self) -> datetime: ...


S = TypeVar("S", bound=_Taken)


async def run_read(transport: Transport, command: str, timeout: float) -> CommandResult | TransportError:
    """One read; the transport's error (timeout, lost connection, output past the cap) is its answer."""
    try:
        return await transport.run(command, timeout=timeout)
    except TransportError as exc:
        return exc


async def run_reads(
    transport: Transport, commands: Sequence[str], timeout: float
) -> list[CommandResult | BaseException]:
    """The reads side by side, each within `timeout`, answers in the commands' order: one read's failure
    (whatever it raised) is its answer and the others go on."""
    reads = (run_read(transport, command, timeout) for command in commands)
    return list(await asyncio.gather(*reads, return_exceptions=True))


def read_failure(what: str, result: CommandResult | BaseException, missing: str) -> str:
    """What a failed read says: `what` names the read, `missing` stands for exit 127 (no such tool)."""
    if isinstance(result, TransportError):
        return f"{what}: {clean_line(result, limit=200)}"
    if isinstance(result, BaseException):
        return f"{what}: {type(result).__name__}: {clean_line(result, limit=200)}"
    if result.exit_status == 127:
        return missing
    said = clean_line(" ".join((result.stderr or result.stdout).split()), limit=200)
    return f"{what}: exit {result.exit_status}" + (f": {said}" if said else "")


class LastRead(Generic[S]):
    """The last read of a cluster per via node: polls within the cluster's interval reuse it (the node's
    other sections still refresh at the node's own rate). One console process reads one inventory."""

    def __init__(self) -> None:
        self._last: dict[str, S] = {}

    async def get(self, node: str, interval: float, read: Callable[[], Awaitable[S]]) -> S:
        last = self._last.get(node)
        if last is not None and 0 <= (datetime.now(UTC) - last.taken_at).total_seconds() < interval:
            return last
        snapshot = await read()
        self._last[node] = snapshot
        return snapshot

    def forget(self, node: str) -> None:
        """The next poll of this via node reads the cluster again."""
        self._last.pop(node, None)
