"""Bounded metric history per node and per GPU, for the sparklines. Pure: no I/O, no clock of its own.

Each poll's snapshot is recorded once (a snapshot with the same `taken_at` as the node's last one is the
same poll seen twice and adds nothing). A node that did not answer adds no point: the line simply stops
moving, and the state column says why.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from console.model.gpu import GpuReading
from console.model.node import NodeSnapshot

Metric = Literal["util", "memory", "temperature", "power"]
METRICS: tuple[Metric, ...] = ("util", "memory", "temperature", "power")
DEFAULT_LENGTH = 60  # points kept per series: two minutes at a 2 s refresh

# The fixed scale each metric is drawn against (a sparkline scaled to its own min..max would make 41-42 °C
# look like a spike). Power has no fixed top: the GPU's own limit is used where known.
SCALES: dict[Metric, tuple[float, float]] = {
    "util": (0.0, 100.0),
    "memory": (0.0, 100.0),
    "temperature": (20.0, 100.0),
    "power": (0.0, 1000.0),
}

_Key = tuple[str, int | None, Metric]  # (node, GPU index or None for the node's mean, metric)


def reading_value(reading: GpuReading, metric: Metric) -> float | None:
    """One GPU's value of a metric; memory is the percentage used. None when the board does not say."""
    if metric == "util":
        return reading.util_gpu_pct
    if metric == "temperature":
        return reading.temperature_c
    if metric == "power":
        return reading.power_draw_w
    if reading.memory_used_mib is None or not reading.memory_total_mib:
        return None
    return 100.0 * reading.memory_used_mib / reading.memory_total_mib


def _mean(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return sum(known) / len(known) if known else None


class MetricHistory:
    """The last `length` values of each (node, GPU, metric); the node's own series is the mean of its GPUs."""

    def __init__(self, length: int = DEFAULT_LENGTH) -> None:
        if length < 1:
            raise ValueError("history length must be at least 1")
        self.length = length
        self._series: dict[_Key, deque[float]] = {}
        self._last: dict[str, datetime] = {}

    def record(self, snapshot: NodeSnapshot) -> bool:
        """Add the snapshot's GPU readings; False when it added nothing (same poll again, no GPU data)."""
        if self._last.get(snapshot.node) == snapshot.taken_at:
            return False
        gpu = snapshot.gpu
        if not snapshot.reachable or gpu is None or gpu.status != "ok" or not gpu.gpus:
            return False
        self._last[snapshot.node] = snapshot.taken_at
        for metric in METRICS:
            values = [reading_value(reading, metric) for reading in gpu.gpus]
            for reading, value in zip(gpu.gpus, values, strict=True):
                if value is not None:
                    self._append((snapshot.node, reading.index, metric), value)
            mean = _mean(values)
            if mean is not None:
                self._append((snapshot.node, None, metric), mean)
        return True

    def _append(self, key: _Key, value: float) -> None:
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = deque(maxlen=self.length)
        series.append(value)

    def node(self, node: str, metric: Metric = "util") -> tuple[float, ...]:
        """The node's mean over its GPUs, oldest first."""
        return tuple(self._series.get((node, None, metric), ()))

    def gpu(self, node: str, index: int, metric: Metric) -> tuple[float, ...]:
        return tuple(self._series.get((node, index, metric), ()))

    def forget(self, node: str) -> None:
        """Drop everything about a node (it left the inventory)."""
        self._last.pop(node, None)
        for key in [key for key in self._series if key[0] == node]:
            del self._series[key]
