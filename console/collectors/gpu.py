"""GPU collector: one `nvidia-smi --query-gpu` round trip per poll (NVML when the node is local)."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from console.collectors.gpu_processes import APPS_MARK, apps_script, parse_apps_output
from console.model.gpu import GpuProcess as GpuProcess
from console.model.gpu import GpuReading as GpuReading
from console.model.gpu import GpuSnapshot as GpuSnapshot
from console.model.gpu import GpuSource as GpuSource
from console.model.gpu import GpuStatus as GpuStatus
from console.text import clean_line, finite
from console.transport.base import CommandTimeout, Transport, TransportError

# The field list matches the real captures in tests/fixtures/gpu, so the replay there can serve it verbatim.
QUERY_FIELDS: tuple[str, ...] = (
    "index",
    "uuid",
    "name",
    "driver_version",
    "pci.bus_id",
    "temperature.gpu",
    "utilization.gpu",
    "utilization.memory",
    "memory.total",
    "memory.used",
    "memory.free",
    "power.draw",
    "power.limit",
    "clocks.sm",
    "clocks.mem",
    "fan.speed",
    "pstate",
    "ecc.errors.uncorrected.volatile.total",
    "compute_mode",
)
QUERY_COMMAND = f"nvidia-smi --query-gpu={','.join(QUERY_FIELDS)} --format=csv,noheader,nounits"
# One round trip per poll: the GPUs, then their processes and each process's cgroup (for its container).
POLL_COMMAND = f"{QUERY_COMMAND} || exit $?; {apps_script()}"

# A node has at most a few dozen GPUs; more rows than this is output we cannot trust, not a bigger node.
MAX_GPUS = 64
# nvidia-smi's index is a small decimal number; str.isdigit() would also take "²" or "٣".
_INDEX = re.compile(r"[0-9]{1,4}")

# What nvidia-smi prints for a value the board does not report.
_MISSING = {
    "",
    "[n/a]",
    "n/a",
    "[not supported]",
    "not supported",
    "[unknown error]",
    "[insufficient permissions]",
}


class GpuParseError(ValueError):
    """nvidia-smi printed something we cannot read as the query we sent."""


def _text(raw: str) -> str | None:
    value = raw.strip()
    return None if value.lower() in _MISSING else clean_line(value)


def _number(raw: str) -> float | None:
    # The first word (units tolerated if a caller forgot `nounits`); "[N/A]", "nan", "inf": unknown.
    words = raw.split(None, 1)
    return finite(words[0]) if words else None


def _integer(raw: str) -> int | None:
    number = _number(raw)
    return None if number is None else int(number)


def _quote(row: Sequence[str]) -> str:
    return clean_line(",".join(row), limit=200)


def parse_index(raw: str) -> int | None:
    """A GPU index as nvidia-smi prints it (ASCII digits), or None."""
    value = raw.strip()
    return int(value) if _INDEX.fullmatch(value) else None


def parse_query_gpu(text: str, fields: Sequence[str] = QUERY_FIELDS) -> tuple[GpuReading, ...]:
    """Parse `--query-gpu=FIELDS --format=csv,noheader,nounits` output (one sample) into readings.

    Raises GpuParseError for output that is not that query's answer: a wrong field count, an index that is
    not a number, the same index twice (one sample lists each GPU once: 64 rows of "GPU 0" are garbled
    output, not one GPU and not 64), more than MAX_GPUS rows. Every string is cleaned (console/text.py)
    and every number finite or None.
    """
    return _parse(text, fields, series=False)


def parse_query_gpu_series(text: str, fields: Sequence[str] = QUERY_FIELDS) -> tuple[GpuReading, ...]:
    """A recorded series (`-lms N` output of one GPU, one row per sample): a reading per row, in order."""
    return _parse(text, fields, series=True)


def _parse(text: str, fields: Sequence[str], *, series: bool) -> tuple[GpuReading, ...]:
    readings: list[GpuReading] = []
    seen_index: set[int] = set()
    try:
        for row in csv.reader(io.StringIO(text), skipinitialspace=True):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(readings) == MAX_GPUS and not series:
                raise GpuParseError(f"more than {MAX_GPUS} GPU rows")
            if len(row) != len(fields):
                raise GpuParseError(f"expected {len(fields)} fields, got {len(row)}: {_quote(row)}")
            reading = _reading(dict(zip(fields, row, strict=True)), row)
            if reading.index in seen_index and not series:
                raise GpuParseError(f"GPU index {reading.index} appears more than once: {_quote(row)}")
            seen_index.add(reading.index)
            readings.append(reading)
    except csv.Error as exc:  # a field past csv's size limit, and the like
        raise GpuParseError(f"not CSV: {clean_line(exc, limit=200)}") from None
    return tuple(readings)


def _reading(cell: dict[str, str], row: Sequence[str]) -> GpuReading:
    index = parse_index(cell.get("index", ""))
    if index is None:
        raise GpuParseError(f"row without a GPU index: {_quote(row)}")
    return GpuReading(
        index=index,
        uuid=_text(cell.get("uuid", "")) or f"gpu{index}",
        name=_text(cell.get("name", "")) or "unknown GPU",
        driver=_text(cell.get("driver_version", "")),
        pci_bus_id=_text(cell.get("pci.bus_id", "")),
        temperature_c=_number(cell.get("temperature.gpu", "")),
        util_gpu_pct=_number(cell.get("utilization.gpu", "")),
        util_mem_pct=_number(cell.get("utilization.memory", "")),
        memory_total_mib=_number(cell.get("memory.total", "")),
        memory_used_mib=_number(cell.get("memory.used", "")),
        power_draw_w=_number(cell.get("power.draw", "")),
        power_limit_w=_number(cell.get("power.limit", "")),
        sm_clock_mhz=_number(cell.get("clocks.sm", "")),
        mem_clock_mhz=_number(cell.get("clocks.mem", "")),
        fan_pct=_number(cell.get("fan.speed", "")),
        pstate=_text(cell.get("pstate", "")),
        ecc_uncorrected=_integer(cell.get("ecc.errors.uncorrected.volatile.total", "")),
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _nvidia_smi_failure(exit_status: int, output: str) -> tuple[GpuStatus, str]:
    text = clean_line(" ".join(output[:4096].split()), limit=300)
    lowered = text.lower()
    if exit_status == 127 or "nvidia-smi: not found" in lowered or "nvidia-smi: command not found" in lowered:
        return "no_tooling", "no GPU tooling: nvidia-smi not found"
    if "couldn't communicate with the nvidia driver" in lowered:
        return "error", "nvidia-smi cannot talk to the NVIDIA driver (driver not loaded?)"
    if "no devices were found" in lowered:
        return "error", "nvidia-smi found no GPUs"
    return "error", f"nvidia-smi exited {exit_status}: {text or 'no output'}"


async def collect_gpus(
    transport: Transport,
    *,
    timeout: float | None = None,
    nvml_reader: Callable[[], tuple[tuple[GpuReading, ...], tuple[GpuProcess, ...]] | None] | None = None,
) -> GpuSnapshot:
    """Read every GPU of the node in one round trip. Connection errors propagate; GPU trouble does not."""
    started = time.monotonic()
    if transport.is_local:
        from console.collectors.nvml import read_nvml_threaded

        nvml = await read_nvml_threaded(nvml_reader)
        if nvml is not None:
            return GpuSnapshot(
                node=transport.node_name,
                taken_at=_now(),
                source="nvml",
                status="ok",
                gpus=nvml[0],
                duration_s=time.monotonic() - started,
                processes=nvml[1],
            )
    try:
        result = await transport.run(POLL_COMMAND, timeout=timeout)
    except CommandTimeout as exc:
        return GpuSnapshot(transport.node_name, _now(), "nvidia-smi", "error", error=clean_line(exc))
    except TransportError:
        raise
    duration = time.monotonic() - started
    if not result.ok:
        status, message = _nvidia_smi_failure(result.exit_status, result.stdout + " " + result.stderr)
        return GpuSnapshot(
            transport.node_name, _now(), "nvidia-smi", status, error=message, duration_s=duration
        )
    gpu_text, _, apps_text = result.stdout.partition(APPS_MARK)
    try:
        readings = parse_query_gpu(gpu_text)
    except GpuParseError as exc:
        return GpuSnapshot(
            transport.node_name, _now(), "nvidia-smi", "error", error=f"unreadable nvidia-smi output: {exc}"
        )
    return GpuSnapshot(
        transport.node_name,
        _now(),
        "nvidia-smi",
        "ok",
        gpus=readings,
        duration_s=duration,
        processes=parse_apps_output(apps_text),
    )
