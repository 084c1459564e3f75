"""SSH tunnels to services bound to a node's localhost: open, list, fetch through. Textual-free.

A service published on 127.0.0.1 only (every port of the AI stack) answers `curl` on the node but not a
browser on the workstation: that is by design. A tunnel listens on a port of this machine's 127.0.0.1 (the
one asked for, or a free one) and carries each connection through the node's one SSH connection
(`Transport.open_tcp`, direct-tcpip) to HOST:PORT as seen from the node. Where the port comes from and that
something answers there is `console.wizards.tunnel_target`'s job; here a connection that cannot be carried
is reported (`on_error`), never dropped in silence. The registry lists tunnels for the CLI and the TUI.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from console.collectors.services import probe_host
from console.inventory.model import HttpProbe, ServiceSpec
from console.transport.base import ByteReader, ByteWriter, Transport, TransportError

OPEN_TIMEOUT_S = 10.0  # one forwarded connection's channel open through SSH
CHUNK = 64 * 1024

OnError = Callable[[str], None]


class TunnelError(Exception):
    """A tunnel could not be opened (the local port is taken, say); the message is for people."""


@dataclass(frozen=True, slots=True)
class Tunnel:
    node: str
    service: str
    remote_host: str  # as seen from the node: 127.0.0.1 (or ::1)
    remote_port: int
    local_port: int  # on 127.0.0.1 here
    scheme: str
    path: str
    opened_at: datetime

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.local_port}{self.path}"

    def describe(self) -> str:
        return f"{self.url} → {self.node}:{self.remote_host}:{self.remote_port} ({self.service})"


@dataclass
class _Forward:
    tunnel: Tunnel
    server: asyncio.Server
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def close(self) -> None:
        self.server.close()
        for task in self.tasks:
            task.cancel()


async def _pipe(reader: ByteReader, writer: ByteWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        write_eof = getattr(writer, "write_eof", None)
        if write_eof is not None:
            with contextlib.suppress(OSError, RuntimeError):
                write_eof()
    except (OSError, TransportError, ConnectionError):
        pass


def _close(writer: ByteWriter) -> None:
    with contextlib.suppress(OSError, RuntimeError):
        writer.close()


class TunnelRegistry:
    """The tunnels this console opened, keyed by (node, service); opening one twice returns the first."""

    def __init__(self) -> None:
        self._forwards: dict[tuple[str, str], _Forward] = {}

    async def open(
        self,
        transport: Transport,
        service: ServiceSpec,
        *,
        local_port: int | None = None,
        remote_host: str | None = None,
        on_error: OnError | None = None,
    ) -> Tunnel:
        """Listen on 127.0.0.1:local_port here (None: a free port) and carry each connection to the
        service's port on the node. Raises TunnelError when the local port cannot be had."""
        key = (transport.node_name, service.name)
        known = self._forwards.get(key)
        if known is not None and local_port in (None, known.tunnel.local_port):
            return known.tunnel
        if known is not None:
            self._drop(key)
        host = remote_host or probe_host(service)
        report = on_error or (lambda message: None)
        forward: _Forward | None = None

        async def carry(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if forward is not None and task is not None:
                forward.tasks.add(task)
            try:
                async with asyncio.timeout(OPEN_TIMEOUT_S):
                    remote_reader, remote_writer = await transport.open_tcp(host, service.port)
            except Exception as exc:  # whatever refused this connection is reported; the tunnel stays
                why = "timed out" if isinstance(exc, TimeoutError) else (str(exc) or type(exc).__name__)
                report(f"a connection to {host}:{service.port} on {transport.node_name} failed: {why}")
                _close(client_writer)
                return
            try:
                await asyncio.gather(_pipe(client_reader, remote_writer), _pipe(remote_reader, client_writer))
            finally:
                _close(remote_writer)
                _close(client_writer)
                if forward is not None and task is not None:
                    forward.tasks.discard(task)

        try:
            server = await asyncio.start_server(carry, "127.0.0.1", local_port or 0)
        except OSError as exc:
            taken = exc.errno == errno.EADDRINUSE
            why = (
                "is in use: pick another with --port" if taken else f"cannot be opened: {exc.strerror or exc}"
            )
            raise TunnelError(f"port {local_port or 0} on 127.0.0.1 {why}") from exc
        bound = int(server.sockets[0].getsockname()[1])
        http = service.http or HttpProbe()
        tunnel = Tunnel(
            transport.node_name,
            service.name,
            host,
            service.port,
            bound,
            http.scheme,
            http.path,
            datetime.now(UTC),
        )
        forward = _Forward(tunnel, server)
        self._forwards[key] = forward
        return tunnel

    def get(self, node: str, service: str) -> Tunnel | None:
        forward = self._forwards.get((node, service))
        return forward.tunnel if forward is not None else None

    def list(self) -> tuple[Tunnel, ...]:
        tunnels = (forward.tunnel for forward in self._forwards.values())
        return tuple(sorted(tunnels, key=lambda tunnel: (tunnel.node, tunnel.service)))

    def _drop(self, key: tuple[str, str]) -> None:
        forward = self._forwards.pop(key, None)
        if forward is not None:
            forward.close()

    def forget(self, node: str) -> None:
        """Close the node's tunnels (its transport is closing, or the operator is done with them)."""
        for key in [key for key in self._forwards if key[0] == node]:
            self._drop(key)

    def close(self) -> None:
        for key in list(self._forwards):
            self._drop(key)


STATUS_LINE_LIMIT = 1024  # bytes read of a service's answer: its status line is far shorter


async def fetch_status(port: int, path: str = "/", *, timeout: float = 5.0) -> int | None:
    """GET path from 127.0.0.1:port here (a tunnel's end); the HTTP status, None when nothing HTTP answers."""
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
            # At most STATUS_LINE_LIMIT bytes: readline() raises ValueError past 64 KiB without a newline.
            head = b""
            while b"\n" not in head and len(head) < STATUS_LINE_LIMIT:
                chunk = await reader.read(STATUS_LINE_LIMIT - len(head))
                if not chunk:
                    break
                head += chunk
    except (OSError, TimeoutError):
        return None
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    parts = head.split(b"\n", 1)[0].decode("latin-1").split()
    # ASCII digits only: str.isdigit() accepts '²', which int() refuses.
    if len(parts) >= 2 and parts[0].startswith("HTTP/") and re.fullmatch("[0-9]{3}", parts[1]):
        return int(parts[1])
    return None


async def reachable_directly(host: str, port: int, *, timeout: float = 3.0) -> bool:
    """Whether this machine (where a browser would run) can open host:port without SSH."""
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
