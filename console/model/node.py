"""What one poll learned about a node: every section's snapshot together (the TUI, the checks and the history
all read it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from console.model.basics import NodeBasics
from console.model.cri import CriSnapshot
from console.model.docker import DockerSnapshot
from console.model.facts import NodeFacts
from console.model.gpu import GpuSnapshot
from console.model.hardware import HardwareSnapshot
from console.model.kubernetes import KubernetesSnapshot
from console.model.mounts import MountsSnapshot
from console.model.power import BmcPower
from console.model.prom_fleet import PromNode
from console.model.services import ServicesSnapshot
from console.model.slurm import SlurmSnapshot
from console.model.stack import StackSnapshot

# A discovered node's snapshot when the Prometheus series no longer name it (its last figures stay in `prom`).
PROM_GONE = "gone from Prometheus's series"


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
    power: BmcPower | None = None  # BMC power (Redfish or IPMI DCMI) where the inventory has `bmc:`
    slurm: SlurmSnapshot | None = None  # the cluster, on the node the inventory's `slurm.via` names
    kubernetes: KubernetesSnapshot | None = None  # the cluster, on the node `kubernetes.via` names
    cri: CriSnapshot | None = None  # a CRI-O node's containers and pods (crictl)
    hardware: HardwareSnapshot | None = None  # CPU, memory, GPUs, NICs, OS: read once per connection
    # A node the inventory does not list, read from the fleet's Prometheus series (no SSH): its aggregates.
    prom: PromNode | None = None
