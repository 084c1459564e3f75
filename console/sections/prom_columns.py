"""The fleet columns of a node read from Prometheus (`NodeSnapshot.prom`, console/fleet_from_prometheus.py).

The GPU, basics and Docker sections' `cells` hand a discovered node's row to these: the same columns, filled
from the node's aggregates. Prometheus sums and averages per node, so there is no per-GPU figure here and
none is made up (the GPUs one by one are read when the node is opened); the colours come from the levels
its results gave (`evaluate_prom_node`), never from a comparison here. A stale node's figures are shown
dim, and its detail says how old they are; a node whose samples are in the future (clock skew) likewise.
"""

from __future__ import annotations

from console.model.basics import short_bytes
from console.model.columns import DETAIL, CellValue, RowInput, Tone, number
from console.model.prom_fleet import PromNode

SOURCE = "Prometheus"


def _doubtful(prom: PromNode) -> bool:
    """Figures not shown as fresh: stale, or from a clock ahead (how fresh they are cannot be told)."""
    return prom.stale or prom.clock_skew is not None


def _tone(prom: PromNode) -> Tone:
    return "dim" if _doubtful(prom) else ""


def _number(prom: PromNode, value: float | None, template: str) -> CellValue:
    cell = number(value, template)
    return CellValue(cell.text, sort=cell.sort, tone="dim") if _doubtful(prom) and cell.text else cell


def detail(prom: PromNode) -> CellValue:
    """Where the row's figures come from, and what is wrong with them: stale, target down, alerts firing."""
    said: list[str] = []
    tone: Tone = "dim"
    if skew := prom.clock_skew:
        said.append(skew)
        tone = "warn"
    elif prom.stale and prom.age_s is not None and prom.scrape_interval_s is not None:
        said.append(f"stale: series {prom.age_s:.0f}s old (scrape {prom.scrape_interval_s:g}s)")
        tone = "warn"
    if prom.up is False:
        said.append("scrape target down")
        tone = "warn"
    if prom.alerts_firing:
        said.append(f"{prom.alerts_firing} alert{'s' if prom.alerts_firing != 1 else ''} firing")
        tone = "warn"
    text = f"{SOURCE}: " + ", ".join(said) if said else f"{SOURCE} (no SSH)"
    return CellValue(text, justify="left", tone=tone)


def gpu_cells(row: RowInput, prom: PromNode) -> dict[str, CellValue]:
    values: dict[str, CellValue] = {DETAIL: detail(prom)}
    if not prom.gpu_count:
        values["gpus"] = CellValue("0", sort=0.0, tone="dim")
        return values
    values["gpus"] = _number(prom, float(prom.gpu_count), "{:.0f}")
    values["util"] = _number(prom, prom.gpu_util_pct, "{:.0f}%")
    used, total = prom.gpu_mem_used_mib, prom.gpu_mem_total_mib
    if used is not None and total is not None:
        values["memory"] = CellValue(f"{used / 1024:.1f}/{total / 1024:.0f} GiB", sort=used, tone=_tone(prom))
    values["temp"] = number(prom.gpu_temp_max_c, "{:.0f}°C", level=row.levels.temperature)
    values["power"] = _number(prom, prom.gpu_power_w, "{:.0f} W")
    return values


def basics_cells(prom: PromNode) -> dict[str, CellValue]:
    values = {
        "host_cpu": _number(prom, prom.cpu_pct, "{:.0f}%"),
        "host_load": _number(prom, prom.load1, "{:.2f}" if (prom.load1 or 0) < 10 else "{:.0f}"),
        "host_disk": _number(prom, prom.disk_fullest_pct, "{:.0f}%"),
    }
    total, available = prom.mem_total_bytes, prom.mem_available_bytes
    if total is not None and available is not None:
        text = f"{short_bytes(total - available)}/{short_bytes(total)}"
        values["host_mem"] = CellValue(text, sort=prom.mem_used_pct, tone=_tone(prom))
    rx, tx = prom.net_rx_bps, prom.net_tx_bps
    if rx is not None and tx is not None:
        values["host_net"] = CellValue(f"{short_bytes(rx)}/{short_bytes(tx)}", sort=rx + tx, tone=_tone(prom))
    return values


def docker_cells(prom: PromNode) -> dict[str, CellValue]:
    """cAdvisor's count of the node's containers (no inventory list to hold it against: no 'n/m')."""
    running = prom.containers_running
    return {"containers": _number(prom, None if running is None else float(running), "{:.0f}")}
