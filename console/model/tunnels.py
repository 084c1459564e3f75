"""Managed SSH tunnels: what the inventory asks for (`TunnelSpec`) and how one stands (`TunnelView`).

A tunnel listens on this machine's 127.0.0.1 and carries each connection through the node's SSH connection
to HOST:PORT as seen from the node. The inventory's `tunnels:` entries are tunnels of their own; a node's
`services` and its `gpus: {source: prometheus}` exporter imply more (`planned_tunnels`). Standard library
only: the CLI, the service and the TUI screen all speak these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # the inventory holds TunnelSpecs: typing only, no import cycle
    from console.model.inventory import Inventory, Node

TunnelOrigin = Literal["tunnels", "services", "gpus"]
TunnelState = Literal["up", "connecting", "down", "closed"]
DCGM_EXPORTER_PORT = 9400  # dcgm-exporter's default, for `gpus: {source: prometheus}` without exporter_port


@dataclass(frozen=True, slots=True)
class TunnelSpec:
    name: str  # `tunnels:` key, or NODE/SERVICE and NODE/dcgm for the implied ones
    node: str
    remote_host: str  # as seen from the node
    remote_port: int
    local_port: int | None = None  # on 127.0.0.1 here; None: a free port when it opens
    labels: tuple[tuple[str, str], ...] = ()  # added to its file_sd target
    scrape: bool = True  # listed in the Prometheus file_sd file
    origin: TunnelOrigin = "tunnels"

    @property
    def remote(self) -> str:
        host = f"[{self.remote_host}]" if ":" in self.remote_host else self.remote_host
        return f"{host}:{self.remote_port}"


@dataclass(frozen=True, slots=True)
class TunnelView:
    """One tunnel now: its spec, the local port it holds (None: none bound), state and traffic."""

    spec: TunnelSpec
    state: TunnelState
    since: datetime  # when it entered this state (UTC, aware)
    local_port: int | None = None
    last_error: str | None = None  # already cleaned (one line)
    bytes_in: int = 0  # node -> here
    bytes_out: int = 0  # here -> node
    connections: int = 0  # carried now

    @property
    def local_address(self) -> str | None:
        return None if self.local_port is None else f"127.0.0.1:{self.local_port}"


def exporter_port(node: Node) -> int | None:
    """The node's GPU exporter port when its GPUs are read from Prometheus (None: no exporter tunnel)."""
    gpus = node.gpus
    if gpus is None or gpus.source != "prometheus":
        return None
    return gpus.exporter_port if gpus.exporter_port is not None else DCGM_EXPORTER_PORT


def _service_host(bind: str | None) -> str:
    # A service bound to one address answers there; bound to all (or not audited) it answers on loopback.
    if bind in (None, "", "0.0.0.0", "::", "*"):
        return "127.0.0.1"
    return "127.0.0.1" if bind == "localhost" else str(bind)


def implied_tunnels(node: Node) -> tuple[TunnelSpec, ...]:
    """The node's own tunnels: its GPU exporter (scraped) and each service (not scraped: most are not
    metrics endpoints). A local node needs none: everything on it is reachable here already."""
    if node.transport != "ssh":
        return ()
    out: list[TunnelSpec] = []
    port = exporter_port(node)
    if port is not None:
        out.append(TunnelSpec(f"{node.name}/dcgm", node.name, "127.0.0.1", port, origin="gpus"))
    for service in node.services:
        host = _service_host(service.bind)
        name = f"{node.name}/{service.name}"
        out.append(TunnelSpec(name, node.name, host, service.port, scrape=False, origin="services"))
    return tuple(out)


def planned_tunnels(inventory: Inventory) -> tuple[TunnelSpec, ...]:
    """Every tunnel the inventory asks for: the `tunnels:` entries, then the implied ones that no entry
    already covers (an entry for the same node and remote port replaces the implied tunnel: that is how
    one pins the DCGM tunnel's local port or labels)."""
    explicit = inventory.tunnels
    covered = {(spec.node, spec.remote_port) for spec in explicit}
    implied = [
        spec
        for node in inventory.nodes
        for spec in implied_tunnels(node)
        if (spec.node, spec.remote_port) not in covered
    ]
    return (*explicit, *implied)
