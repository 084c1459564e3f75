"""The CRI section's settings and snapshot: a CRI-O node's containers and pods, as `crictl` lists them.

Settings: `containers: {runtime: cri-o}` on a node (or `auto`: CRI-O when the node has no Docker socket and
has `crictl`). All text here came from the node and was cleaned where it entered (console.text).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Runtime = Literal["docker", "cri-o", "auto"]


@dataclass(frozen=True, slots=True)
class ContainersSettings:
    """runtime: `cri-o` (read with crictl), `docker` (the Docker section reads it), `auto` (detected).
    sudo: run crictl through `sudo -n` (the CRI-O socket is root's).
    watch: containers that must exist and be running, by name, `pod/name` or `namespace/pod/name`."""

    runtime: Runtime = "auto"
    sudo: bool = False
    watch: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CriPod:
    id: str
    namespace: str
    name: str
    state: str  # ready, notready (SANDBOX_ lower-cased)
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CriContainer:
    id: str  # 64 hex: what a GPU process's cgroup (crio-<id>.scope) names
    name: str
    pod_id: str
    namespace: str | None
    pod: str | None
    state: str  # running, exited, created, unknown (CONTAINER_ lower-cased)
    image: str
    restarts: int | None = None  # the io.kubernetes.container.restartCount annotation
    created_at: datetime | None = None
    attempt: int | None = None


@dataclass(frozen=True, slots=True)
class CriSnapshot:
    node: str
    taken_at: datetime
    containers: tuple[CriContainer, ...] = ()
    pods: tuple[CriPod, ...] = ()
    error: str | None = None
    left_out: int = 0  # containers or pods past the cap, not kept
    absent: str | None = None  # auto-detection found no CRI-O here (Docker or nothing): why

    def by_id(self, container_id: str) -> CriContainer | None:
        return next((c for c in self.containers if c.id == container_id), None)

    def container(self, name: str) -> CriContainer | None:
        """A container by `namespace/pod/name`, `pod/name` or its name (the first one running wins)."""
        found = [
            c
            for c in self.containers
            if name in (c.name, f"{c.pod}/{c.name}", f"{c.namespace}/{c.pod}/{c.name}")
        ]
        return next((c for c in found if c.state == "running"), found[0] if found else None)
