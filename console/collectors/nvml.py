"""NVML reads for a local node (nvidia-ml-py). Same GpuReading as the nvidia-smi path, in the same units."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from console.collectors.gpu import GpuReading
from console.collectors.gpu_processes import MAX_PROCESSES, GpuProcess, container_id_from_cgroup
from console.text import clean_optional, finite

_MIB = 1024 * 1024
_lock = threading.Lock()
_state: dict[str, Any] = {"initialised": None}  # None: not tried yet; False: NVML unavailable here


def _init_nvml() -> Any | None:
    """Load and initialise NVML once per process; None when there is no driver or library."""
    with _lock:
        if _state["initialised"] is False:
            return None
        try:
            import pynvml

            if not _state["initialised"]:
                pynvml.nvmlInit()
                _state["initialised"] = True
            return pynvml
        except Exception:  # ImportError, NVMLError_LibraryNotFound, NVMLError_DriverNotLoaded, ...
            _state["initialised"] = False
            return None


def _safe(call: Callable[..., Any], *args: Any) -> Any | None:
    """A metric the board does not support (NVMLError_NotSupported and kin) is None, never an exception."""
    try:
        return call(*args)
    except Exception:
        return None


def _decode(value: Any) -> str | None:
    if value is None:
        return None
    return clean_optional(value.decode(errors="replace") if isinstance(value, bytes) else str(value))


def read_nvml_readings(nvml: Any) -> tuple[GpuReading, ...]:
    """Read every GPU through an initialised NVML module (pynvml or anything with its API)."""
    driver = _decode(_safe(nvml.nvmlSystemGetDriverVersion))
    readings = []
    for index in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        util = _safe(nvml.nvmlDeviceGetUtilizationRates, handle)
        memory = _safe(nvml.nvmlDeviceGetMemoryInfo, handle)
        power = _safe(nvml.nvmlDeviceGetPowerUsage, handle)
        limit = _safe(nvml.nvmlDeviceGetEnforcedPowerManagementLimit, handle)
        pstate = _safe(nvml.nvmlDeviceGetPerformanceState, handle)
        pci = _safe(nvml.nvmlDeviceGetPciInfo, handle)
        ecc = _safe(
            nvml.nvmlDeviceGetTotalEccErrors,
            handle,
            nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
            nvml.NVML_VOLATILE_ECC,
        )
        readings.append(
            GpuReading(
                index=index,
                uuid=_decode(_safe(nvml.nvmlDeviceGetUUID, handle)) or f"gpu{index}",
                name=_decode(_safe(nvml.nvmlDeviceGetName, handle)) or "unknown GPU",
                driver=driver,
                pci_bus_id=_decode(getattr(pci, "busId", None)),
                temperature_c=_float(_safe(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)),
                util_gpu_pct=_float(getattr(util, "gpu", None)),
                util_mem_pct=_float(getattr(util, "memory", None)),
                memory_total_mib=_scaled(getattr(memory, "total", None), _MIB),
                memory_used_mib=_scaled(getattr(memory, "used", None), _MIB),
                power_draw_w=_scaled(power, 1000),
                power_limit_w=_scaled(limit, 1000),
                sm_clock_mhz=_float(_safe(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_SM)),
                mem_clock_mhz=_float(_safe(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_MEM)),
                fan_pct=_float(_safe(nvml.nvmlDeviceGetFanSpeed, handle)),
                pstate=None if pstate is None else f"P{int(pstate)}",
                ecc_uncorrected=None if (ecc_count := finite(ecc)) is None else int(ecc_count),
            )
        )
    return tuple(readings)


def _float(value: Any) -> float | None:
    return finite(value)


def _scaled(value: Any, divisor: int) -> float | None:
    number = finite(value)
    return None if number is None else round(number / divisor, 2)


def read_nvml_processes(nvml: Any, readings: tuple[GpuReading, ...]) -> tuple[GpuProcess, ...]:
    """Compute processes per GPU (NVML), each with its container from this machine's /proc/PID/cgroup."""
    processes = []
    for reading in readings:
        handle = nvml.nvmlDeviceGetHandleByIndex(reading.index)
        for info in list(_safe(nvml.nvmlDeviceGetComputeRunningProcesses, handle) or ())[:MAX_PROCESSES]:
            pid = int(info.pid)
            used = getattr(info, "usedGpuMemory", None)
            name = _decode(_safe(nvml.nvmlSystemGetProcessName, pid)) or ""
            try:
                with open(f"/proc/{pid}/cgroup", encoding="utf-8") as cgroup:
                    container = container_id_from_cgroup(cgroup.read())
            except OSError:
                container = None
            processes.append(
                GpuProcess(
                    pid=pid,
                    name=name.rsplit("/", 1)[-1],
                    used_memory_mib=_scaled(used, _MIB),
                    gpu_uuid=reading.uuid,
                    container_id=container,
                )
            )
    return tuple(processes)


def read_nvml_with_processes() -> tuple[tuple[GpuReading, ...], tuple[GpuProcess, ...]] | None:
    """Readings and compute processes in one NVML pass; None when NVML is not usable here."""
    nvml = _init_nvml()
    if nvml is None:
        return None
    try:
        readings = read_nvml_readings(nvml)
        return readings, read_nvml_processes(nvml, readings)
    except Exception:
        return None


def read_nvml() -> tuple[GpuReading, ...] | None:
    """Every local GPU through NVML, or None when NVML is not usable here (then nvidia-smi is tried)."""
    nvml = _init_nvml()
    if nvml is None:
        return None
    try:
        return read_nvml_readings(nvml)
    except Exception:
        return None


NvmlReader = Callable[[], tuple[tuple[GpuReading, ...], tuple[GpuProcess, ...]] | None]


async def read_nvml_threaded(
    reader: NvmlReader | None = None,
) -> tuple[tuple[GpuReading, ...], tuple[GpuProcess, ...]] | None:
    """NVML calls block in the driver: keep them off the event loop."""
    return await asyncio.to_thread(reader or read_nvml_with_processes)
