"""hardware.profile: the node's CPU, memory, GPUs and NIC speeds against its inventory `hardware:` profile.

Every difference is its own sentence in the summary ("memory 512 GB, profile says 768; eth1 at 10 Gb/s,
profile says 25"); the tolerances (MemTotal below installed RAM, GPU memory as nvidia-smi reports it) are
console.model.hardware's. A difference is a warning: the live sections (gpu.count, the GPU checks) already
judge a GPU that fell off the bus as critical; this one says the machine is not the one described.
"""

from __future__ import annotations

from console.model.checks import CheckResult, Status
from console.model.hardware import HardwareProfile, HardwareSnapshot, compare
from console.model.inventory import Node
from console.model.node import NodeSnapshot

PROFILE = "hardware.profile"
FIX = "check the node's hardware (a DIMM, GPU or link missing or slow) or correct its inventory profile"


def profile_of(node: Node) -> HardwareProfile | None:
    value = node.settings("hardware")
    return value if isinstance(value, HardwareProfile) else None


def planned_hardware(node: Node) -> tuple[tuple[str, str | None], ...]:
    return ((PROFILE, None),) if profile_of(node) is not None else ()


def described(seen: HardwareSnapshot) -> str:
    """What the node has, in one line: "2×48 cores (192 threads), 755 GB, 4× NVIDIA L40S"."""
    parts: list[str] = []
    if seen.cpu_cores is not None:
        threads = f" ({seen.cpu_threads} threads)" if seen.cpu_threads not in (None, seen.cpu_cores) else ""
        parts.append(f"{seen.cpu_cores} cores{threads}")
    elif seen.cpu_threads is not None:
        parts.append(f"{seen.cpu_threads} CPUs")
    if seen.memory_gib is not None:
        parts.append(f"{seen.memory_gib:.0f} GB")
    if seen.gpus:
        names = sorted({gpu.name for gpu in seen.gpus})
        parts.append(f"{len(seen.gpus)}× {names[0]}" if len(names) == 1 else f"{len(seen.gpus)} GPUs")
    return ", ".join(parts) or "nothing reported"


def evaluate_hardware(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    profile = profile_of(node)
    if profile is None:
        return ()
    seen: HardwareSnapshot | None = snapshot.hardware
    if seen is None:
        return (CheckResult(node.name, PROFILE, Status.UNKNOWN, "no hardware data"),)
    if seen.error is not None:
        return (CheckResult(node.name, PROFILE, Status.UNKNOWN, f"hardware not read: {seen.error}"),)
    differ, unknown = compare(profile, seen)
    if differ:
        return (CheckResult(node.name, PROFILE, Status.WARNING, "; ".join(differ + unknown), fix=FIX),)
    if unknown:
        return (CheckResult(node.name, PROFILE, Status.UNKNOWN, "; ".join(unknown)),)
    return (CheckResult(node.name, PROFILE, Status.OK, f"as profiled: {described(seen)}"),)
