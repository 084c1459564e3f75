"""Bounded metric history per node and per GPU, for the plots and strips. Pure: no I/O, no clock of its own.

Each poll's snapshot is recorded once (a snapshot with the same `taken_at` as the node's last one is the
same poll seen twice and adds nothing). A node that did not answer adds no point: the line simply stops
moving, and the state column says why.

Storage is one fixed-size ring per node, allocated once: the poll times (`array('d')`) and, for each GPU
and for the node's mean, the four metrics as 32-bit floats (`array('f')`, NaN where the board did not
say). Recording writes in place; nothing grows with time. At the default 150 points a node with 8 GPUs
costs 150 x 8 B + 9 slots x 4 metrics x 150 x 4 B = 22.8 kB plus ~0.3 kB of objects: about 23 MB for
1,000 such nodes (`nbytes()`; `tests/test_history.py` measures it with tracemalloc).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from console.model.gpu import GpuReading
from console.model.node import NodeSnapshot

Metric = Literal["util", "memory", "temperature", "power"]
METRICS: tuple[Metric, ...] = ("util", "memory", "temperature", "power")
_METRIC_AT = {metric: position for position, metric in enumerate(METRICS)}
DEFAULT_LENGTH = 150  # points kept per series: five minutes at a 2 s refresh

# The fixed scale each metric is drawn against (a sparkline scaled to its own min..max would make 41-42 °C
# look like a spike). Power has no fixed top: the GPU's own limit is used where known.
SCALES: dict[Metric, tuple[float, float]] = {
    "util": (0.0, 100.0),
    "memory": (0.0, 100.0),
    "temperature": (20.0, 100.0),
    "power": (0.0, 1000.0),
}

Point = tuple[float, float]  # (unix time, value)


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


class _Ring:
    """One node's last `length` polls: times, and every (slot, metric) series; slot len(indices) = mean."""

    __slots__ = ("count", "indices", "length", "next", "times", "values")

    def __init__(self, indices: tuple[int, ...], length: int) -> None:
        self.indices = indices
        self.length = length
        self.times = array("d", bytes(8 * length))
        slots = len(indices) + 1
        self.values = array("f", [math.nan]) * (slots * len(METRICS) * length)
        self.next = 0  # where the next poll is written
        self.count = 0  # polls held (at most length)

    def write(self, at: float, rows: list[tuple[float | None, ...]]) -> None:
        """`rows`: per slot, the four metrics (None: unknown)."""
        position, length = self.next, self.length
        self.times[position] = at
        for slot, row in enumerate(rows):
            base = slot * len(METRICS) * length + position
            for offset, value in enumerate(row):
                self.values[base + offset * length] = math.nan if value is None else value
        self.next = (position + 1) % length
        self.count = min(self.count + 1, length)

    def order(self) -> range | list[int]:
        """Positions oldest first."""
        if self.count < self.length:
            return range(self.count)
        return [*range(self.next, self.length), *range(self.next)]

    def points(self, slot: int, metric: Metric) -> tuple[Point, ...]:
        base = (slot * len(METRICS) + _METRIC_AT[metric]) * self.length
        values, times = self.values, self.times
        return tuple(
            (times[position], values[base + position])
            for position in self.order()
            if not math.isnan(values[base + position])
        )

    def nbytes(self) -> int:
        return self.times.itemsize * len(self.times) + self.values.itemsize * len(self.values)


class MetricHistory:
    """The last `length` polls of each (node, GPU, metric); the node's own series is the mean of its GPUs.

    A node whose set of GPU indices changes (a board fell off the bus) starts a new ring: the old series
    would no longer line up with the boards.
    """

    def __init__(self, length: int = DEFAULT_LENGTH) -> None:
        if length < 1:
            raise ValueError("history length must be at least 1")
        self.length = length
        self._rings: dict[str, _Ring] = {}
        self._last: dict[str, datetime] = {}

    def record(self, snapshot: NodeSnapshot) -> bool:
        """Add the snapshot's GPU readings; False when it added nothing (same poll again, no GPU data)."""
        if self._last.get(snapshot.node) == snapshot.taken_at:
            return False
        gpu = snapshot.gpu
        if not snapshot.reachable or gpu is None or gpu.status != "ok" or not gpu.gpus:
            return False
        self._last[snapshot.node] = snapshot.taken_at
        indices = tuple(reading.index for reading in gpu.gpus)
        ring = self._rings.get(snapshot.node)
        if ring is None or ring.indices != indices:
            ring = self._rings[snapshot.node] = _Ring(indices, self.length)
        rows = [tuple(reading_value(reading, metric) for metric in METRICS) for reading in gpu.gpus]
        rows.append(tuple(_mean(row[position] for row in rows) for position in range(len(METRICS))))
        ring.write(snapshot.taken_at.timestamp(), rows)
        return True

    def _slot(self, node: str, index: int | None) -> tuple[_Ring, int] | None:
        ring = self._rings.get(node)
        if ring is None:
            return None
        if index is None:
            return ring, len(ring.indices)
        if index not in ring.indices:
            return None
        return ring, ring.indices.index(index)

    def points(self, node: str, index: int | None, metric: Metric) -> tuple[Point, ...]:
        """(unix time, value) of one GPU (index None: the node's mean), oldest first, known values only."""
        found = self._slot(node, index)
        return found[0].points(found[1], metric) if found is not None else ()

    def node(self, node: str, metric: Metric = "util") -> tuple[float, ...]:
        """The node's mean over its GPUs, oldest first."""
        return tuple(value for _, value in self.points(node, None, metric))

    def gpu(self, node: str, index: int, metric: Metric) -> tuple[float, ...]:
        return tuple(value for _, value in self.points(node, index, metric))

    def forget(self, node: str) -> None:
        """Drop everything about a node (it left the inventory)."""
        self._last.pop(node, None)
        self._rings.pop(node, None)

    def nbytes(self) -> int:
        """The bytes the rings' arrays hold (the objects around them add ~0.3 kB per node)."""
        return sum(ring.nbytes() for ring in self._rings.values())
