"""Node basics: load, memory, uptime, kernel, CPU and network counters from /proc; root and local scratch
disk use from statfs; the running containers' cgroup files (console/collectors/cgroups.py).

The /proc part is read by shell builtins only (`read` from a file, `case`, `printf`), so the long-lived
request/response shell of console/streams/basics_shell.py answers each refresh without starting a process on
the node; `collect_basics` runs the same script once per call where no stream is kept (LocalTransport,
`--check` through a read-only wrapper).

Disk use needs statfs, so it is one `stat -f` under a remote `timeout`, and only for `/` and the paths the
caller names as local scratch: never for a network mount (a hung NFS server would block the call in the
kernel). Paths the inventory lists under `mounts` are refused here, whatever the caller passes, and before
each disk read the node's own mount table (`local_only`) keeps out any path on a network filesystem the
inventory does not know of.

CPU % and network rates are deltas between two reports (`Rates`), timed by the node's /proc/uptime: the
first report of a node has none.

The kernel string and host name are cleaned (console/text.py); a number that is not finite is unknown.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from console.collectors.cgroups import CGROUP_FUNCTION, parse_cgroup_line, with_cpu_pct
from console.collectors.mountinfo import parse_mountinfo, visible_mounts
from console.model.basics import DiskUse as DiskUse
from console.model.basics import NodeBasics as NodeBasics
from console.pods import LIMITS_FUNCTION, own_limits
from console.text import clean_line, clean_optional, finite
from console.transport.base import Transport, TransportError

MARK = "@@basics"
DISK_TIMEOUT_S = 3
MEMINFO_KEYS = ("MemTotal", "MemAvailable", "SwapTotal", "SwapFree")
# Interfaces that carry no traffic of their own: container and bridge plumbing repeats what a NIC carries.
PLUMBING = ("veth", "docker", "br-", "cni", "flannel", "cali", "virbr", "lxc")

# Builtins only: no process per report (`[` and `$((...))` are builtins too). Lines go out with
# `printf '%s\n'`, never `echo`: dash's echo turns a `\040` or `\c` in a mount point or host name into
# something else. One line per report:
# `@@basics ID|loadavg|uptime|cpu line of /proc/stat|rx tx|kernel|hostname|online cpus| MemTotal:N ...`
# (meminfo stops after SwapFree, ~16 lines in). Network bytes are summed over the interfaces backed by a
# device (/sys/class/net/X/device: NICs, bond slaves; a bond, bridge or VLAN on top would count them twice);
# where none is (a VM without one, a network namespace), over every interface but lo and PLUMBING.
# In a container, `pl` adds its own cgroup limits to the meminfo field (console/pods.py LIMITS_FUNCTION).
REPORT_FUNCTION = (
    r"""M=@@basics
