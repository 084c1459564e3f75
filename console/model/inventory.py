"""The inventory's typed, frozen models, with the AI stack's settings that a node's `ai_stack` section holds.

Later sections slot in as new fields. AiStackSettings is a frozen dataclass of plain fields with the
procedure's defaults, so the loader reads it as an optional section (`ai_stack:` on defaults, a group or a
node) the way it reads every other one; the wizards fill in what the rest of the node's inventory says
(`console.wizards.settings.stack_settings`).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Literal

from console.model.slurm import SlurmSettings as SlurmSettings
from console.model.tunnels import TunnelSpec

COMPOSE_FILE = "docker-compose.yml"
CONTAINERS = ("comfy", "ollama", "openwebui")  # container (and compose service) names
# What the images listen on inside their containers: facts of the images, not settings.
DEFAULT_PORTS = {"comfy": 8188, "ollama": 11434, "openwebui": 3000}  # the procedure's host ports
COMFY_CONTAINER_PORT = 8188
OLLAMA_CONTAINER_PORT = 11434
OPENWEBUI_CONTAINER_PORT = 8080


@dataclass(frozen=True, slots=True)
class AiStackSettings:
    nvme_root: str = "/mnt/local/nvme/ai"  # local, non-authoritative: cache, models, services
    ssd_root: str = "/mnt/local/ssd/ai"  # outputs and projects
    project_dir: str = "/opt/ai-stack"  # where docker-compose.yml lives; its name is the compose project
    comfy_image: str = "mmartial/comfyui-nvidia-docker:latest"
    ollama_image: str = "ollama/ollama:latest"
    openwebui_image: str = "ghcr.io/open-webui/open-webui:main"
    # Host ports, all published on 127.0.0.1 only. None: the node's `services` entry for the container, else
    # the procedure's default (DEFAULT_PORTS); `stack_settings(node)` fills them in.
    comfy_port: int | None = None
    ollama_port: int | None = None
    openwebui_port: int | None = None
    comfy_uid: int = 1024  # the ComfyUI image refuses to start unless it runs as, and /comfy/mnt is, this
    comfy_gid: int = 1024
    comfy_mode: str = "775"
    # The NVIDIA driver branch (or version prefix) the node must run; None: the inventory's `gpus.driver`
    # pin, and when nothing is pinned any driver that sees the GPUs will do.
    driver_major: str | None = None
    gpu_access: bool = True  # reserve the node's GPUs for comfy and ollama in compose
    first_run_timeout: float = 1800.0  # ComfyUI's first start (clone, venv, wheels): 10-20 min
    poll_interval: float = 5.0  # how often the first-run wait looks at logs and HTTP

    # --- derived paths ---------------------------------------------------------------------------------

    @property
    def comfy_mnt(self) -> str:
        return posixpath.join(self.nvme_root, "services", "comfy-mnt")

    @property
    def models_dir(self) -> str:
        return posixpath.join(self.nvme_root, "models")

    @property
    def ollama_dir(self) -> str:
        return posixpath.join(self.nvme_root, "services", "ollama")

    @property
    def cache_dir(self) -> str:
        return posixpath.join(self.nvme_root, "cache")

    @property
    def outputs_dir(self) -> str:
        return posixpath.join(self.ssd_root, "outputs", "comfy")

    @property
    def openwebui_dir(self) -> str:
        return posixpath.join(self.ssd_root, "projects", "openwebui")

    @property
    def directories(self) -> tuple[str, ...]:
        """The storage layout, in the procedure's order."""
        return (
            self.cache_dir,
            self.models_dir,
            self.comfy_mnt,
            self.ollama_dir,
            self.outputs_dir,
            self.openwebui_dir,
        )

    @property
    def compose_path(self) -> str:
        return posixpath.join(self.project_dir, COMPOSE_FILE)

    @property
    def project_name(self) -> str:
        """Compose's project name for project_dir (its rule: lowercase letters, digits, '-' and '_')."""
        name = re.sub(r"[^a-z0-9_-]", "", posixpath.basename(self.project_dir.rstrip("/")).lower())
        return name or "ai-stack"

    @property
    def owner(self) -> str:
        return f"{self.comfy_uid}:{self.comfy_gid}"

    def host_port(self, container: str) -> int:
        """The port on the node's 127.0.0.1 where a container of the stack is published."""
        port = {"comfy": self.comfy_port, "ollama": self.ollama_port, "openwebui": self.openwebui_port}[
            container
        ]
        return DEFAULT_PORTS[container] if port is None else port


HostKeyPolicy = Literal["strict", "accept-new"]
TransportKind = Literal["ssh", "local"]
NodeKind = Literal["host", "pod"]  # pod: a container reached over SSH (console/pods.py)
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
    exporter_port: int | None = None  # source prometheus: the node's exporter port (None: 9400), tunnelled


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
class MonitoringSettings:
    """The monitoring stack beside the fleet's Prometheus (`monitoring:`): its own health is checked."""

    grafana: str | None = None  # Grafana's base URL: its /api/health
    alertmanager: str | None = None  # Alertmanager's base URL: its /-/healthy
    timeout: float = 10.0


FleetSourceKind = Literal["ssh", "prometheus"]


