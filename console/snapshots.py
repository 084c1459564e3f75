"""Snapshot value types shared by the core, the TUI and the checks (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from console.collectors.basics import NodeBasics
from console.collectors.docker_model import DockerSnapshot
from console.collectors.gpu import GpuReading, GpuSnapshot
from console.collectors.mounts import MountsSnapshot
from console.collectors.node_facts import NodeFacts
from console.collectors.services import ServicesSnapshot
from console.wizards.stack_checks import StackSnapshot

__all__ = [
    "DockerSnapshot",
    "GpuReading",
    "GpuSnapshot",
    "MountsSnapshot",
    "NodeBasics",
    "NodeFacts",
    "NodeSnapshot",
    "ServicesSnapshot",
    "StackSnapshot",
]


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """What one poll learned about a node. `error` is set when the node could not be reached."""

    node: str
    taken_at: datetime
    reachable: bool
    error: str | None = None
    gpu: GpuSnapshot | None = None
    connect_s: float | None = None  # the real SSH handshake's duration; None when not known
    services: ServicesSnapshot | None = None
    mounts: MountsSnapshot | None = None
    docker: DockerSnapshot | None = None
    facts: NodeFacts | None = None
    stack: StackSnapshot | None = None
    basics: NodeBasics | None = None  # load, memory, disk, uptime, kernel (filled by the streaming source)
    connected_at: datetime | None = None  # when that handshake happened (age: taken_at - connected_at)