set -f
r() { v=; IFS= read -r v 2>/dev/null <"$1"; }
nd() {
  a=0; b=0; x=0; y=0; e=
  { while IFS=: read -r i w; do
      set -- $w; i=${i##* }
      case $i in lo|'') continue ;; esac
      case $#,$1,$9 in 1[6-9],[0-9]*,[0-9]*) ;; *) continue ;; esac
      case $1$9 in *[!0-9]*) continue ;; esac
      if [ -e "/sys/class/net/$i/device" ]; then a=$((a+$1)); b=$((b+$9)); e=1
      else case $i in
          veth*|docker*|br-*|cni*|flannel*|cali*|virbr*|lxc*) ;;
          *) x=$((x+$1)); y=$((y+$9)) ;;
        esac
      fi
    done </proc/net/dev; } 2>/dev/null
  if [ -n "$e" ]; then n="$a $b"; else n="$x $y"; fi
}
report() {
  r /proc/loadavg; l=$v; r /proc/uptime; u=$v; r /proc/stat; s=$v; nd; r /proc/sys/kernel/osrelease; k=$v
  r /proc/sys/kernel/hostname; h=$v; r /sys/devices/system/cpu/online; c=$v; m=
  { while read -r key val unit; do
      case $key in
        MemTotal:|MemAvailable:|SwapTotal:) m="$m $key$val" ;;
        SwapFree:) m="$m $key$val"; break ;;
      esac
    done </proc/meminfo; } 2>/dev/null
  pl
  printf '%s\n' "$M $1|$l|$u|$s|$n|$k|$h|$c|$m"
}
"""
    + LIMITS_FUNCTION
)
# The mount table, for the disk read to come (every disk_every seconds): `@@mount ID|<mountinfo line>`, then
# `@@basics ID|` ends it. At most MAX_MOUNT_LINES lines.
MOUNT_MARK = "@@mount"
MAX_MOUNT_LINES = 5000
MOUNT_FUNCTION = f"""mt() {{
  n=0
  {{ while IFS= read -r l; do
      n=$((n+1)); [ $n -gt {MAX_MOUNT_LINES} ] && break
      printf '%s\\n' "{MOUNT_MARK} $1|$l"
    done </proc/self/mountinfo; }} 2>/dev/null
  printf '%s\\n' "$M $1|"
}}
"""
# The stream: one answer per request line, so an answer is never taken for a later request's. A number
# (then the running containers as ID:PID) asks for the report: the containers' cgroup lines come first, the
# report line ends it. `m` and a number asks for the mount table.
STREAM_SCRIPT = (
    REPORT_FUNCTION
    + CGROUP_FUNCTION
    + MOUNT_FUNCTION
    + 'while read -r id rest; do case $id in m*) mt "$id" ;; *) cg "$id" $rest; report "$id" ;; esac; done\n'
)
STREAM_COMMAND = f"exec sh -c {shlex.quote(STREAM_SCRIPT)} opsconsole-basics"
ONESHOT_COMMAND = f"sh -c {shlex.quote(REPORT_FUNCTION + 'report -')} opsconsole-basics"
DISK_FORMAT = "%n|%T|%S|%b|%f|%a"

# The commands here are declared read-only by the basics section (console/sections/basics.py).


def _float(text: str) -> float | None:
    return finite(text)  # "nan", "inf": unknown


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def count_cpus(ranges: str) -> int | None:
    """/sys/devices/system/cpu/online: "0-127", "0,2-5" → how many."""
    total = 0
    for part in ranges.strip().split(","):
        first, dash, last = part.partition("-")
        low, high = _int(first), _int(last) if dash else _int(first)
        if low is None or high is None or high < low:
            return None
        total += high - low + 1
    return total or None


def report_line(text: str, request: str = "-") -> str | None:
    """The report line answering `request` in text, if there is one."""
    prefix = f"{MARK} {request}|"
    return next((line for line in text.split("\n") if line.startswith(prefix)), None)  # "\r" is data


def cpu_ticks(stat_line: str) -> tuple[int, int] | None:
    """(busy, total) jiffies from /proc/stat's `cpu` line: user..steal; guest is inside user already."""
    words = stat_line.split()
    if len(words) < 5 or words[0] != "cpu":
        return None
    numbers = [_int(word) for word in words[1:9]]
    if any(number is None or number < 0 for number in numbers):
        return None
    ticks = [number or 0 for number in numbers]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    total = sum(ticks)
    return total - idle, total


def _pair(text: str) -> tuple[int, int] | None:
    words = [_int(word) for word in text.split()]
    if len(words) != 2 or words[0] is None or words[1] is None:
        return None
    return words[0], words[1]


