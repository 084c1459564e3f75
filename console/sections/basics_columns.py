"""The basics section's fleet columns: host CPU %, memory, load, the fullest disk, network rates and what
the node's containers cost together. A value the node did not give (or a rate before its second read) is a
dash, never 0; nothing here judges a threshold (no check rule has one yet), so cells carry no level."""

from __future__ import annotations

from console.model.basics import NodeBasics, short_bytes
from console.model.columns import CellValue, ColumnSpec, RowInput, number
from console.sections import prom_columns

COLUMNS = (
    # After the GPU columns, its history strip included: a GPU fleet's screen is about its GPUs first.
    ColumnSpec("host_cpu", "CPU", 4, priority=8),
    ColumnSpec("host_mem", "Mem", 9, priority=8),
    ColumnSpec("host_load", "Load", 5, priority=9),
    ColumnSpec("host_disk", "Disk", 5, priority=8),
    ColumnSpec("host_net", "Net ↓/↑", 11, priority=10),
    ColumnSpec("ctr_cost", "Ctr CPU/mem", 11, priority=10),
)


def memory(basics: NodeBasics) -> CellValue:
    used, total = basics.mem_used_kib, basics.mem_total_kib
    if used is None or total is None:
        return CellValue()
    return CellValue(f"{short_bytes(used * 1024)}/{short_bytes(total * 1024)}", sort=basics.mem_used_pct)


def disk(basics: NodeBasics) -> CellValue:
    fullest = basics.fullest_disk
    if fullest is None or fullest.used_pct is None:
        return CellValue()
    return CellValue(f"{fullest.used_pct:.0f}%", sort=fullest.used_pct)


def network(basics: NodeBasics) -> CellValue:
    rx, tx = basics.net_rx_bps, basics.net_tx_bps
    if rx is None or tx is None:
        return CellValue()
    return CellValue(f"{short_bytes(rx)}/{short_bytes(tx)}", sort=rx + tx)


def containers(basics: NodeBasics) -> CellValue:
    """The running containers' CPU % (of one core) and memory, summed; a dash until any is known."""
    cpu = [cost.cpu_pct for cost in basics.containers if cost.cpu_pct is not None]
    used = [cost.mem_used_bytes for cost in basics.containers if cost.mem_used_bytes is not None]
    if not cpu and not used:
        return CellValue()
    cpu_text = f"{sum(cpu):.0f}%" if cpu else "–"
    return CellValue(f"{cpu_text} {short_bytes(sum(used)) if used else '–'}", sort=sum(cpu) if cpu else None)


def cells(row: RowInput) -> dict[str, CellValue]:
    if row.snapshot.prom is not None:  # a node read from Prometheus (node_exporter's figures)
        return prom_columns.basics_cells(row.snapshot.prom)
    basics = row.snapshot.basics
    if basics is None or basics.error is not None:
        return {}
    load = basics.load[0] if basics.load is not None else None
    return {
        "host_cpu": number(basics.cpu_pct, "{:.0f}%"),
        "host_mem": memory(basics),
        "host_load": number(load, "{:.2f}" if load is not None and load < 10 else "{:.0f}"),
        "host_disk": disk(basics),
        "host_net": network(basics),
        "ctr_cost": containers(basics),
    }
