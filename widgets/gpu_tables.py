"""The node's GPUs (one row per board, a utilisation strip with its range), the plots of the chosen GPU's
last minutes (util, memory, temperature, power on fixed scales), and the processes using the GPUs."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widgets import Static

from console.history import SCALES, Metric, Point
from console.model.checks import Status
from console.model.cri import CriSnapshot
from console.model.docker import ContainerInfo, DockerSnapshot
from console.model.gpu import GpuProcess, GpuReading, GpuSnapshot
from console.model.levels import NodeLevels
from widgets.keyed_table import Column, KeyedTable
from widgets.plot import MetricPlot, MetricView
from widgets.safe import line
from widgets.sparkline import spark_range
from widgets.status import DASH, duration, level_style, or_dash

TREND = 16
History = Callable[[int, Metric], Sequence[float]]  # (GPU index, metric) -> values, oldest first
Points = Callable[[int, Metric], Sequence[Point]]  # (GPU index, metric) -> (unix time, value), oldest first


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
    utils = history(reading.index, "util")  # none kept (a node read from Prometheus): a dash, not a blank
    cells["util_trend"] = spark_range(utils, trend, *SCALES["util"]) if utils else DASH
    return cells


class GpuTable(KeyedTable):
    COLUMNS = (
        Column("gpu", "GPU", 14, 0, flex=True, keep=True),
        Column("util", "Util", 4, 0),
        Column("util_trend", "Util history", TREND, 6),
        Column("memory", "Memory", 13, 1),
        Column("temp", "Temp", 5, 1),
        Column("power", "Power", 10, 2),
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


def metric_views(reading: GpuReading, points: Points) -> tuple[MetricView, ...]:
    """The four plots of one GPU, each on its fixed scale (power up to the board's own limit)."""
    index = reading.index
    power_top = reading.power_limit_w or SCALES["power"][1]
    # none in a status colour (green ok, yellow warn, red/magenta crit: one red in the app's theme), so a
    # healthy GPU's 27% memory or 60°C does not read as critical or warning; the table colours levels
    return (
        MetricView("Util", tuple(points(index, "util")), *SCALES["util"], "{:.0f}%", "cyan"),
        MetricView("Memory", tuple(points(index, "memory")), *SCALES["memory"], "{:.0f}%", "blue"),
        MetricView("Temp", tuple(points(index, "temperature")), *SCALES["temperature"], "{:.0f}°C", "white"),
        MetricView("Power", tuple(points(index, "power")), 0.0, power_top, "{:.0f} W", "bright_yellow"),
    )


MIN_WINDOW_S = 60.0


def poll_every(points: Sequence[Point]) -> float | None:
    """The usual time between two points (the median gap): what 'a point every 2s' says."""
    gaps = sorted(b[0] - a[0] for a, b in itertools.pairwise(points) if b[0] > a[0])
    return gaps[len(gaps) // 2] if gaps else None


def plot_window(points: Sequence[Point], now: float, longest: float) -> tuple[float, float]:
    """The plots' time window, ending now: as far back as the oldest point, at least a minute, at most
    `longest` (what the history holds), so a fresh history is not a dot at the right edge."""
    oldest = min((t for t, _ in points), default=now)
    return now - min(max(now - oldest, MIN_WINDOW_S), max(longest, MIN_WINDOW_S)), now


class GpuPlots(Vertical):
    """Util, memory, temperature and power of one GPU over the same window, two by two, under a title
    that names the GPU and the time span."""

    DEFAULT_CSS = """
    GpuPlots {
        height: 1fr;
        min-height: 7;
    }
    GpuPlots > .plots-title {
        height: 1;
        padding: 0 1;
        text-style: bold;
        color: $text-muted;
    }
    GpuPlots > Grid {
        grid-size: 2 2;
        grid-gutter: 0 2;
        padding: 0 0 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static(classes="plots-title")
        with Grid():
            for name in ("util", "memory", "temperature", "power"):
                yield MetricPlot(id=f"plot-{name}")

    def show(self, reading: GpuReading, points: Points, now: float, length: int, refresh: float) -> None:
        """Plot `reading`'s GPU from its history (`points`, at most `length` polls) over the window ending
        at `now` (unix s). The time between points is what the history shows (`refresh` before it has two)."""
        views = metric_views(reading, points)
        every = poll_every(views[0].points) or refresh
        start, end = plot_window(views[0].points, now, length * every)
        title = Text.assemble(
            f"GPU {reading.index} ",
            line(short_name(reading.name)),
            (f" · the last {duration(end - start)}, a point every {every:g}s", "dim"),
        )
        self.query_one(".plots-title", Static).update(title)
        for plot, view in zip(self.query(MetricPlot), views, strict=True):
            plot.show(view, start, end)


def find_container(docker: DockerSnapshot | None, container_id: str | None) -> ContainerInfo | None:
    """The container a process runs in, matched by id prefix (either side may be the 12-character form)."""
    if docker is None or not container_id:
        return None
    for container in docker.containers:
        if container.id.startswith(container_id) or container_id.startswith(container.id):
            return container
    return None


def process_cells(
    process: GpuProcess, gpu: GpuSnapshot, docker: DockerSnapshot | None, cri: CriSnapshot | None = None
) -> dict[str, Text]:
    index = next((r.index for r in gpu.gpus if r.uuid == process.gpu_uuid), None)
    container = find_container(docker, process.container_id)
    name = container.name if container is not None else process.container_name
    # On a CRI-O node the cgroup (crio-<id>.scope) names a crictl container: shown as namespace/pod/container.
    pod = cri.by_id(process.container_id) if cri is not None and process.container_id else None
    if pod is not None:
        name = f"{pod.namespace}/{pod.pod}/{pod.name}"
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
        "sm": or_dash(process.sm_pct, "{:.0f}%"),
        "bandwidth": or_dash(process.mem_bw_pct, "{:.0f}%"),
        "memory": or_dash(process.used_memory_mib, "{:.0f} MiB"),
        "container": owner,
        "compose": Text(compose) if compose else DASH,
    }


class ProcessTable(KeyedTable):
    COLUMNS = (
        Column("pid", "PID", 7, 0, keep=True),
        Column("gpu", "GPU", 3, 0, keep=True),
        Column("name", "Process", 12, 1, flex=True),
        Column("sm", "SM", 4, 0),
        Column("bandwidth", "Mem BW", 6, 2),
        Column("memory", "GPU memory", 10, 0),
        Column("container", "Container", 14, 0),
        Column("compose", "Compose service", 16, 2),
    )

    def show(
        self, gpu: GpuSnapshot | None, docker: DockerSnapshot | None, cri: CriSnapshot | None = None
    ) -> None:
        if gpu is None:
            self.sync({})
            return
        self.sync({f"{p.pid}/{p.gpu_uuid}": process_cells(p, gpu, docker, cri) for p in gpu.processes})
