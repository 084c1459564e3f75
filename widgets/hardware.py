"""The node header's hardware line: OS, SELinux mode, CPU, memory, GPUs and the physical NICs' speeds, as
the hardware section read them (once per connection). Render only; every string was cleaned in the core."""

from __future__ import annotations

from rich.text import Text

from console.model.hardware import HardwareSnapshot

MAX_NICS = 6  # the physical ones; a node with more says how many more


def _speed(mbps: float | None) -> str:
    if mbps is None:
        return "down"
    gbps = mbps / 1000
    return f"{gbps:.0f}G" if gbps >= 1 and abs(gbps - round(gbps)) < 0.05 else f"{mbps:.0f}M"


def hardware_text(hardware: HardwareSnapshot | None) -> Text | None:
    """'Rocky Linux 9.3 · SELinux enforcing · AMD EPYC 9655 96-Core Processor, 192 cores/384 threads ·
    755 GB · 4× RTX PRO 6000 Blackwell Server Edition 96 GB · eth0 25G eth1 down'; None before the first
    read."""
    if hardware is None:
        return None
    if hardware.error is not None:
        return Text(f"hardware: {hardware.error}", style="dim yellow")
    parts: list[str] = []
    if hardware.os is not None:
        parts.append(hardware.os.described)
    if hardware.selinux is not None:
        parts.append(f"SELinux {hardware.selinux}")
    cpu = hardware.cpu_model or "CPU"
    if hardware.cpu_cores is not None and hardware.cpu_threads not in (None, hardware.cpu_cores):
        parts.append(f"{cpu}, {hardware.cpu_cores} cores/{hardware.cpu_threads} threads")
    elif hardware.cpu_threads is not None:
        parts.append(f"{cpu}, {hardware.cpu_threads} CPUs")
    if hardware.memory_gib is not None:
        parts.append(f"{hardware.memory_gib:.0f} GB")
    if hardware.gpus:
        names = sorted({gpu.name.removeprefix("NVIDIA ") for gpu in hardware.gpus})  # as the GPU table
        sizes = {gpu.memory_mib for gpu in hardware.gpus}
        size = next(iter(sizes)) if len(sizes) == 1 else None
        memory = f" {size / 1024:.0f} GB" if size is not None else ""
        parts.append(
            f"{len(hardware.gpus)}× {names[0]}{memory}" if len(names) == 1 else f"{len(hardware.gpus)} GPUs"
        )
    physical = [nic for nic in hardware.nics if nic.physical]
    if physical:
        shown = " ".join(f"{nic.name} {_speed(nic.speed_mbps)}" for nic in physical[:MAX_NICS])
        more = f" +{len(physical) - MAX_NICS}" if len(physical) > MAX_NICS else ""
        parts.append(shown + more)
    return Text(" · ".join(parts), style="dim") if parts else None
