"""The one interface every node is reached through: run a command, open a stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


class TransportError(Exception):
    """A node could not be reached or a command could not be run; the message is for people."""


class ConnectError(TransportError):
    """The connection to the node could not be made (refused, timed out, auth failed)."""


class HostKeyError(ConnectError):
    """The node's host key is unknown or does not match known_hosts: we refuse to talk to it."""


class CommandTimeout(TransportError):
    """A command ran past our own deadline; its channel or process was closed."""


class OutputTooLarge(TransportError):
    """A command printed more than we keep (a stream: a longer line); reading stopped, the channel closed."""


@dataclass(frozen=True, slots=True)
class CommandResult:
    command: str
    exit_status: int
    stdout: str
    stderr: str
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


class ByteReader(Protocol):
    async def read(self, n: int = -1) -> bytes: ...


class ByteWriter(Protocol):
    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class Transport(Protocol):
    """How the core talks to one node. Implementations: SSHTransport, LocalTransport."""

    @property
    def node_name(self) -> str: ...

    @property
    def is_local(self) -> bool: ...

    @property
    def connect_seconds(self) -> float | None:
        """How long the last real handshake took (TCP, key exchange, auth); None before one, and for local."""
        ...

    @property
    def connected_at(self) -> datetime | None:
        """When the current connection was made (UTC, aware); None while not connected, and for local."""
        ...

    async def connect(self, *, force: bool = False) -> None:
        """Make sure a connection exists; raise ConnectError (or HostKeyError). `force` skips the backoff."""

    async def run(self, command: str, *, timeout: float | None = None) -> CommandResult:
        """Run a shell command; never waits past `timeout` (CommandTimeout)."""
        ...

    async def open_unix_socket(self, path: str) -> tuple[ByteReader, ByteWriter]:
        """A byte stream to a unix socket on the node (the Docker socket, say)."""
        ...

    async def open_tcp(self, host: str, port: int) -> tuple[ByteReader, ByteWriter]:
        """A byte stream to host:port as seen from the node (direct-tcpip over SSH)."""
        ...

    async def forward_unix_socket(self, remote_path: str) -> str:
        """A unix socket path on this machine that reaches `remote_path` on the node (Docker's socket)."""
        ...

    async def forward_tcp(self, host: str, port: int) -> int:
        """A port on 127.0.0.1 here that reaches host:port as seen from the node (a tunnel)."""
        ...

    async def close(self) -> None: ...


class LineStream(Protocol):
    """A long-lived process on the node (`StreamingTransport.open_stream`), holding one session channel.

    Lines come without their newline; `readline()` returns None once the process's output ended (then
    `exit_status` / `exit_signal` say how it ended, when the node told us). `close()` ends the process
    (a signal, then closing the channel) and gives the channel back; closing is idempotent.
    """

    @property
    def command(self) -> str: ...

    @property
    def exit_status(self) -> int | None: ...

    @property
    def exit_signal(self) -> str | None: ...

    @property
    def error(self) -> str | None:
        """Why reading stopped when it was not a plain end of output (a lost connection)."""

    async def readline(self) -> str | None: ...

    def write(self, text: str) -> None:
        """Send text to the process's stdin (request/response streams)."""

    async def close(self) -> None: ...


@runtime_checkable
class StreamingTransport(Transport, Protocol):
    """A transport that can keep processes running on the node and read their output as it comes.

    SSHTransport implements it. Consumers fall back to `run()` where a transport does not (LocalTransport,
    a wrapper without `open_stream`): `isinstance(transport, StreamingTransport)`.
    """

    async def open_stream(self, command: str, *, timeout: float | None = None) -> LineStream:
        """Start `command` on the node and keep it; waits at most `timeout` for a channel (CommandTimeout)."""
        ...

    def stream(self, command: str, *, timeout: float | None = None) -> AsyncIterator[str]:
        """The lines `command` prints, as they come; closing or cancelling the iteration ends it."""
        ...