def parse_report(
    node: str,
    line: str | None,
    *,
    taken_at: datetime,
    duration_s: float | None = None,
    cgroup_lines: Sequence[str] = (),
    previous: NodeBasics | None = None,
) -> NodeBasics:
    """One report line of REPORT_FUNCTION (see report_line), and the `@@cgroup` lines before it; the rates
    since `previous` (the last good report of the node) when given. Built once: this runs every refresh."""
    fields = line.split("|") if line is not None else []
    if len(fields) < 9:
        return NodeBasics(node, taken_at, error="incomplete basics report", duration_s=duration_s)
    # Only the host name can hold a "|" (the kernel allows any byte there): it is what is left in between.
    fields = [*fields[:6], "|".join(fields[6:-2]), *fields[-2:]]
    _, loadavg, uptime, stat, network, kernel, hostname, cpus, meminfo = (field.strip() for field in fields)
    loads = [number for word in loadavg.split()[:3] if (number := _float(word)) is not None]
    memory: dict[str, int | None] = {}
    for item in meminfo.split():
        key, _, kib = item.partition(":")
        memory[key] = _int(kib)
    uptime_words = uptime.split()
    uptime_s = _float(uptime_words[0]) if uptime_words else None
    ticks, net = cpu_ticks(stat), _pair(network)
    # A container's own cgroup limits, where the shell could read them: what it may use, not the host's.
    online = count_cpus(cpus) if cpus else None
    mem_total, mem_available = memory.get("MemTotal"), memory.get("MemAvailable")
    limits = own_limits(memory, mem_total, online, uptime_s)
    if limits is not None:
        if limits.mem_total_kib is not None:
            mem_total, mem_available = limits.mem_total_kib, limits.mem_available_kib
        online = limits.cpus or online
        ticks = limits.cpu_ticks or ticks
    rates = Rates.between(previous, uptime_s, ticks, net)
    costs = (parse_cgroup_line(cgroup, rates.before, rates.seconds) for cgroup in cgroup_lines)
    return NodeBasics(
        node,
        taken_at,
        load=(loads[0], loads[1], loads[2]) if len(loads) == 3 else None,
        cpus=online,
        mem_total_kib=mem_total,
        mem_available_kib=mem_available,
        swap_total_kib=memory.get("SwapTotal"),
        swap_free_kib=memory.get("SwapFree"),
        uptime_s=uptime_s,
        kernel=clean_optional(kernel or None, limit=256),
        hostname=clean_optional(hostname or None, limit=256),
        duration_s=duration_s,
        cpu_pct=rates.cpu_pct,
        net_rx_bps=rates.rx,
        net_tx_bps=rates.tx,
        cpu_ticks=ticks,
        net_bytes=net,
        containers=tuple(cost for cost in costs if cost is not None),
    )


@dataclass(slots=True)
class Rates:
    """The deltas between two reports of a node, timed by its /proc/uptime.

    None wherever a counter is missing on either side, went backwards (a reboot, a counter reset) or no
    time passed: the first read of a node has no rates.
    """

    seconds: float | None = None
    cpu_pct: float | None = None
    rx: float | None = None
    tx: float | None = None
    before: Mapping[str, int | None] | None = None  # each container's CPU time in the previous report

    @classmethod
    def between(
        cls,
        previous: NodeBasics | None,
        uptime_s: float | None,
        ticks: tuple[int, int] | None,
        net: tuple[int, int] | None,
    ) -> Rates:
        rates = cls()
        if previous is None or previous.error is not None:
            return rates
        if uptime_s is not None and previous.uptime_s is not None:
            rates.seconds = uptime_s - previous.uptime_s
        if ticks is not None and previous.cpu_ticks is not None:
            busy, total = ticks[0] - previous.cpu_ticks[0], ticks[1] - previous.cpu_ticks[1]
            if total > 0 and 0 <= busy <= total:
                rates.cpu_pct = finite(100.0 * busy / total)
        seconds = rates.seconds
        if seconds is not None and seconds > 0 and net is not None and previous.net_bytes is not None:
            rx, tx = net[0] - previous.net_bytes[0], net[1] - previous.net_bytes[1]
            rates.rx = finite(rx / seconds) if rx >= 0 else None
            rates.tx = finite(tx / seconds) if tx >= 0 else None
        rates.before = {cost.id: cost.cpu_usage_ns for cost in previous.containers}
        return rates


