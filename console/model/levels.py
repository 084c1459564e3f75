"""The levels the tables colour by: the checks' verdicts on a node's values, per GPU, container and service.

`console/checks/levels.py` computes them beside the check results, once per snapshot; the widgets only read
them (they never compare a value with a threshold, nor read a verdict back out of rendered text).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from console.model.checks import CheckResult, Status
from console.model.services import BindFinding


@dataclass(frozen=True, slots=True)
class Tally:
    """'3/4': how many of what the node should have are well, out of how many, and the verdict on that."""

    good: int
    expected: int
    level: Status
    hung: bool = False  # mounts: one of them does not answer at all


@dataclass(frozen=True, slots=True)
class NodeLevels:
    """A node's verdicts as the tables show them; None where the node has no such data (a dash)."""

    gpus: Tally | None = None  # GPUs found against gpus.count (gpu.count)
    temperature: Status | None = None  # the hottest GPU (gpu.temperature)
    gpu_temperature: tuple[tuple[int, Status], ...] = ()  # (GPU index, level) per GPU with a reading
    gpu_ecc: tuple[tuple[int, Status], ...] = ()  # (GPU index, level) per GPU that counts ECC errors
    slow_connect: bool = False  # the last real handshake was slow (console/checks/levels.py)
    containers: Tally | None = None  # watched containers running, or all of them when none are named
    restarts: tuple[tuple[str, Status], ...] = ()  # (container, level) per container with a count
    mounts: Tally | None = None  # inventory mounts present, answering and in the right mode
    binds: tuple[BindFinding, ...] = ()  # the bind audit, one finding per service with `bind`

    def gpu_level(self, index: int) -> Status | None:
        return dict(self.gpu_temperature).get(index)

    def ecc_level(self, index: int) -> Status | None:
        return dict(self.gpu_ecc).get(index)

    def restart_level(self, container: str) -> Status | None:
        return dict(self.restarts).get(container)

    def bind(self, service: str) -> BindFinding | None:
        return next((finding for finding in self.binds if finding.service == service), None)


@dataclass(frozen=True, slots=True)
class NodeVerdict:
    """A node's check results and the levels its rows are coloured by, both from one snapshot."""

    results: tuple[CheckResult, ...] = ()
    levels: NodeLevels = field(default_factory=NodeLevels)
