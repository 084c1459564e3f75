"""The node's GPUs (one row per board, with history sparklines) and the processes holding GPU memory."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text

from console.history import SCALES, Metric
from console.model.checks import Status
from console.model.docker import ContainerInfo, DockerSnapshot
from console.model.gpu import GpuProcess, GpuReading, GpuSnapshot
from console.model.levels import NodeLevels
from widgets.keyed_table import Column, KeyedTable
from widgets.sparkline import spark
from widgets.status import DASH, level_style, or_dash

TREND = 12
History = Callable[[int, Metric], Sequence[float]]  # (GPU index, metric) -> values, oldest first


def short_name(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'H100 80GB HBM3' (the vendor is the same on every row)."""
    return name.removeprefix("NVIDIA ").removeprefix("GeForce ")


def gpu_cells(
    reading: GpuReading,
    history: History,
    temperature: Status | None = None,
    ecc: Status | None = None,
    trend: int = TREND,
) -> dict[str, Text]:
    """One GPU's row; `temperature` and `ecc` are the levels the checks gave its readings (their colour)."""
    cells: dict[str, Text] = {"gpu": Text.assemble((f"{reading.index} ", "bold"), short_name(reading.name))}
    cells["util"] = or_dash(reading.util_gpu_pct, "{:.0f}%")
    if reading.memory_used_mib is not None and reading.memory_total_mib:
        cells["memory"] = Text(
            f"{reading.memory_used_mib / 1024:.1f}/{reading.memory_total_mib / 1024:.1f} GiB", justify="right"
        )
    else:
        cells["memory"] = DASH
    cells["temp"] = or_dash(reading.temperature_c, "{:.0f}°C", style=level_style(temperature))
    if reading.power_draw_w is not None:
        limit = f"/{reading.power_limit_w:.0f}" if reading.power_limit_w is not None else ""
        cells["power"] = Text(f"{reading.power_draw_w:.0f}{limit} W", justify="right")
    else:
        cells["power"] = DASH
    if reading.sm_clock_mhz is not None or reading.mem_clock_mhz is not None:
        sm = f"{reading.sm_clock_mhz:.0f}" if reading.sm_clock_mhz is not None else "–"
        mem = f"{reading.mem_clock_mhz:.0f}" if reading.mem_clock_mhz is not None else "–"
        cells["clocks"] = Text(f"{sm}/{mem} MHz", justify="right")
    else:
        cells["clocks"] = DASH
    cells["pstate"] = Text(reading.pstate) if reading.pstate else DASH
    errors = reading.ecc_uncorrected
    cells["ecc"] = DASH if errors is None else Text(str(errors), style=level_style(ecc), justify="right")
    trends: tuple[tuple[Metric, str], ...] = (
        ("util", "util_trend"),
        ("memory", "mem_trend"),
        ("temperature", "temp_trend"),
    )
    for metric, key in trends:
        cells[key] = spark(history(reading.index, metric), trend, *SCALES[metric])
    top = reading.power_limit_w or SCALES["power"][1]
    cells["power_trend"] = spark(history(reading.index, "power"), trend, 0.0, top)
    return cells


class GpuTable(KeyedTable):
    COLUMNS = (
        Column("gpu", "GPU", 14, 0, flex=True, keep=True),
        Column("util", "Util", 4, 0),
        Column("util_trend", "Util history", TREND, 6),
        Column("memory", "Memory", 13, 1),
        Column("mem_trend", "Mem history", TREND, 8),
        Column("temp", "Temp", 5, 1),
        Column("temp_trend", "Temp history", TREND, 7),
        Column("power", "Power", 10, 2),
        Column("power_trend", "Pwr history", TREND, 7),
        Column("clocks", "SM/Mem clock", 13, 5),
        Column("pstate", "PS", 3, 4),
        Column("ecc", "ECC", 3, 3),
    )

    def show(self, gpu: GpuSnapshot | None, history: History, levels: NodeLevels) -> None:
        readings = gpu.gpus if gpu is not None and gpu.status == "ok" else ()
        self.sync(
            {
                f"gpu{r.index}": gpu_cells(r, history, levels.gpu_level(r.index), levels.ecc_level(r.index))
                for r in readings
            }
        )


def find_container(docker: DockerSnapshot | None, container_id: str | None) -> ContainerInfo | None:
    """The container a process runs in, matched by id prefix (either side may be the 12-character form)."""
    if docker is None or not container_id:
        return None
    for container in docker.containers:
        if container.id.startswith(container_id) or container_id.startswith(container.id):
            return container
    return None


def process_cells(process: GpuProcess, gpu: GpuSnapshot, docker: DockerSnapshot | None) -> dict[str, Text]:
    index = next((r.index for r in gpu.gpus if r.uuid == process.gpu_uuid), None)
    container = find_container(docker, process.container_id)
    name = container.name if container is not None else process.container_name
    if container is not None and container.compose_project:
        compose = f"{container.compose_project}/{container.compose_service or '?'}"
    else:
        compose = process.compose_service or ""
    if name:
        owner = Text(name, style="bold")
    elif process.container_id:
        owner = Text(f"{process.container_id[:12]} (gone)", style="yellow")
    else:
        owner = Text("host", style="dim")
    return {
        "pid": Text(str(process.pid), justify="right"),
        "gpu": DASH if index is None else Text(str(index), justify="right"),
        "name": Text(process.name),
        "memory": or_dash(process.used_memory_mib, "{:.0f} MiB"),
        "container": owner,
        "compose": Text(compose) if compose else DASH,
    }


class ProcessTable(KeyedTable):
    COLUMNS = (
        Column("pid", "PID", 7, 0, keep=True),
        Column("gpu", "GPU", 3, 0, keep=True),
        Column("name", "Process", 12, 1, flex=True),
        Column("memory", "GPU memory", 10, 0),
        Column("container", "Container", 14, 0),
        Column("compose", "Compose service", 16, 2),
    )

    def show(self, gpu: GpuSnapshot | None, docker: DockerSnapshot | None) -> None:
        if gpu is None:
            self.sync({})
            return
        self.sync({f"{p.pid}/{p.gpu_uuid}": process_cells(p, gpu, docker) for p in gpu.processes})