def with_rates(current: NodeBasics, previous: NodeBasics | None) -> NodeBasics:
    """`current` with its rates since `previous` (see Rates), for a report parsed without them."""
    if previous is None or current.error is not None or previous.error is not None:
        return current
    rates = Rates.between(previous, current.uptime_s, current.cpu_ticks, current.net_bytes)
    return replace(
        current,
        cpu_pct=rates.cpu_pct,
        net_rx_bps=rates.rx,
        net_tx_bps=rates.tx,
        containers=with_cpu_pct(current.containers, previous.containers, rates.seconds),
    )


def disk_paths(scratch: Iterable[str], network_mounts: Iterable[str] = ()) -> tuple[str, ...]:
    """`/` and the local scratch paths, without repeats; never a path at or below one the inventory lists
    as a mount (statfs there could block on a hung NFS server)."""
    refused = {path.rstrip("/") or "/" for path in network_mounts}

    def on_a_mount(path: str) -> bool:
        return any(path == mount or path.startswith(mount + "/") for mount in refused if mount != "/")

    paths = ["/"]
    for path in scratch:
        clean = path.rstrip("/") or "/"
        if clean.startswith("/") and not on_a_mount(clean) and clean not in paths:
            paths.append(clean)
    return tuple(paths)


def local_only(paths: Sequence[str], mountinfo: str | None) -> tuple[tuple[str, ...], dict[str, DiskUse]]:
    """The paths whose filesystem is local by the node's mount table, and a refusal for each of the others:
    a path on a network mount (one the inventory does not list too) is never statted. No table read: none
    is statted."""
    if mountinfo is None:
        why = "mount table not read: not statted (a network mount there could hang statfs)"
        return (), {path: DiskUse(path, error=why) for path in paths}
    mounts = visible_mounts(parse_mountinfo(mountinfo))
    local: list[str] = []
    refused: dict[str, DiskUse] = {}
    for path in paths:
        under = [point for point in mounts if path == point or path.startswith(point.rstrip("/") + "/")]
        entry = mounts[max(under, key=len)] if under else None
        if entry is not None and entry.is_network:
            why = f"on a network mount ({entry.fstype} {entry.source}): not statted, statfs there can hang"
            refused[path] = DiskUse(path, entry.fstype, error=clean_line(why, limit=300))
        else:
            local.append(path)
    return tuple(local), refused


def disk_command(paths: Sequence[str]) -> str:
    words = ["LC_ALL=C", "timeout", "-s", "KILL", str(DISK_TIMEOUT_S), "stat", "-f", "-c", DISK_FORMAT]
    return " ".join(shlex.quote(word) for word in [*words, "--", *paths])


def parse_disks(paths: Sequence[str], stdout: str, stderr: str, exit_status: int) -> tuple[DiskUse, ...]:
    """`stat -f -c '%n|%T|%S|%b|%f|%a'` output: one line per path that answered, in order."""
    found: dict[str, DiskUse] = {}
    for line in stdout.splitlines():
        parts = line.rsplit("|", 5)
        if len(parts) != 6:
            continue
        path, fstype, block, blocks, free, avail = parts
        size, total, root_free, user_free = _int(block), _int(blocks), _int(free), _int(avail)
        if size is None or total is None or root_free is None or user_free is None:
            continue
        found[path] = DiskUse(
            path,
            clean_line(fstype, limit=64) or None,
            total * size,
            user_free * size,
            (total - root_free) * size,
        )
    timed_out = exit_status in (124, 137)
    results = []
    for path in paths:
        if path in found:
            results.append(found[path])
        elif timed_out:
            results.append(DiskUse(path, error=f"no answer from statfs within {DISK_TIMEOUT_S}s"))
        else:
            why = (
                next((line for line in stderr.splitlines() if path in line), "")
                or f"stat exited {exit_status}"
            )
            results.append(DiskUse(path, error=clean_line(" ".join(why.split()), limit=200)))
    return tuple(results)


