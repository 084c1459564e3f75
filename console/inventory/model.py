"""Typed, frozen inventory models.

Later sections (docker, mounts, services, prometheus) slot in as new fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

HostKeyPolicy = Literal["strict", "accept-new"]
TransportKind = Literal["ssh", "local"]


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


@dataclass(frozen=True, slots=True)
class Threshold:
    warn: float
    crit: float


@dataclass(frozen=True, slots=True)
class Thresholds:
    gpu_temperature: Threshold = field(default_factory=lambda: Threshold(warn=85.0, crit=95.0))


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


@dataclass(frozen=True, slots=True)
class Inventory:
    name: str
    path: str  # where it was read from, for messages
    nodes: tuple[Node, ...]

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
