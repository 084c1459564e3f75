"""The basics' snapshot: load, memory, swap, uptime, kernel and disk use, what an operator wants by GPUs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from console.model.docker import ContainerCost


@dataclass(frozen=True, slots=True)
class DiskUse:
    """One filesystem's use as statfs saw it (bytes). `error`: it could not be read."""

    path: str
    fstype: str | None = None
    total_bytes: int | None = None
    free_bytes: int | None = None  # free for an unprivileged user (f_bavail), as df's Avail
    used_bytes: int | None = None  # total - free-to-root (f_bfree), as df's Used
    error: str | None = None

    @property
    def used_pct(self) -> float | None:
        """As df's Use%: used / (used + available)."""
        if self.used_bytes is None or self.free_bytes is None or self.used_bytes + self.free_bytes == 0:
            return None
        return 100.0 * self.used_bytes / (self.used_bytes + self.free_bytes)


@dataclass(frozen=True, slots=True)
class NodeBasics:
    """What an operator wants next to GPU data. A value the node did not give is None.

    Rates (`cpu_pct`, `net_*_bps`, each container's `cpu_pct`) are deltas between two reads of the kept
    shell, timed by the node's own /proc/uptime: the first read has none (None), never a made-up number.
    """

    node: str
    taken_at: datetime
    load: tuple[float, float, float] | None = None  # 1, 5, 15 minutes
    cpus: int | None = None  # online CPUs
    mem_total_kib: int | None = None
    mem_available_kib: int | None = None
    swap_total_kib: int | None = None
    swap_free_kib: int | None = None
    uptime_s: float | None = None
    kernel: str | None = None
    hostname: str | None = None
    disks: tuple[DiskUse, ...] = ()
    disks_at: datetime | None = None  # disk use is read less often than the rest
    cpu_pct: float | None = None  # busy share of all online CPUs since the previous read, 0-100
    net_rx_bps: float | None = None  # bytes/s received since the previous read (device-backed interfaces)
    net_tx_bps: float | None = None
    # The counters the rates come from (cumulative), kept for the next read.
    cpu_ticks: tuple[int, int] | None = None  # (busy, total) jiffies of /proc/stat's cpu line
    net_bytes: tuple[int, int] | None = None  # (rx, tx) of /proc/net/dev
    containers: tuple[ContainerCost, ...] = ()  # the running containers' cgroups, when Docker is watched
    error: str | None = None
    duration_s: float | None = None

    @property
    def mem_used_pct(self) -> float | None:
        if not self.mem_total_kib or self.mem_available_kib is None:
            return None
        return 100.0 * (self.mem_total_kib - self.mem_available_kib) / self.mem_total_kib

    @property
    def mem_used_kib(self) -> int | None:
        if self.mem_total_kib is None or self.mem_available_kib is None:
            return None
        return self.mem_total_kib - self.mem_available_kib

    def disk(self, path: str) -> DiskUse | None:
        return next((disk for disk in self.disks if disk.path == path), None)

    @property
    def fullest_disk(self) -> DiskUse | None:
        """The fullest of `/` and the scratch paths that were read (the fleet's Disk column)."""
        read = [disk for disk in self.disks if disk.used_pct is not None]
        return max(read, key=lambda disk: disk.used_pct or 0.0) if read else None

    def container(self, container_id: str) -> ContainerCost | None:
        return next((cost for cost in self.containers if cost.id == container_id), None)


_UNITS = ("", "K", "M", "G", "T", "P")


def short_bytes(value: float) -> str:
    """Bytes as a short figure for a narrow cell: 950, 12K, 3.4M, 1.2G (powers of 1024)."""
    for unit in _UNITS:
        if abs(value) < 1000 or unit == _UNITS[-1]:
            return f"{value:.0f}{unit}" if unit == "" or abs(value) >= 10 else f"{value:.1f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")
