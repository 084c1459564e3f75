"""Pods are not hosts: a node that is itself a container (a rented GPU pod reached over SSH as root on a
mapped port) has no Docker daemon, no systemd and no containers of its own, and that is no fault.

`kind: pod` in the inventory (on a node, a group or `defaults`) says so; `kind: host` says it is not. With
no `kind` the node is asked, once per connection and only where it matters (a section found something
missing that a container never has: the Docker socket), by POD_PROBE: a container runtime's marker file
(`/.dockerenv` from Docker, `/run/.containerenv` from Podman and CRI-O), or PID 1 being neither systemd nor
an init while `/run/systemd/system` is missing (a pod's PID 1 is its entry point: sleep, bash, tini...).
When the probe cannot run, the node counts as a host: a host's real failure is never hidden.

What a pod changes (docs/inventory.md `kind`):
- Docker: a missing socket is one skipped `docker.engine` line, "no Docker on this node (why)", instead of
  a critical (a pod whose inventory names containers that must run still fails: someone asked for them
  there; a Docker that answers is judged as anywhere); the node screen's Containers tab says it once.
  Without `docker:` nothing about Docker is read, as on any node.
- systemd: nothing the console checks needs it (services are probed over the SSH connection).
- GPU processes (kind: pod): not mapped to containers (own_processes); the cgroup they are in is the pod's.
- Basics: /proc/meminfo and /proc/stat show the whole machine inside a container, so the kept basics shell
  also reads the container's own cgroup where it can (LIMITS_FUNCTION; any node, it costs a host two
  reads): its memory limit and use, CPU quota and CPU time replace the machine's figures (own_limits).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, replace

from console.collectors.docker_model import DockerSnapshot, watched_containers
from console.model.gpu import GpuProcess
from console.model.inventory import Node
from console.text import clean_line, finite
from console.transport.base import Transport, TransportError

PROBE_TIMEOUT_S = 5.0
NO_DOCKER = "no Docker on this node"
KIND_POD = "kind: pod"
# PID 1 names that are a host's init, not a container's entry point.
_INITS = frozenset({"systemd", "init", "openrc-init", "runit", "s6-svscan", "launchd", "upstart"})

# One round trip, shell builtins and `[` only; prints `marker PATH`, `init COMM` and `systemd` lines.
POD_PROBE = (
    'sh -c \'for f in /.dockerenv /run/.containerenv; do [ -e "$f" ] && echo "marker $f"; done; '
    'c=; { read -r c </proc/1/comm; } 2>/dev/null; echo "init $c"; '
    "[ -d /run/systemd/system ] && echo systemd; exit 0'"
)


@dataclass(frozen=True, slots=True)
class PodSigns:
    """What POD_PROBE found on a node."""

    markers: tuple[str, ...] = ()  # container runtimes' marker files present
    init: str | None = None  # PID 1's command name (None: not readable)
    systemd: bool = False  # /run/systemd/system exists: systemd is the running init

    @property
    def container(self) -> bool:
        if self.markers:
            return True
        return not self.systemd and self.init is not None and self.init not in _INITS

    def describe(self) -> str:
        """`/.dockerenv, PID 1 is sleep, no systemd`: the signs a container showed."""
        signs = list(self.markers)
        if self.init is not None and self.init not in _INITS:
            signs.append(f"PID 1 is {self.init}")
        if not self.systemd:
            signs.append("no systemd")
        return ", ".join(signs)


def parse_pod_probe(text: str) -> PodSigns:
    markers: list[str] = []
    init: str | None = None
    systemd = False
    for line in text.splitlines()[:20]:
        word, _, rest = line.partition(" ")
        if word == "marker" and rest in ("/.dockerenv", "/run/.containerenv"):
            markers.append(rest)
        elif word == "init":
            init = clean_line(rest.strip(), limit=32) or None
        elif line == "systemd":
            systemd = True
    return PodSigns(tuple(markers), init, systemd)


# Per connection: a node does not stop being a container while it is connected.
_DETECTED: weakref.WeakKeyDictionary[Transport, PodSigns | None] = weakref.WeakKeyDictionary()


async def detect(transport: Transport) -> PodSigns | None:
    """The node's signs (None: the probe could not run), asked once per transport."""
    if transport in _DETECTED:
        return _DETECTED[transport]
    try:
        result = await transport.run(POD_PROBE, timeout=PROBE_TIMEOUT_S)
    except (TransportError, TimeoutError):
        return None  # not remembered: the next poll asks again
    signs = parse_pod_probe(result.stdout) if result.exit_status == 0 else None
    _DETECTED[transport] = signs
    return signs


async def pod_reason(transport: Transport, node: Node) -> str | None:
    """Why node counts as a pod (`kind: pod`, or the signs found on it), or None for a host."""
    if node.kind is not None:
        return KIND_POD if node.kind == "pod" else None
    signs = await detect(transport)
    if signs is None or not signs.container:
        return None
    return f"a container: {signs.describe()}"


def no_docker(node: Node, docker: DockerSnapshot | None) -> str | None:
    """`no Docker on this node (why)` when the node is a pod with no Docker socket and its inventory names
    no container that must run there; None otherwise (then a missing Docker is judged as on a host)."""
    if docker is None or docker.pod is None or docker.engine is not None or watched_containers(node):
        return None
    return f"{NO_DOCKER} ({docker.pod})"


