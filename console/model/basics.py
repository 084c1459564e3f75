"""The basics' snapshot: load, memory, swap, uptime, kernel and disk use, what an operator wants by GPUs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
    """What an operator wants next to GPU data. A value the node did not give is None."""

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
    error: str | None = None
    duration_s: float | None = None

    @property
    def mem_used_pct(self) -> float | None:
        if not self.mem_total_kib or self.mem_available_kib is None:
            return None
        return 100.0 * (self.mem_total_kib - self.mem_available_kib) / self.mem_total_kib

    def disk(self, path: str) -> DiskUse | None:
        return next((disk for disk in self.disks if disk.path == path), None)
