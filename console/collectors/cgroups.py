"""Containers' own cost from their cgroup files, read by the basics shell's builtins (never `docker stats`).

`docker stats` keeps a stream per container and makes dockerd sample every cgroup; the kept basics shell
(console/streams/basics_shell.py) already answers one /proc report per refresh, so each request also names
the running containers (`ID:PID`, from the Docker watcher's inspect data) and the shell prints one
`@@cgroup` line per container before the report: CPU time, CPU quota, memory use, inactive file cache and
limit, straight from the files.

Where the cgroup is: the one the container's init is in (`/proc/PID/cgroup`, so any cgroup parent and driver
are followed), believed only when that path names the container (a pid from another pid namespace, or one
reused since, names something else); else Docker's defaults, `/system.slice/docker-ID.scope` (systemd driver)
and `/docker/ID` (cgroupfs). cgroup v2 (`/sys/fs/cgroup/cgroup.controllers` exists): `cpu.stat`
usage_usec, `cpu.max`, `memory.current`, `memory.max`, `memory.stat` inactive_file. cgroup v1 (and the
hybrid layout, whose unified tree has no controllers): `cpuacct.usage` (ns), `cpu.cfs_quota_us`/`_period_us`,
`memory.usage_in_bytes`, `memory.limit_in_bytes`, `memory.stat` total_inactive_file.

CPU % is a delta of CPU time over the node's own uptime between two reads, so the first read has none.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from console.model.docker import ContainerCost, ContainerInfo

CGROUP_MARK = "@@cgroup"
MAX_CONTAINERS = 512  # per request: the request is one line into the shell
V1_UNLIMITED = 1 << 60  # v1 says "no limit" with a huge number (PAGE_COUNTER_MAX pages)
_ID = re.compile(r"[0-9a-f]{64}")

# Shell function `cg REQUEST ID:PID...`: one line per container, `@@cgroup REQ|ID|VERSION|cpu|quota|period|
# used|limit|inactive` (VERSION 1 or 2; empty fields: not readable). Builtins only: read, case, [, printf.
CGROUP_FUNCTION = r"""C=@@cgroup
G=/sys/fs/cgroup
cg() {
  q=$1; shift
  if [ -r "$G/cgroup.controllers" ]; then g=2; else g=1; fi
  for c in "$@"; do
    i=${c%%:*}; p=${c#*:}; a=; k=; b=
    { while IFS=: read -r n l d; do
        case $g,$n,,$l, in 2,0,,,) a=$d ;; esac
        case $g,$l, in 1,*cpuacct,*) a=$d ;; esac
        case $g,$l, in 1,cpu,*|1,*,cpu,*) k=$d ;; esac
        case $g,$l, in 1,memory,*|1,*,memory,*) b=$d ;; esac
      done <"/proc/$p/cgroup"; } 2>/dev/null
    case $a in *"$i"*) ;; *) a= ;; esac
    case $k in *"$i"*) ;; *) k=$a ;; esac
    case $b in *"$i"*) ;; *) b=$a ;; esac
    if [ $g = 2 ]; then
      if [ -z "$a" ]; then
        for d in "/system.slice/docker-$i.scope" "/docker/$i"; do
          [ -d "$G$d" ] && { a=$d; break; }
        done
      fi
      if [ -z "$a" ]; then printf '%s\n' "$C $q|$i|"; continue; fi
      d=$G$a; r "$d/cpu.stat"; u=${v#usage_usec }; r "$d/cpu.max"; x=${v% *}; y=${v#* }
      r "$d/memory.current"; m=$v; r "$d/memory.max"; o=$v; f=; s=inactive_file
    else
      if [ -z "$a" ]; then
        for d in "/system.slice/docker-$i.scope" "/docker/$i"; do
          [ -d "$G/cpuacct$d" ] && { a=$d; k=$d; b=$d; break; }
        done
      fi
      if [ -z "$a" ]; then printf '%s\n' "$C $q|$i|"; continue; fi
      r "$G/cpuacct$a/cpuacct.usage"; u=$v
      r "$G/cpu$k/cpu.cfs_quota_us"; x=$v; r "$G/cpu$k/cpu.cfs_period_us"; y=$v
      d=$G/memory$b; r "$d/memory.usage_in_bytes"; m=$v; r "$d/memory.limit_in_bytes"; o=$v
      f=; s=total_inactive_file
    fi
    { while read -r n l; do
        case $n in "$s") f=$l; break ;; esac
      done <"$d/memory.stat"; } 2>/dev/null
    printf '%s\n' "$C $q|$i|$g|$u|$x|$y|$m|$o|$f"
  done
}
"""


def cgroup_request(containers: Iterable[ContainerInfo]) -> str:
    """` ID:PID` for each running container with a pid, at most MAX_CONTAINERS; only hex ids and digits
    ever reach the shell's input."""
    words = [
        f"{container.id}:{container.pid}"
        for container in containers
        if container.pid is not None and container.pid > 0 and _ID.fullmatch(container.id)
    ]
    return "".join(f" {word}" for word in words[:MAX_CONTAINERS])


def _int(text: str) -> int | None:
    """A cgroup file's count: ASCII digits only (no sign, no space, no "max"), at most 20 of them."""
    return int(text) if len(text) <= 20 and text.isascii() and text.isdigit() else None


def cpu_pct(usage_ns: int | None, then_ns: int | None, seconds: float | None) -> float | None:
    """CPU % of one core between two readings of a container's CPU time, `seconds` of node uptime apart.
    A restarted container's counter starts again: no figure then."""
    if usage_ns is None or then_ns is None or not seconds or seconds <= 0 or usage_ns < then_ns:
        return None
    return 100.0 * (usage_ns - then_ns) / 1e9 / seconds


