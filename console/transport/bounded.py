"""Bounded reads of what a node prints: a command keeps at most 4 MiB, a stream's line at most 64 KiB.

A node may print without end (400 MB of compute-apps, a binary dumped to stdout). Past the cap reading stops,
the caller closes the channel or kills the process, and the result is `OutputTooLarge`, never a console that
grows by gigabytes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Protocol

from console.transport.base import OutputTooLarge

MAX_OUTPUT_BYTES = 4 * 1024 * 1024  # one command's stdout and stderr together
MAX_LINE_BYTES = 64 * 1024  # one line of a long-lived stream
READ_CHUNK = 64 * 1024


class _Reader(Protocol):
    async def read(self, n: int = -1) -> bytes: ...


def size_text(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit // 1024} KiB"


def too_large(node: str, command: str, limit: int = MAX_OUTPUT_BYTES) -> OutputTooLarge:
    first = " ".join(command.split())[:80]
    return OutputTooLarge(
        f"{node}: output too large (>{size_text(limit)}) from {first!r}; stopped reading it"
    )


class _Over(Exception):
    pass


async def read_capped(readers: Sequence[_Reader], limit: int = MAX_OUTPUT_BYTES) -> list[bytes] | None:
    """Each reader to its end, concurrently; None as soon as together they passed `limit` bytes.

    Past the limit the other reads are cancelled and nothing more is kept: the caller closes the source.
    A read that fails (the channel broke) raises its error.
    """
    parts: list[list[bytes]] = [[] for _ in readers]
    total = 0

    async def drain(reader: _Reader, into: list[bytes]) -> None:
        nonlocal total
        while chunk := await reader.read(READ_CHUNK):
            total += len(chunk)
            if total > limit:
                raise _Over
            into.append(chunk)

    pending = {
        asyncio.ensure_future(drain(reader, into)) for reader, into in zip(readers, parts, strict=True)
    }
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            errors = [error for task in done if (error := task.exception()) is not None]  # all retrieved
            if any(isinstance(error, _Over) for error in errors):
                return None
            if errors:
                raise errors[0]
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
    return [b"".join(chunks) for chunks in parts]


class LineSplitter:
    """Bytes in, lines out (without the newline); a line longer than `limit` stops it (`overflowed`)."""

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self.limit = limit
        self._lines: deque[bytes] = deque()
        self._partial = b""
        self.overflowed = False

    def feed(self, chunk: bytes) -> None:
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        if len(self._partial) > self.limit or any(len(line) > self.limit for line in lines):
            self.overflowed = True
            self._lines.clear()
            self._partial = b""
            return
        self._lines.extend(lines)

    def next_line(self) -> bytes | None:
        return self._lines.popleft() if self._lines else None

    def rest(self) -> bytes | None:
        """At the end of output: the last line when it had no newline."""
        rest, self._partial = self._partial, b""
        return rest or None
