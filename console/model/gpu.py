"""The GPU section's snapshot: every GPU of a node, and the processes holding GPU memory, from one poll."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal


@dataclass(frozen=True, slots=True)
class GpuProcess:
    """A process holding GPU memory, and (when it runs in one) its container."""

    pid: int
    name: str
    used_memory_mib: float | None
    gpu_uuid: str | None
    container_id: str | None = None
    container_name: str | None = None
    compose_service: str | None = None
    # From the `nvidia-smi pmon` stream (console/streams/pmon.py): the share of the GPU's time its kernels ran
    # (SM %) and of its memory controller's (memory bandwidth %), over the last interval; None when unknown.
    sm_pct: float | None = None
    mem_bw_pct: float | None = None
    kind: str | None = None  # "C" compute, "G" graphics, "C+G"


GpuSource = Literal["nvidia-smi", "nvml", "prometheus"]
GpuStatus = Literal["ok", "no_tooling", "error"]


@dataclass(frozen=True, slots=True)
class GpuReading:
    """One GPU at one moment. A metric the board does not report is None."""

    index: int
    uuid: str
    name: str
    driver: str | None = None
    pci_bus_id: str | None = None
    temperature_c: float | None = None
    util_gpu_pct: float | None = None
    util_mem_pct: float | None = None
    memory_total_mib: float | None = None
    memory_used_mib: float | None = None
    power_draw_w: float | None = None
    power_limit_w: float | None = None
    sm_clock_mhz: float | None = None
    mem_clock_mhz: float | None = None
    fan_pct: float | None = None
    pstate: str | None = None
    ecc_uncorrected: int | None = None


@dataclass(frozen=True, slots=True)
class GpuSnapshot:
    """Every GPU of one node from one poll. `status` says whether the tooling exists and answered."""

    node: str
    taken_at: datetime
    source: GpuSource
    status: GpuStatus
    gpus: tuple[GpuReading, ...] = ()
    error: str | None = None
    duration_s: float | None = None
    processes: tuple[GpuProcess, ...] = ()

    @property
    def driver(self) -> str | None:
        return next((gpu.driver for gpu in self.gpus if gpu.driver), None)