def parse_cgroup_line(
    line: str, before: Mapping[str, int | None] | None = None, seconds: float | None = None
) -> ContainerCost | None:
    """One `@@cgroup REQ|ID|...` line (the request already matched); None when it names no container id.
    `before`: each container's CPU time `seconds` of uptime earlier, for its CPU %."""
    fields = line.split("|")
    if len(fields) < 2 or not _ID.fullmatch(fields[1]):
        return None
    container_id = fields[1]
    if len(fields) != 9 or fields[2] not in ("1", "2"):
        return ContainerCost(container_id)  # no cgroup of it found
    _, _, version, usage, quota, period, used, limit, inactive = fields  # as the shell printed them
    cpu = _int(usage)
    quota_n, period_n = _int(quota), _int(period)
    used_n, limit_n, inactive_n = _int(used), _int(limit), _int(inactive)
    if version == "2":
        cpu_ns = cpu * 1000 if cpu is not None else None
        cpu_unlimited = quota == "max"
        mem_unlimited = limit == "max"
    else:
        cpu_ns = cpu
        cpu_unlimited = quota == "-1"
        mem_unlimited = limit_n is not None and limit_n >= V1_UNLIMITED
        if mem_unlimited:
            limit_n = None
    cpu_limit = quota_n / period_n if quota_n is not None and period_n else None
    if used_n is not None and inactive_n is not None and inactive_n <= used_n:
        used_n -= inactive_n  # as `docker stats`: the page cache the kernel would drop first is not use
    return ContainerCost(
        container_id,
        cgroup="v2" if version == "2" else "v1",
        cpu_usage_ns=cpu_ns,
        cpu_pct=cpu_pct(cpu_ns, before.get(container_id), seconds) if before else None,
        cpu_limit=cpu_limit,
        cpu_unlimited=cpu_unlimited,
        mem_used_bytes=used_n,
        mem_limit_bytes=limit_n,
        mem_unlimited=mem_unlimited,
    )


def with_cpu_pct(
    costs: Sequence[ContainerCost], previous: Sequence[ContainerCost], seconds: float | None
) -> tuple[ContainerCost, ...]:
    """Each container's CPU % of one core since the previous read, `seconds` of node uptime ago."""
    before = {cost.id: cost.cpu_usage_ns for cost in previous}
    result = []
    for cost in costs:
        pct = cpu_pct(cost.cpu_usage_ns, before.get(cost.id), seconds)
        result.append(replace(cost, cpu_pct=pct) if pct is not None else cost)
    return tuple(result)


# --- a local node: the same files, read in-process ---------------------------------------------------------


def _first(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            return file.readline().strip()
    except OSError:
        return ""


def _stat_value(path: str, key: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            for line in file:
                name, _, value = line.partition(" ")
                if name == key:
                    return value.strip()
    except OSError:
        pass
    return ""


def _own_cgroup(pid: int, container_id: str) -> dict[str, str]:
    """controller -> path from /proc/PID/cgroup ("" for the v2 line), only paths that name the container."""
    found: dict[str, str] = {}
    try:
        with open(f"/proc/{pid}/cgroup", encoding="ascii", errors="replace") as file:
            for line in file:
                number, _, rest = line.rstrip("\n").partition(":")
                controllers, _, path = rest.partition(":")
                if container_id not in path:
                    continue
                if number == "0" and not controllers:
                    found[""] = path
                for name in controllers.split(","):
                    found[name] = path
    except OSError:
        pass
    return found


def local_cgroup_line(request: str, container_id: str, pid: int, root: str = "/sys/fs/cgroup") -> str:
    """What CGROUP_FUNCTION prints for one container, read in-process (`root`: tests point it elsewhere)."""
    v2 = os.path.exists(f"{root}/cgroup.controllers")
    own = _own_cgroup(pid, container_id)
    defaults = (f"/system.slice/docker-{container_id}.scope", f"/docker/{container_id}")
    if v2:
        where = own.get("") or next((d for d in defaults if os.path.isdir(root + d)), None)
        if where is None:
            return f"{CGROUP_MARK} {request}|{container_id}|"
        base = root + where
        usage = _stat_value(f"{base}/cpu.stat", "usage_usec")
        quota, _, period = _first(f"{base}/cpu.max").partition(" ")
        values = [usage, quota, period, _first(f"{base}/memory.current"), _first(f"{base}/memory.max")]
        values.append(_stat_value(f"{base}/memory.stat", "inactive_file"))
        return f"{CGROUP_MARK} {request}|{container_id}|2|" + "|".join(values)
    cpuacct = own.get("cpuacct") or next((d for d in defaults if os.path.isdir(f"{root}/cpuacct{d}")), None)
    if cpuacct is None:
        return f"{CGROUP_MARK} {request}|{container_id}|"
    cpu, memory = own.get("cpu") or cpuacct, own.get("memory") or cpuacct
    values = [
        _first(f"{root}/cpuacct{cpuacct}/cpuacct.usage"),
        _first(f"{root}/cpu{cpu}/cpu.cfs_quota_us"),
        _first(f"{root}/cpu{cpu}/cpu.cfs_period_us"),
        _first(f"{root}/memory{memory}/memory.usage_in_bytes"),
        _first(f"{root}/memory{memory}/memory.limit_in_bytes"),
        _stat_value(f"{root}/memory{memory}/memory.stat", "total_inactive_file"),
    ]
    return f"{CGROUP_MARK} {request}|{container_id}|1|" + "|".join(values)
