"""GPU readings from Prometheus: DCGM exporter series and the monitoring stack's GPU simulator series.

One instant query per poll fetches every GPU series of the fleet (or of one node, filtered in PromQL); the
series are matched to inventory nodes and mapped onto the same GpuReading/GpuSnapshot the nvidia-smi
collector returns, so screens and rules do not care where the numbers came from.

A series belongs to a node when its `Hostname` label (set by dcgm-exporter) is the node's name or host;
a series without one, or whose Hostname names no node, belongs to the node whose name or host is the host
part of its `instance` label. Comparisons ignore case, as host names do.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from console.collectors.gpu import MAX_GPUS, GpuReading, GpuSnapshot
from console.collectors.prometheus import PrometheusClient, PrometheusError, Sample
from console.inventory.model import Node
from console.text import clean_optional, finite

MIB = 1024 * 1024
NO_SERIES = "no GPU series in Prometheus for this node"

# dcgm-exporter's default counters: series name → GpuReading field (FB_* in MiB, like nvidia-smi).
DCGM_SERIES: dict[str, str] = {
    "DCGM_FI_DEV_GPU_UTIL": "util_gpu_pct",
    "DCGM_FI_DEV_MEM_COPY_UTIL": "util_mem_pct",
    "DCGM_FI_DEV_FB_USED": "memory_used_mib",
    "DCGM_FI_DEV_FB_FREE": "fb_free_mib",
    "DCGM_FI_DEV_FB_RESERVED": "fb_reserved_mib",
    "DCGM_FI_DEV_GPU_TEMP": "temperature_c",
    "DCGM_FI_DEV_POWER_USAGE": "power_draw_w",
    "DCGM_FI_DEV_SM_CLOCK": "sm_clock_mhz",
    "DCGM_FI_DEV_MEM_CLOCK": "mem_clock_mhz",
}
# The monitoring stack's GPU simulator (label gpu_id; memory in bytes).
SIMULATOR_SERIES: dict[str, str] = {
    "gpu_utilization_percent": "util_gpu_pct",
    "gpu_temperature_celsius": "temperature_c",
    "gpu_memory_usage_bytes": "memory_used_bytes",
    "gpu_memory_total_bytes": "memory_total_bytes",
    "gpu_power_draw_watts": "power_draw_w",
}
GPU_SERIES: tuple[str, ...] = (*DCGM_SERIES, *SIMULATOR_SERIES)
_NAME_LABELS = ("modelName", "gpu_model", "model", "gpu_name", "name")


def _promql_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _alternatives(values: Iterable[str]) -> str:
    return "|".join(sorted({re.escape(value) for value in values if value}))


def gpu_series_query(nodes: Sequence[Node] | None = None) -> str:
    """The one PromQL query for every GPU series; with `nodes`, only the series that can belong to them."""
    names = f"__name__=~{_promql_string('|'.join(GPU_SERIES))}"
    if nodes is None:
        return "{" + names + "}"
    keys = _alternatives(key for node in nodes for key in (node.name, node.host))
    instance = f"(?i)\\[?({keys})\\]?(:[0-9]+)?"
    by_hostname = "{" + f"{names}, Hostname=~{_promql_string(f'(?i)({keys})')}" + "}"
    by_instance = "{" + f"{names}, instance=~{_promql_string(instance)}" + "}"
    return f"{by_hostname} or {by_instance}"


def instance_host(instance: str) -> str:
    """ "10.0.0.5:9400" → "10.0.0.5", "[::1]:9400" → "::1", "gpu-a" → "gpu-a"."""
    if instance.startswith("["):
        return instance[1:].split("]", 1)[0]
    host, sep, port = instance.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host
    return instance


def _node_for(sample: Sample, nodes: Sequence[Node]) -> Node | None:
    def find(key: str | None) -> Node | None:
        if not key:
            return None
        key = key.casefold()
        return next((n for n in nodes if key in (n.name.casefold(), n.host.casefold())), None)

    return find(sample.label("Hostname")) or find(instance_host(sample.label("instance") or ""))


def _value(sample: Sample) -> float | None:
    return finite(sample.value)  # the client already made NaN/±inf None; a constructed Sample may not have


def _index(raw: str | None) -> int | None:
    match = re.search(r"(\d+)$", raw or "")
    return int(match.group(1)) if match else None


class _Gpu:
    """The series of one GPU, gathered before they become a frozen GpuReading."""

    def __init__(self, sample: Sample) -> None:
        self.index = _index(sample.label("gpu") or sample.label("gpu_id"))
        # Labels are whatever the exporter (or anyone who can push series) wrote: cleaned once, here.
        self.uuid = clean_optional(sample.label("UUID") or sample.label("uuid"))
        self.name = clean_optional(next((v for v in map(sample.label, _NAME_LABELS) if v), None))
        self.driver = clean_optional(sample.label("DCGM_FI_DRIVER_VERSION") or sample.label("driver_version"))
        self.pci_bus_id = clean_optional(sample.label("pci_bus_id"))
        self.values: dict[str, float | None] = {}

    def reading(self, index: int) -> GpuReading:
        v = self.values
        used = v.get("memory_used_mib")
        total = None
        if "memory_used_bytes" in v or "memory_total_bytes" in v:  # simulator: bytes
            used_bytes, total_bytes = v.get("memory_used_bytes"), v.get("memory_total_bytes")
            used = None if used_bytes is None else used_bytes / MIB
            total = None if total_bytes is None else total_bytes / MIB
        elif used is not None and v.get("fb_free_mib") is not None:  # DCGM: total = used + free + reserved
            total = used + (v.get("fb_free_mib") or 0.0) + (v.get("fb_reserved_mib") or 0.0)
        return GpuReading(
            index=index,
            uuid=self.uuid or f"gpu{index}",
            name=self.name or "unknown GPU",
            driver=self.driver,
            pci_bus_id=self.pci_bus_id,
            temperature_c=v.get("temperature_c"),
            util_gpu_pct=v.get("util_gpu_pct"),
            util_mem_pct=v.get("util_mem_pct"),
            memory_total_mib=total,
            memory_used_mib=used,
            power_draw_w=v.get("power_draw_w"),
            sm_clock_mhz=v.get("sm_clock_mhz"),
            mem_clock_mhz=v.get("mem_clock_mhz"),
        )


def _readings(samples: Sequence[Sample]) -> tuple[GpuReading, ...]:
    gpus: dict[tuple[str, str], _Gpu] = {}
    for sample in samples:
        name = sample.name or ""
        field = DCGM_SERIES.get(name) or SIMULATOR_SERIES.get(name)
        if field is None:
            continue
        family = "dcgm" if name in DCGM_SERIES else "simulator"
        key = sample.label("UUID") or sample.label("gpu") or sample.label("gpu_id") or ""
        if (family, key) not in gpus and len(gpus) >= MAX_GPUS:
            continue  # a node has a few dozen GPUs at most: series past that are not kept
        gpu = gpus.setdefault((family, key), _Gpu(sample))
        gpu.values[field] = _value(sample)
    used = {gpu.index for gpu in gpus.values() if gpu.index is not None}
    spare = (i for i in range(len(gpus) + len(used)) if i not in used)
    ordered = sorted(gpus.values(), key=lambda g: (g.index is None, g.index or 0, g.uuid or ""))
    return tuple(gpu.reading(gpu.index if gpu.index is not None else next(spare)) for gpu in ordered)


def map_gpu_samples(
    samples: Sequence[Sample],
    nodes: Sequence[Node],
    *,
    taken_at: datetime | None = None,
    duration_s: float | None = None,
) -> dict[str, GpuSnapshot]:
    """Every node's GpuSnapshot from GPU series; a node with none gets status "error", NO_SERIES."""
    at = taken_at or datetime.now(UTC)
    by_node: dict[str, list[Sample]] = {node.name: [] for node in nodes}
    for sample in samples:
        node = _node_for(sample, nodes)
        if node is not None:
            by_node[node.name].append(sample)
    snapshots: dict[str, GpuSnapshot] = {}
    for node in nodes:
        readings = _readings(by_node[node.name])
        if readings:
            snapshots[node.name] = GpuSnapshot(
                node.name, at, "prometheus", "ok", readings, duration_s=duration_s
            )
        else:
            snapshots[node.name] = GpuSnapshot(node.name, at, "prometheus", "error", error=NO_SERIES)
    return snapshots


async def _collect(client: PrometheusClient, nodes: Sequence[Node], query: str) -> dict[str, GpuSnapshot]:
    started = time.monotonic()
    try:
        result = await client.query(query)
    except PrometheusError as exc:
        at = datetime.now(UTC)
        return {n.name: GpuSnapshot(n.name, at, "prometheus", "error", error=str(exc)) for n in nodes}
    return map_gpu_samples(result.samples, nodes, duration_s=time.monotonic() - started)


async def collect_fleet_gpus_from_prometheus(
    client: PrometheusClient, nodes: Sequence[Node]
) -> dict[str, GpuSnapshot]:
    """Every node's GPUs from one query for the whole fleet. Never raises for Prometheus trouble."""
    return await _collect(client, nodes, gpu_series_query())


async def collect_gpus_from_prometheus(client: PrometheusClient, node: Node) -> GpuSnapshot:
    """One node's GPUs, from one query filtered to the series that can belong to it."""
    return (await _collect(client, (node,), gpu_series_query((node,))))[node.name]