async def collect_disks(
    transport: Transport, paths: Sequence[str], *, timeout: float = 6.0
) -> tuple[DiskUse, ...]:
    """statfs of `paths` (from disk_paths) in one command; never raises for node trouble."""
    try:
        result = await transport.run(disk_command(paths), timeout=timeout)
    except TransportError as exc:  # CommandTimeout too
        return tuple(DiskUse(path, error=clean_line(exc)) for path in paths)
    return parse_disks(paths, result.stdout, result.stderr, result.exit_status)


def _first_line(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.readline().strip()
    except OSError:
        return ""


def local_network() -> str:
    """/proc/net/dev's rx and tx as REPORT_FUNCTION sums them."""
    device = [0, 0]
    other = [0, 0]
    found = False
    try:
        with open("/proc/net/dev", encoding="ascii", errors="replace") as file:
            for line in file:
                name, colon, rest = line.partition(":")
                words = rest.split()
                name = name.strip()
                if not colon or name in ("", "lo") or len(words) < 16:
                    continue
                if not (words[0].isdigit() and words[8].isdigit()):
                    continue
                if os.path.exists(f"/sys/class/net/{name}/device"):
                    device[0] += int(words[0])
                    device[1] += int(words[8])
                    found = True
                elif not name.startswith(PLUMBING):
                    other[0] += int(words[0])
                    other[1] += int(words[8])
    except OSError:
        return ""
    rx, tx = device if found else other
    return f"{rx} {tx}"


def local_report_line() -> str:
    """REPORT_FUNCTION's line for this machine, read in-process (a local node: no process at all)."""
    memory = []
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as file:
            for line in file:
                key, _, rest = line.partition(":")
                if key in MEMINFO_KEYS:
                    memory.append(f"{key}:{rest.split()[0] if rest.split() else ''}")
                if key == "SwapFree":
                    break
    except OSError:
        pass
    head = [_first_line(path) for path in ("/proc/loadavg", "/proc/uptime", "/proc/stat")]
    files = ("/proc/sys/kernel/osrelease", "/proc/sys/kernel/hostname", "/sys/devices/system/cpu/online")
    values = [*head, local_network(), *(_first_line(path) for path in files)]
    return f"{MARK} -|" + "|".join(values) + "| " + " ".join(memory)


def local_disks(paths: Sequence[str]) -> tuple[DiskUse, ...]:
    """statfs of local paths, in-process (call it in a thread: only `/` and local scratch are ever asked)."""
    disks = []
    for path in paths:
        try:
            stat = os.statvfs(path)
        except OSError as exc:
            disks.append(DiskUse(path, error=f"{exc.strerror or exc}"))
            continue
        size = stat.f_frsize
        disks.append(
            DiskUse(
                path, None, stat.f_blocks * size, stat.f_bavail * size, (stat.f_blocks - stat.f_bfree) * size
            )
        )
    return tuple(disks)


async def collect_basics(
    transport: Transport,
    *,
    disks: Sequence[str] = (),
    timeout: float | None = None,
) -> NodeBasics:
    """The /proc report in one round trip, plus disk use of `disks` (from disk_paths) when given."""
    started = time.monotonic()
    name = transport.node_name
    if transport.is_local:
        basics = parse_report(name, local_report_line(), taken_at=datetime.now(UTC), duration_s=0.0)
        if not disks:
            return basics
        return replace(basics, disks=await asyncio.to_thread(local_disks, disks), disks_at=datetime.now(UTC))
    try:
        result = await transport.run(ONESHOT_COMMAND, timeout=timeout)
    except TransportError as exc:
        return NodeBasics(
            name, datetime.now(UTC), error=clean_line(exc), duration_s=time.monotonic() - started
        )
    basics = parse_report(
        name, result.stdout, taken_at=datetime.now(UTC), duration_s=time.monotonic() - started
    )
    if not disks or basics.error:
        return basics
    return replace(basics, disks=await collect_disks(transport, disks), disks_at=datetime.now(UTC))
