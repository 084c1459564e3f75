"""Hardware: what a node's inventory says it has (`hardware:`) and what the node reports (CPU, memory, GPUs,
NIC speeds), with its OS (`/etc/os-release`) and SELinux mode, read in one round trip per connection.

Standard library only. Every number is finite or None (not reported); every string was cleaned where it
entered (console/collectors/hardware.py). `compare` is the one place a profile meets a reading: the check
(`hardware.profile`) and the node screen both read its sentences.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

# MemTotal is installed RAM less what the kernel keeps for itself before it counts (its code, the page
# structs: 64 bytes per 4 KiB page = 1.6 %, firmware-reserved ranges, a crash kernel): 1.5-3 % on servers.
# 4 % passes that and still catches one missing DIMM of 24 equal ones (4.2 %).
MEMORY_BELOW_PCT = 4.0
# nvidia-smi's memory.total leaves out what the driver reserves, and on GDDR cards with ECC on 1/16 of it
# (an L40S, sold as 48 GB, reports 46068 MiB = 45 GiB): 8 % either way; 80 vs 96 GB or 40 vs 48 is > 16 %.
GPU_MEMORY_PCT = 8.0
DEBIAN_FAMILY = ("debian", "ubuntu")

SelinuxMode = Literal["enforcing", "permissive", "disabled"]


@dataclass(frozen=True, slots=True)
class GpuProfile:
    count: int
    model: str | None = None  # a part of nvidia-smi's name, case ignored: "RTX PRO 6000", "L40S"
    memory_gb: float | None = None  # per GPU, as sold (GiB)


@dataclass(frozen=True, slots=True)
class NicProfile:
    name: str  # the interface name on the node: eth1, ens1f0np0
    speed_gbps: float


@dataclass(frozen=True, slots=True)
class HardwareProfile:
    """A node's `hardware:` (inventory): each key left out is not compared."""

    cpu_model: str | None = None  # a part of /proc/cpuinfo's model name, case ignored: "EPYC 9655"
    cpu_cores: int | None = None  # physical cores, every socket together
    memory_gb: float | None = None  # installed RAM (GiB, as DIMMs are sold)
    gpus: GpuProfile | None = None
    nics: tuple[NicProfile, ...] = ()


@dataclass(frozen=True, slots=True)
class GpuInfo:
    name: str
    memory_mib: float | None


@dataclass(frozen=True, slots=True)
class NicInfo:
    name: str
    speed_mbps: float | None  # None: link down or no speed (virtual interfaces)
    physical: bool  # has a device behind it (/sys/class/net/NAME/device)


@dataclass(frozen=True, slots=True)
class OsRelease:
    """/etc/os-release's fields that matter here (cleaned)."""

    id: str | None = None  # "rocky", "ubuntu"
    id_like: tuple[str, ...] = ()  # ("rhel", "centos", "fedora")
    version_id: str | None = None  # "9.3"
    pretty_name: str | None = None  # "Rocky Linux 9.3 (Blue Onyx)"
    name: str | None = None  # "Rocky Linux"

    @property
    def family(self) -> str | None:
        """ "debian" (Debian, Ubuntu, derivatives), "rhel" (Rocky, Alma, RHEL, CentOS, Fedora), or the ID
        itself; None when unknown."""
        words = (self.id or "", *self.id_like)
        if any(word in DEBIAN_FAMILY for word in words):
            return "debian"
        if any(word in ("rhel", "fedora", "centos") for word in words):
            return "rhel"
        return self.id

    @property
    def described(self) -> str:
        """ "Rocky Linux 9.3": the name and version, else the pretty name, else the ID."""
        if self.name and self.version_id:
            return f"{self.name} {self.version_id}"
        return self.pretty_name or self.name or self.id or "an unknown OS"