DISCOVERED_GROUP = "prometheus"  # the group nodes found in Prometheus's series are listed under


@dataclass(frozen=True, slots=True)
class FleetSettings:
    """Where the fleet's nodes come from (`fleet:`): the inventory's `nodes` over SSH, or also every node
    the Prometheus series name (`source: prometheus`), merged with `nodes` (the inventory's settings win)."""

    source: FleetSourceKind = "ssh"
    node_label: str = "instance"  # a series' node is this label's value without any :port
    rate_window: str = "1m"  # the PromQL range for rates (CPU, network): four scrape intervals or more


@dataclass(frozen=True, slots=True)
class Threshold:
    warn: float
    crit: float


@dataclass(frozen=True, slots=True)
class Thresholds:
    gpu_temperature: Threshold = field(default_factory=lambda: Threshold(warn=85.0, crit=95.0))
    container_restarts: Threshold = field(default_factory=lambda: Threshold(warn=1.0, crit=5.0))
    slurm_pending_minutes: float = 30.0  # a job pending longer, not for Priority/Resources: slurm.queue


SnmpAuthProtocol = Literal["md5", "sha", "sha224", "sha256", "sha384", "sha512"]
SnmpPrivProtocol = Literal["des", "aes", "aes192", "aes256"]


@dataclass(frozen=True, slots=True)
class SnmpV3:
    """SNMPv3 credentials of a PDU; keys only by environment variable or file, never in the inventory."""

    user: str
    auth_protocol: SnmpAuthProtocol = "sha"
    auth_key_env: str | None = None
    auth_key_file: str | None = None
    priv_protocol: SnmpPrivProtocol | None = None
    priv_key_env: str | None = None
    priv_key_file: str | None = None
    context: str = ""  # the SNMPv3 context name, where the agent wants one
    # Never set: the loader refuses a key written here in clear and names the *_env / *_file keys.
    auth_key: str | None = None
    priv_key: str | None = None


@dataclass(frozen=True, slots=True)
class PduSpec:
    """A PDU read by SNMP from the workstation (`pdus: {NAME: {...}}`); `profile` names its OIDs."""

    name: str
    host: str
    port: int = 161
    community: str | None = None  # SNMPv1/v2c; a read-only community, as the interface writes it
    community_env: str | None = None
    community_file: str | None = None
    snmpv3: SnmpV3 | None = None
    profile: str = "apc-rpdu2"
    timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class RackSpec:
    """A rack (`racks: {NAME: {...}}`): the PDUs that feed it and its power budget."""

    name: str
    pdus: tuple[str, ...] = ()
    budget_w: float | None = None
    warn_pct: float = 80.0
    crit_pct: float = 95.0


@dataclass(frozen=True, slots=True)
class BmcSettings:
    """A node's BMC: Redfish from the workstation, or `ipmi: dcmi` run on the node over SSH."""

    redfish: str | None = None  # the BMC's base URL, e.g. https://10.0.99.51
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    verify_tls: bool = True
    chassis: str | None = None  # read only this chassis id (a shared enclosure's BMC); None: every one
    ipmi: Literal["dcmi"] | None = None
    timeout: float = 10.0
    password: str | None = None  # never set: the loader refuses it in clear (password_env, password_file)


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
    rack: str | None = None  # the inventory's `racks:` entry this node sits in
    bmc: BmcSettings | None = None  # None: the node's BMC power is not read
    slurm: SlurmSettings | None = None  # the Slurm cluster this node is in, read through `via`
    slurm_name: str | None = None  # the node's name in Slurm when it is not the inventory name
    kind: NodeKind | None = None  # None: told from the node itself where it matters (console/pods.py)
    # Plug-in sections' settings (key, value), keys that are not fields here (console/inventory/settings.py).
    plugins: tuple[tuple[str, object], ...] = ()

    def settings(self, key: str) -> object | None:
        """A section's settings on this node (None: not set): a plug-in's entry, or the built-in field."""
        for name, value in self.plugins:
            if name == key:
                return value
        return getattr(self, key, None)


@dataclass(frozen=True, slots=True)
class Inventory:
    name: str
    path: str  # where it was read from, for messages
    nodes: tuple[Node, ...]
    prometheus: PrometheusSettings | None = None
    pdus: tuple[PduSpec, ...] = ()
    racks: tuple[RackSpec, ...] = ()
    fleet: FleetSettings = field(default_factory=FleetSettings)
    monitoring: MonitoringSettings | None = None  # None: Grafana and Alertmanager are not checked
    tunnels: tuple[TunnelSpec, ...] = ()  # `tunnels:`; planned_tunnels (model.tunnels) adds the implied
    # With `fleet: {source: prometheus}`: what `defaults` and the group DISCOVERED_GROUP give a node found in
    # the series (its thresholds, expected GPUs, power budget); its name and host are the series' name.
    discovered_node: Node | None = None
    # Plug-in top-level keys (key, value) that are not fields here (console/inventory/toplevel.py).
    plugins: tuple[tuple[str, object], ...] = ()

    def settings(self, key: str) -> object | None:
        """A top-level key's value (None: not set): a plug-in's entry, or the built-in field."""
        for name, value in self.plugins:
            if name == key:
                return value
        return getattr(self, key, None)

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
