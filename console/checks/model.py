"""Check results and reports: statuses, exit codes (Nagios convention) and the JSON shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Status(Enum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"

    @property
    def exit_code(self) -> int:
        return _EXIT_CODES[self]

    @property
    def severity(self) -> int:
        """Worst wins: ok < warning < unknown < critical."""
        return _SEVERITY[self]

    @classmethod
    def worst(cls, statuses: list[Status] | tuple[Status, ...]) -> Status:
        return max(statuses, key=lambda status: status.severity, default=cls.OK)


_EXIT_CODES = {Status.OK: 0, Status.WARNING: 1, Status.CRITICAL: 2, Status.UNKNOWN: 3}
_SEVERITY = {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}


@dataclass(frozen=True, slots=True)
class Perf:
    """One number a check measured, with the limits it was judged against (Nagios perfdata)."""

    label: str
    value: float
    unit: str = ""
    warn: float | None = None
    crit: float | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    node: str
    check: str  # area.what, e.g. gpu.count
    status: Status
    summary: str
    target: str | None = None  # the container / mount / service / GPU the result is about
    fix: str | None = None
    perfdata: tuple[Perf, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "node": self.node,
            "check": self.check,
            "target": self.target,
            "status": self.status.value,
            "summary": self.summary,
            "fix": self.fix,
        }
        if self.perfdata:
            data["perfdata"] = {perf.label: perf.value for perf in self.perfdata}
        return data


@dataclass(frozen=True, slots=True)
class CheckReport:
    inventory: str
    results: tuple[CheckResult, ...]
    duration_s: float
    errors: tuple[str, ...] = field(default=())  # internal errors: they make the run UNKNOWN

    @property
    def status(self) -> Status:
        statuses = [result.status for result in self.results]
        if self.errors:
            statuses.append(Status.UNKNOWN)
        return Status.worst(statuses)

    @property
    def exit_code(self) -> int:
        return self.status.exit_code

    def to_json(self) -> dict[str, Any]:
        return {
            "inventory": self.inventory,
            "status": self.status.value,
            "exit_code": self.exit_code,
            "duration_s": round(self.duration_s, 3),
            "results": [result.to_json() for result in self.results],
        } | ({"errors": list(self.errors)} if self.errors else {})