# --- a container's own limits, read by the basics shell ----------------------------------------------------

# Shell function `pl` (console/collectors/basics.py REPORT_FUNCTION calls it): appends `CgMax:BYTES
# CgCur:BYTES CgQuota:US CgPeriod:US CgUsec:US|CgNsec:NS CgInactive:BYTES` words to the report's meminfo
# field ($m) where /sys/fs/cgroup is a container's own cgroup: cgroup v2 with a memory.max at its root (a
# private cgroup namespace), or a v1 memory hierarchy whose root has a limit or a CPU quota (Docker's v1
# bind mounts). The hierarchy's real root (a host) has neither and costs two reads. Builtins only; its
# variables (g*) are its own: the report's are single letters.
LIMITS_FUNCTION = r"""pl() {
  gc=/sys/fs/cgroup
  if [ -r $gc/memory.max ]; then
    r $gc/memory.max; m="$m CgMax:$v"; r $gc/memory.current; m="$m CgCur:$v"
    r $gc/cpu.max; m="$m CgQuota:${v% *} CgPeriod:${v#* }"
    gs $gc/cpu.stat usage_usec CgUsec; gs $gc/memory.stat inactive_file CgInactive
  elif [ -r $gc/memory/memory.limit_in_bytes ]; then
    r $gc/memory/memory.limit_in_bytes; ga=$v; r $gc/cpu/cpu.cfs_quota_us; gq=$v
    if [ ${#ga} -lt 19 ] || [ "$gq" != -1 ]; then
      r $gc/memory/memory.usage_in_bytes; m="$m CgMax:$ga CgCur:$v CgQuota:$gq"
      r $gc/cpu/cpu.cfs_period_us; m="$m CgPeriod:$v"; r $gc/cpuacct/cpuacct.usage; m="$m CgNsec:$v"
      gs $gc/memory/memory.stat total_inactive_file CgInactive
    fi
  fi
}
gs() { { while read -r gk gw; do case $gk in "$2") m="$m $3:$gw"; break ;; esac; done <"$1"; } 2>/dev/null; }
"""
LIMIT_KEYS = ("CgMax", "CgCur", "CgQuota", "CgPeriod", "CgUsec", "CgNsec", "CgInactive")
_USER_HZ = 100  # /proc/stat's tick: the unit of NodeBasics.cpu_ticks


@dataclass(frozen=True, slots=True)
class OwnLimits:
    """What a node that is a container may use, from its own cgroup: the basics say these instead of the
    host's figures (/proc/meminfo and /proc/stat show the whole machine inside a container)."""

    mem_total_kib: int | None  # its memory limit, when below the machine's
    mem_available_kib: int | None  # that limit less what it uses (page cache it could drop not counted)
    cpus: int | None  # its CPU quota in whole CPUs (rounded up), when below the online CPUs
    # (its CPU time, its quota's time or every online CPU's) in ticks: CPU % of what it may use, not the
    # machine's busy share (/proc/stat is the host's)
    cpu_ticks: tuple[int, int] | None


def own_limits(
    memory: dict[str, int | None], mem_total_kib: int | None, cpus: int | None, uptime_s: float | None
) -> OwnLimits | None:
    """The limits in a report's `Cg*` words (see LIMITS_FUNCTION), or None where it has none that bind."""
    if not any(memory.get(key) is not None for key in LIMIT_KEYS):
        return None
    limit, used, inactive = memory.get("CgMax"), memory.get("CgCur"), memory.get("CgInactive") or 0
    total = available = None
    if limit is not None and limit > 0 and (mem_total_kib is None or limit // 1024 < mem_total_kib):
        total = limit // 1024
        if used is not None:
            available = max(0, min(total, total - (used - min(inactive, used)) // 1024))
    # As floats: the node's numbers can be past one (int / int would raise), past one they are unknown.
    quota, period = finite(memory.get("CgQuota")), finite(memory.get("CgPeriod"))
    cores = quota / period if quota is not None and quota > 0 and period is not None and period > 0 else None
    own_cpus = None
    if cores is not None and (cpus is None or cores < cpus):
        own_cpus = max(1, int(-(-cores // 1)))
    elif cpus is not None:
        cores = float(cpus)  # no quota that binds: its CPU time against every online CPU
    ticks = None
    usage_us = memory.get("CgUsec")
    if usage_us is None and memory.get("CgNsec") is not None:
        usage_us = (memory.get("CgNsec") or 0) // 1000
    span = finite(uptime_s * _USER_HZ * cores) if cores is not None and uptime_s is not None else None
    if span is not None and usage_us is not None:
        ticks = (usage_us * _USER_HZ // 1_000_000, int(span))
    if total is None and own_cpus is None and ticks is None:
        return None
    return OwnLimits(total, available, own_cpus, ticks)


def own_processes(node: Node, processes: tuple[GpuProcess, ...]) -> tuple[GpuProcess, ...]:
    """A pod's GPU processes are its own: the cgroup they are in names the pod itself (or a host's id that
    no Docker of the pod knows), never a container on the node, so they are not mapped to one."""
    if node.kind != "pod":
        return processes
    return tuple(replace(process, container_id=None) for process in processes)