@dataclass(frozen=True, slots=True)
class HardwareSnapshot:
    """What the node reported. `error`: nothing was read; otherwise a part it could not give is None/empty
    and `notes` say why (no nvidia-smi, nvidia-smi failed)."""

    node: str
    taken_at: datetime
    cpu_model: str | None = None
    cpu_cores: int | None = None  # distinct (physical id, core id) pairs
    cpu_threads: int | None = None  # logical CPUs
    cpu_sockets: int | None = None
    memory_kib: float | None = None  # MemTotal
    gpus: tuple[GpuInfo, ...] | None = None  # None: no nvidia-smi on the node (or it failed: notes)
    nics: tuple[NicInfo, ...] = ()
    os: OsRelease | None = None
    selinux: SelinuxMode | None = None
    notes: tuple[str, ...] = ()
    error: str | None = None
    duration_s: float | None = None

    @property
    def memory_gib(self) -> float | None:
        return None if self.memory_kib is None else self.memory_kib / 1024**2

    def nic(self, name: str) -> NicInfo | None:
        return next((nic for nic in self.nics if nic.name == name), None)


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"


def _within(measured: float, expected: float, below_pct: float, above_pct: float) -> bool:
    return expected * (1 - below_pct / 100) <= measured <= expected * (1 + above_pct / 100)


def _contains(name: str, part: str) -> bool:
    return " ".join(part.lower().split()) in " ".join(name.lower().split())


def compare(profile: HardwareProfile, seen: HardwareSnapshot) -> tuple[list[str], list[str]]:
    """(differences, unknowns): one sentence per way the node differs from its profile ("memory 512 GB,
    profile says 768"), and per profiled value the node did not report ("no CPU model in /proc/cpuinfo")."""
    differ: list[str] = []
    unknown: list[str] = []
    if profile.cpu_model is not None:
        if seen.cpu_model is None:
            unknown.append("no CPU model in /proc/cpuinfo")
        elif not _contains(seen.cpu_model, profile.cpu_model):
            differ.append(f"CPU {seen.cpu_model}, profile says {profile.cpu_model}")
    if profile.cpu_cores is not None:
        if seen.cpu_cores is None:
            unknown.append("no physical core ids in /proc/cpuinfo")
        elif seen.cpu_cores != profile.cpu_cores:
            differ.append(f"{seen.cpu_cores} CPU cores, profile says {profile.cpu_cores}")
    if profile.memory_gb is not None:
        gib = seen.memory_gib
        if gib is None:
            unknown.append("no MemTotal in /proc/meminfo")
        elif not _within(gib, profile.memory_gb, MEMORY_BELOW_PCT, 1.0):
            differ.append(f"memory {_number(gib)} GB, profile says {_number(profile.memory_gb)}")
    if profile.gpus is not None:
        _compare_gpus(profile.gpus, seen, differ, unknown)
    for nic in profile.nics:
        found = seen.nic(nic.name)
        want = _number(nic.speed_gbps)
        if found is None:
            differ.append(f"no {nic.name}, profile says {want} Gb/s")
        elif found.speed_mbps is None:
            differ.append(f"{nic.name} has no link speed (down?), profile says {want} Gb/s")
        elif abs(found.speed_mbps / 1000 - nic.speed_gbps) > 0.001 * nic.speed_gbps:
            differ.append(f"{nic.name} at {_number(found.speed_mbps / 1000)} Gb/s, profile says {want}")
    return differ, unknown


def _compare_gpus(want: GpuProfile, seen: HardwareSnapshot, differ: list[str], unknown: list[str]) -> None:
    if seen.gpus is None:
        if want.count > 0:
            note = seen.notes[0] if seen.notes else "no nvidia-smi on the node"
            differ.append(f"{note}, profile says {want.count} GPU{'s' if want.count != 1 else ''}")
        return
    if len(seen.gpus) != want.count:
        differ.append(f"{len(seen.gpus)} GPU{'s' if len(seen.gpus) != 1 else ''}, profile says {want.count}")
    for index, gpu in enumerate(seen.gpus):
        if want.model is not None and not _contains(gpu.name, want.model):
            differ.append(f"GPU {index} is {gpu.name}, profile says {want.model}")
        if want.memory_gb is not None:
            if gpu.memory_mib is None:
                unknown.append(f"GPU {index} reports no memory size")
            elif not _within(gpu.memory_mib / 1024, want.memory_gb, GPU_MEMORY_PCT, GPU_MEMORY_PCT):
                differ.append(
                    f"GPU {index} has {_number(gpu.memory_mib / 1024)} GB, "
                    f"profile says {_number(want.memory_gb)}"
                )
