"""The Docker section's snapshot: the engine and the node's containers from one poll.

Every string in it was cleaned where it entered (console/collectors/docker_model.py): a container's labels,
command, image and status are written by whoever started it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Health = Literal["healthy", "unhealthy", "starting"]


@dataclass(frozen=True, slots=True)
class PublishedPort:
    host_ip: str  # "127.0.0.1", "0.0.0.0", "::"
    host_port: int
    container_port: int
    protocol: str  # tcp | udp | sctp


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    """One container. restart_count and started_at come from inspect: None when it was not inspected."""

    id: str
    name: str  # without the leading slash
    image: str
    state: str  # running | exited | restarting | paused | created | dead | removing
    status: str  # Docker's own words: "Up 5 minutes (healthy)"
    health: Health | None = None  # None: the container has no healthcheck
    restart_count: int | None = None
    ports: tuple[PublishedPort, ...] = ()  # what is published now (a stopped container publishes nothing)
    started_at: datetime | None = None
    compose_project: str | None = None
    compose_service: str | None = None
    command: str | None = None  # the list's Command: entrypoint and arguments as one line
    labels: tuple[tuple[str, str], ...] = ()  # sorted by key, at most docker_model.MAX_LABELS
    exit_code: int | None = None  # the last run's, from inspect or the list's "Exited (N)"; None: not known
    pid: int | None = None  # the running container's init, in dockerd's pid namespace (finds its cgroup)


@dataclass(frozen=True, slots=True)
class ContainerCost:
    """What a running container costs, from its cgroup files (never `docker stats`). Unknown is None.

    `cpu_pct` is of one core, as `docker stats` and top show it (a container at `--cpus 0.5` tops out near
    50); it needs two reads, so the first one says None. `mem_used_bytes` is usage less the inactive file
    cache, as `docker stats` counts it. No limit set is `*_unlimited`, not a None limit.
    """

    id: str
    cgroup: Literal["v1", "v2"] | None = None  # None: no cgroup of it was found
    cpu_usage_ns: int | None = None  # cumulative CPU time
    cpu_pct: float | None = None
    cpu_limit: float | None = None  # CPUs (quota / period), as `--cpus`
    cpu_unlimited: bool = False
    mem_used_bytes: int | None = None
    mem_limit_bytes: int | None = None
    mem_unlimited: bool = False

    @property
    def mem_used_pct(self) -> float | None:
        """Of its limit; None without one."""
        if self.mem_used_bytes is None or not self.mem_limit_bytes:
            return None
        return 100.0 * self.mem_used_bytes / self.mem_limit_bytes


@dataclass(frozen=True, slots=True)
class EngineInfo:
    version: str
    api_version: str
    runtimes: tuple[str, ...]
    default_runtime: str | None
    nvidia_runtime: bool
    tcp_listeners: tuple[str, ...] | None  # () unix socket only; None: could not be determined
    snap: bool  # the snap package's dockerd (/snap/..., /var/snap/docker)
    root_dir: str | None = None


@dataclass(frozen=True, slots=True)
class DockerSnapshot:
    node: str
    taken_at: datetime
    engine: EngineInfo | None
    containers: tuple[ContainerInfo, ...] = ()
    error: str | None = None
    duration_s: float | None = None
    left_out: int = 0  # containers past docker_model.MAX_CONTAINERS in the list, not kept
    pod: str | None = None  # no socket on a node that is a container: why it counts as one (console/pods.py)

    def container(self, name: str) -> ContainerInfo | None:
        return next((container for container in self.containers if container.name == name), None)

    def published(self) -> tuple[tuple[str, str, int], ...]:
        """(container, host_ip, host_port) of every published port: the bind audit's `Published`."""
        return tuple(
            (container.name, port.host_ip, port.host_port)
            for container in self.containers
            for port in container.ports
        )
