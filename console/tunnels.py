"""SSH tunnels to services bound to a node's localhost: open, list, fetch through. Textual-free.

A service published on 127.0.0.1 only (every port of the AI stack) answers `curl` on the node but not a
browser on the workstation: that is by design. A tunnel forwards a port on this machine's 127.0.0.1 through
the node's one SSH connection (`Transport.forward_tcp`, direct-tcpip) to 127.0.0.1:PORT as seen from the
node. Tunnels live as long as the connection (they close with the transport); the registry lists them for
the CLI and the TUI.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime

from console.collectors.services import probe_host
from console.inventory.model import HttpProbe, ServiceSpec
from console.transport.base import Transport


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


class TunnelRegistry:
    """The tunnels this console opened, keyed by (node, service); opening one twice returns the first."""

    def __init__(self) -> None:
        self._tunnels: dict[tuple[str, str], Tunnel] = {}

    async def open(self, transport: Transport, service: ServiceSpec) -> Tunnel:
        """Forward a local port to the service's port on the node (raises TransportError when it cannot)."""
        host = probe_host(service)
        local = await transport.forward_tcp(host, service.port)
        key = (transport.node_name, service.name)
        known = self._tunnels.get(key)
        if known is not None and known.local_port == local:
            return known
        http = service.http or HttpProbe()
        tunnel = Tunnel(
            transport.node_name,
            service.name,
            host,
            service.port,
            local,
            http.scheme,
            http.path,
            datetime.now(UTC),
        )
        self._tunnels[key] = tunnel
        return tunnel

    def get(self, node: str, service: str) -> Tunnel | None:
        return self._tunnels.get((node, service))

    def list(self) -> tuple[Tunnel, ...]:
        return tuple(sorted(self._tunnels.values(), key=lambda tunnel: (tunnel.node, tunnel.service)))

    def forget(self, node: str) -> None:
        """The node's transport closed: its tunnels are gone."""
        for key in [key for key in self._tunnels if key[0] == node]:
            del self._tunnels[key]


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
            line = await reader.readline()
    except (OSError, TimeoutError):
        return None
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    parts = line.decode("latin-1").split()
    return int(parts[1]) if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit() else None


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
