"""Typed, frozen inventory models.

Later sections (docker, mounts, services, prometheus) slot in as new fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from console.wizards.settings import AiStackSettings

HostKeyPolicy = Literal["strict", "accept-new"]
TransportKind = Literal["ssh", "local"]
GpuSourceKind = Literal["nvidia-smi", "prometheus"]
MountMode = Literal["ro", "rw"]
HttpScheme = Literal["http", "https"]


@dataclass(frozen=True, slots=True)
class SSHSettings:
    """How to reach a node over SSH. None means: let ~/.ssh/config (or asyncssh's default) decide."""

    user: str | None = None
    port: int | None = None
    identity_file: str | None = None
    known_hosts: str = "~/.ssh/known_hosts"
    jump: str | None = None  # ProxyJump: "user@host:port" or an inventory node name
    connect_timeout: float = 10.0
    command_timeout: float = 30.0
    keepalive_interval: float = 15.0
    host_key_policy: HostKeyPolicy = "strict"


@dataclass(frozen=True, slots=True)
class GpuExpectation:
    """What GPUs the node should have; unset fields are not checked."""

    count: int | None = None
    model: str | None = None  # substring match against the reported name, case-insensitive
    source: GpuSourceKind = "nvidia-smi"  # prometheus: take the GPU pane from DCGM/simulator series
    driver: str | None = None  # pinned driver version prefix, e.g. "590" or "580.159"


@dataclass(frozen=True, slots=True)
class SshdPolicy:
    """What the node's sshd must allow (checked from `sshd -T`, or its config files when that needs root)."""

    root_login: tuple[str, ...] = ("no", "prohibit-password")  # allowed PermitRootLogin values
    password_auth: bool = False  # whether PasswordAuthentication may be yes
    sudo: bool = False  # may try `sudo -n sshd -T` when plain `sshd -T` needs root (never prompts)


@dataclass(frozen=True, slots=True)
class StorageSpec:
    """A directory of the node's storage layout, with the owner and mode it must have."""

    path: str
    owner: str | None = None  # "uid:gid", numeric, e.g. "1024:1024"
    mode: str | None = None  # octal, e.g. "775"


@dataclass(frozen=True, slots=True)
class DockerSettings:
    """The node's Docker daemon, reached through its unix socket forwarded over SSH (never TCP)."""

    socket: str = "/var/run/docker.sock"
    containers: tuple[str, ...] = ()  # containers that must exist and be running


@dataclass(frozen=True, slots=True)
class MountSpec:
    """A mount the node should have. mode ro marks an authoritative dataset: mounted rw is critical."""

    path: str
    source: str | None = None  # e.g. "atlas:/export/models"
    mode: MountMode | None = None
    fstype: str | None = None  # e.g. nfs4; None accepts any
    timeout: float = 5.0  # seconds the responsiveness probe may take before the mount counts as hung


@dataclass(frozen=True, slots=True)
class HttpProbe:
    path: str = "/"
    expect: int = 200
    scheme: HttpScheme = "http"
    timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A service on the node, probed through the SSH connection so it can stay bound to localhost."""

    name: str
    port: int
    container: str | None = None
    bind: str | None = None  # the address it must listen on, e.g. 127.0.0.1; None: not audited
    http: HttpProbe | None = None


@dataclass(frozen=True, slots=True)
class PrometheusSettings:
    """The fleet's Prometheus; with `via`, reached through an SSH tunnel from that node."""

    url: str
    via: str | None = None
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class Threshold:
    warn: float
    crit: float


@dataclass(frozen=True, slots=True)
class Thresholds:
    gpu_temperature: Threshold = field(default_factory=lambda: Threshold(warn=85.0, crit=95.0))
    container_restarts: Threshold = field(default_factory=lambda: Threshold(warn=1.0, crit=5.0))


@dataclass(frozen=True, slots=True)
class Node:
    """One node, with inventory defaults already merged in."""

    name: str
    host: str
    transport: TransportKind = "ssh"
    groups: tuple[str, ...] = ()
    ssh: SSHSettings = field(default_factory=SSHSettings)
    gpus: GpuExpectation | None = None
    refresh: float = 5.0
    thresholds: Thresholds = field(default_factory=Thresholds)
    docker: DockerSettings | None = None  # None: Docker is not checked on this node
    mounts: tuple[MountSpec, ...] = ()
    services: tuple[ServiceSpec, ...] = ()
    power_budget_w: float | None = None  # the node's GPUs together may draw at most this
    sshd: SshdPolicy | None = None  # None: the node's sshd settings are not checked
    storage: tuple[StorageSpec, ...] = ()
    scratch: tuple[
        str, ...
    ] = ()  # local scratch paths whose disk use is shown (never NFS: statfs could hang)
    ai_stack: AiStackSettings | None = None  # the AI stack bring-up's paths, images and ports (wizards)


@dataclass(frozen=True, slots=True)
class Inventory:
    name: str
    path: str  # where it was read from, for messages
    nodes: tuple[Node, ...]
    prometheus: PrometheusSettings | None = None

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    @property
    def groups(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for node in self.nodes:
            for group in node.groups:
                seen.setdefault(group, None)
        return tuple(seen)
