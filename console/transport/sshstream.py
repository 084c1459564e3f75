"""SSHLineStream: a long-lived process on a node over one session channel, read line by line, bounded."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import asyncssh

from console.text import clean_line
from console.transport.base import TransportError
from console.transport.bounded import MAX_LINE_BYTES, READ_CHUNK, LineSplitter, size_text
from console.transport.pool import ChannelSlot

if TYPE_CHECKING:
    from console.transport.ssh import SSHTransport

EXIT_STATUS_WAIT_S = 2.0
STDERR_TAIL_BYTES = 4 * 1024  # what a stream keeps of its stderr, for error messages


def describe(exc: BaseException) -> str:
    """One line for an SSH failure; the reasons a server (or a jump host) sends are its text: cleaned."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, asyncssh.DisconnectError):
        return f"disconnected: {clean_line(exc.reason, limit=300)}"
    if isinstance(exc, asyncssh.ChannelOpenError):
        return f"channel refused: {clean_line(exc.reason, limit=300)}"
    return clean_line(str(exc) or type(exc).__name__, limit=300)


class SSHLineStream:
    """A long-lived process on the node over one session channel (see base.LineStream).

    Reads bytes and splits lines itself: a line longer than MAX_LINE_BYTES stops the stream (`error` says
    "output too large") and closes the channel, so a node printing without a newline cannot grow us.

    stderr is drained all the time into a small tail (`stderr_tail`): unread, it would fill the channel's
    receive window, and asyncssh would then pause the whole channel, stdout included, for good.
    """

    def __init__(
        self,
        transport: SSHTransport,
        process: asyncssh.SSHClientProcess[bytes],
        slot: ChannelSlot,
        *,
        line_limit: int = MAX_LINE_BYTES,
    ) -> None:
        self._transport = transport
        self._process = process
        self._slot = slot
        self._closed = False
        self._error: str | None = None
        self._lines = LineSplitter(line_limit)
        self._eof = False
        self._stderr_tail = bytearray()
        self._stderr_task: asyncio.Future[None] | None = asyncio.ensure_future(self._drain_stderr())

    async def _drain_stderr(self) -> None:
        # Nobody awaits this task: whatever ends the read (a broken channel) ends it quietly.
        with contextlib.suppress(Exception):
            while chunk := await self._process.stderr.read(READ_CHUNK):
                tail = self._stderr_tail
                tail += chunk
                if len(tail) > STDERR_TAIL_BYTES:
                    del tail[: len(tail) - STDERR_TAIL_BYTES]

    @property
    def stderr_tail(self) -> str:
        """The last few KiB the process wrote to stderr (raw node text: sanitise before showing it)."""
        return self._stderr_tail.decode("utf-8", "replace")

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def too_large(self) -> bool:
        """Reading stopped because a line passed the limit."""
        return self._lines.overflowed

    @property
    def command(self) -> str:
        return str(self._process.command or "")

    @property
    def exit_status(self) -> int | None:
        return self._process.exit_status

    @property
    def exit_signal(self) -> str | None:
        signal = self._process.exit_signal
        return str(signal[0]) if signal else None

    async def readline(self) -> str | None:
        while not self._closed:
            line = self._lines.next_line()
            if line is None and self._eof:
                line = self._lines.rest()
                if line is None:
                    # sshd may send the exit status just after the end of output: wait (briefly) for it.
                    with contextlib.suppress(TimeoutError, OSError, asyncssh.Error):
                        await asyncio.wait_for(self._process.wait_closed(), EXIT_STATUS_WAIT_S)
                    return None
            if line is not None:
                return line.decode("utf-8", "replace")
            try:
                chunk = await self._process.stdout.read(READ_CHUNK)
            except (OSError, asyncssh.Error) as exc:
                self._error = describe(exc)
                return None
            if not chunk:
                self._eof = True
                continue
            self._lines.feed(chunk)
            if self._lines.overflowed:
                self._error = (
                    f"output too large (a line over {size_text(self._lines.limit)}); stopped reading it"
                )
                await self.close()
        return None

    def write(self, text: str) -> None:
        if self._closed:
            raise TransportError(f"{self._transport.node_name}: stream already closed")
        try:
            self._process.stdin.write(text.encode("utf-8"))
        except (OSError, asyncssh.Error) as exc:
            raise TransportError(f"{self._transport.node_name}: {describe(exc)}") from exc

    async def close(self) -> None:
        """TERM the process (sshd passes the signal on), close the channel; never waits on the node."""
        if self._closed:
            return
        self._closed = True
        if self._stderr_task is not None:
            self._stderr_task.cancel()
            self._stderr_task = None
        if self._process.exit_status is None and self._process.exit_signal is None:
            with contextlib.suppress(OSError, asyncssh.Error):
                self._process.terminate()
        self._transport._done_with(self._process, self._slot)
