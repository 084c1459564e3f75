"""NVML reads for a local node (nvidia-ml-py). Same GpuReading as the nvidia-smi path, in the same units."""

from __future__ import annotations

import asyncio
import threading
import time
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


# Where each GPU's per-process utilisation samples were last read up to (NVML's microsecond timestamps):
# the next read averages the samples since then, as pmon gives the share over its last interval.
_util_seen: dict[str, int] = {}
UTIL_FIRST_WINDOW_US = 1_000_000  # a GPU read for the first time: its last second
UTIL_MAX_WINDOW_US = 60_000_000  # never average over more than a minute (a read after a long pause)


def _percent(value: Any) -> float | None:
    number = finite(value)
    return number if number is not None and 0 <= number <= 100 else None  # past 100: not a share


def read_process_utilisation(
    nvml: Any, handle: Any, uuid: str, seen: dict[str, int] | None = None
) -> dict[int, tuple[float | None, float | None]]:
    """Each process's (SM %, memory-bandwidth %) on one GPU, the mean of NVML's samples since this GPU was
    last read (nvmlDeviceGetProcessUtilization); {} when NVML has none (idle, or not supported)."""
    seen = _util_seen if seen is None else seen
    now_us = time.time_ns() // 1000
    since = max(seen.get(uuid, now_us - UTIL_FIRST_WINDOW_US), now_us - UTIL_MAX_WINDOW_US)
    samples = _safe(nvml.nvmlDeviceGetProcessUtilization, handle, since) or ()
    shares: dict[int, tuple[list[float], list[float]]] = {}
    newest = since
    for sample in list(samples)[: MAX_PROCESSES * 64]:
        pid, stamp = finite(getattr(sample, "pid", None)), finite(getattr(sample, "timeStamp", None))
        if pid is None or stamp is None or stamp < since:
            continue
        newest = max(newest, int(stamp))
        sm, mem = shares.setdefault(int(pid), ([], []))
        if (value := _percent(getattr(sample, "smUtil", None))) is not None:
            sm.append(value)
        if (value := _percent(getattr(sample, "memUtil", None))) is not None:
            mem.append(value)
    seen[uuid] = newest
    return {
        pid: (sum(sm) / len(sm) if sm else None, sum(mem) / len(mem) if mem else None)
        for pid, (sm, mem) in shares.items()
    }


def read_nvml_processes(
    nvml: Any, readings: tuple[GpuReading, ...], seen: dict[str, int] | None = None
) -> tuple[GpuProcess, ...]:
    """Compute processes per GPU (NVML), each with its container from this machine's /proc/PID/cgroup and
    its SM and memory-bandwidth shares since the previous read (None when NVML has no sample of it)."""
    processes = []
    for reading in readings:
        handle = nvml.nvmlDeviceGetHandleByIndex(reading.index)
        running = list(_safe(nvml.nvmlDeviceGetComputeRunningProcesses, handle) or ())[:MAX_PROCESSES]
        shares = read_process_utilisation(nvml, handle, reading.uuid, seen) if running else {}
        for info in running:
            pid = int(info.pid)
            used = getattr(info, "usedGpuMemory", None)
            name = _decode(_safe(nvml.nvmlSystemGetProcessName, pid)) or ""
            try:
                with open(f"/proc/{pid}/cgroup", encoding="utf-8") as cgroup:
                    container = container_id_from_cgroup(cgroup.read())
            except OSError:
                container = None
            sm_pct, mem_bw_pct = shares.get(pid, (None, None))
            processes.append(
                GpuProcess(
                    pid=pid,
                    name=name.rsplit("/", 1)[-1],
                    used_memory_mib=_scaled(used, _MIB),
                    gpu_uuid=reading.uuid,
                    container_id=container,
                    sm_pct=sm_pct,
                    mem_bw_pct=mem_bw_pct,
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
