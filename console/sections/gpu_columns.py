"""The GPU section's fleet columns: how many GPUs, mean utilisation and its history, memory, the hottest
board, power; and the detail column (the boards' names, or why there is no GPU data)."""

from __future__ import annotations

from collections.abc import Sequence

from console.history import SCALES
from console.model.checks import Status
from console.model.columns import DETAIL, CellValue, ColumnSpec, RowInput, number
from console.sections import prom_columns

COLUMNS = (
    ColumnSpec("gpus", "GPUs", 5, priority=3),
    ColumnSpec("util", "Util", 4, priority=4),
    ColumnSpec("trend", "Util history", 16, priority=8, sortable=False),  # 10 bars and their min–max
    ColumnSpec("memory", "GPU memory", 12, priority=6),
    ColumnSpec("temp", "Temp", 5, priority=5),
    ColumnSpec("power", "Power", 11, priority=7),
)


def _sum(values: Sequence[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def _mean(values: Sequence[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return sum(known) / len(known) if known else None


def _max(values: Sequence[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return max(known) if known else None


def cells(row: RowInput) -> dict[str, CellValue]:
    if row.snapshot.prom is not None:  # a node read from Prometheus: its aggregates, no boards one by one
        return prom_columns.gpu_cells(row, row.snapshot.prom)
    gpu, levels = row.snapshot.gpu, row.levels
    if gpu is None or gpu.status != "ok":
        message = (gpu.error if gpu is not None else None) or "no GPU data"
        tooling = gpu is not None and gpu.status == "no_tooling"
        detail = CellValue(message, justify="left", tone="dim" if tooling else "warn")
        return {DETAIL: detail, "gpus": CellValue("0", sort=0.0) if tooling else CellValue()}
    readings = gpu.gpus
    count = float(len(readings))
    if levels.gpus is not None and levels.gpus.level is not Status.OK:
        tally = levels.gpus
        gpus = CellValue(f"{tally.good}/{tally.expected}", level=tally.level, sort=count)
    else:
        gpus = CellValue(str(len(readings)), sort=count)
    values = {"gpus": gpus, "util": number(_mean([r.util_gpu_pct for r in readings]), "{:.0f}%")}
    history = row.history("util")
    if history:
        values["trend"] = CellValue(series=history, scale=SCALES["util"])
    used, total = _sum([r.memory_used_mib for r in readings]), _sum([r.memory_total_mib for r in readings])
    if used is not None and total is not None:
        values["memory"] = CellValue(f"{used / 1024:.1f}/{total / 1024:.0f} GiB", sort=used)
    values["temp"] = number(_max([r.temperature_c for r in readings]), "{:.0f}°C", level=levels.temperature)
    draw, limit = _sum([r.power_draw_w for r in readings]), _sum([r.power_limit_w for r in readings])
    if draw is not None:
        values["power"] = CellValue(
            f"{draw:.0f}/{limit:.0f} W" if limit is not None else f"{draw:.0f} W", sort=draw
        )
    names = sorted({r.name for r in readings})
    values[DETAIL] = CellValue(
        ", ".join(names) if names else "no GPUs", justify="left", tone="" if names else "dim"
    )
    return values
