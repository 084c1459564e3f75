"""Check results and reports: statuses, exit codes (Nagios convention) and the JSON shape."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from console.text import clean_line, clean_optional, finite


class Status(Enum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"
    # Not evaluated because something it depends on failed (the node is down, the path is not mounted);
    # the failure that caused it is reported once, by its own check. Never counted in the exit code.
    SKIPPED = "skipped"

    @property
    def exit_code(self) -> int:
        return _EXIT_CODES[self]

    @property
    def severity(self) -> int:
        """Worst wins: skipped < ok < warning < unknown < critical."""
        return _SEVERITY[self]

    @classmethod
    def worst(cls, statuses: list[Status] | tuple[Status, ...]) -> Status:
        """The worst status that counts: skipped results are left out (all skipped, or none, is OK)."""
        counted = [status for status in statuses if status is not cls.SKIPPED]
        return max(counted, key=lambda status: status.severity, default=cls.OK)


_EXIT_CODES = {Status.OK: 0, Status.WARNING: 1, Status.CRITICAL: 2, Status.UNKNOWN: 3, Status.SKIPPED: 0}
_SEVERITY = {Status.SKIPPED: -1, Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """`1 node`, `2 nodes`: every count a person reads agrees with its noun."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


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
            # A number the node did not report honestly (NaN, inf) is unknown: null, never bare NaN.
            data["perfdata"] = {perf.label: finite(perf.value) for perf in self.perfdata}
        return data

    def cleaned(self) -> CheckResult:
        """Every string as one safe line (controls visible, newlines flattened): output never trusts the
        collectors alone, since a result's text may quote a node's own words."""
        return replace(
            self,
            node=clean_line(self.node),
            check=clean_line(self.check),
            summary=clean_line(self.summary),
            target=clean_optional(self.target),
            fix=clean_optional(self.fix),
            perfdata=tuple(replace(perf, label=clean_line(perf.label)) for perf in self.perfdata),
        )


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

    def cleaned(self) -> CheckReport:
        """The report with every string made a safe single line: what every output format renders."""
        return replace(
            self,
            inventory=clean_line(self.inventory),
            duration_s=finite(self.duration_s) or 0.0,
            results=tuple(result.cleaned() for result in self.results),
            errors=tuple(clean_line(error) for error in self.errors),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "inventory": self.inventory,
            "status": self.status.value,
            "exit_code": self.exit_code,
            "duration_s": round(finite(self.duration_s) or 0.0, 3),
            "results": [result.to_json() for result in self.results],
        } | ({"errors": list(self.errors)} if self.errors else {})
