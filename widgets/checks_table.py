"""Check results as a table, worst first, with the suggested fix. Render only."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text

from console.model.checks import CheckResult, Status
from widgets.keyed_table import Column, KeyedTable
from widgets.status import DASH, status_text

# Which results a status filter lets through, in the order the filter key cycles.
FILTERS: dict[str, frozenset[Status]] = {
    "all": frozenset(Status),
    "problems": frozenset({Status.WARNING, Status.CRITICAL, Status.UNKNOWN}),
    "critical": frozenset({Status.CRITICAL}),
    "warning": frozenset({Status.WARNING}),
    "unknown": frozenset({Status.UNKNOWN}),
    "ok": frozenset({Status.OK}),
}


def result_key(result: CheckResult) -> str:
    return f"{result.node}|{result.check}|{result.target or ''}"


def ranked(results: Iterable[CheckResult]) -> list[CheckResult]:
    """Worst first (critical, unknown, warning, ok), then by node, check and target."""
    return sorted(results, key=lambda r: (-r.status.severity, r.node, r.check, r.target or ""))


def result_cells(result: CheckResult) -> dict[str, Text]:
    return {
        "status": status_text(result.status),
        "node": Text(result.node, style="bold"),
        "check": Text(result.check),
        "target": Text(result.target) if result.target else DASH,
        "summary": Text(result.summary, style="" if result.status is not Status.OK else "dim"),
        "fix": Text(result.fix, style="italic") if result.fix else DASH,
    }


class ChecksTable(KeyedTable):
    """One row per result, keyed by node|check|target."""

    COLUMNS: tuple[Column, ...] = (
        Column("status", "Status", 6, 0, keep=True),
        Column("check", "Check", 21, 0, keep=True),
        Column("target", "Target", 14, 1, keep=True),  # two service.http rows differ only here
        Column("summary", "Summary", 16, 0, flex=True),
        Column("fix", "Fix", 20, 3),
    )

    def show(self, results: Iterable[CheckResult]) -> dict[str, CheckResult]:
        """Show these results (worst first); returns them by row key, for the detail line."""
        by_key: dict[str, CheckResult] = {}
        for result in ranked(results):
            key = result_key(result)
            number = 2
            while key in by_key:  # the same check and target twice: keep both
                key = f"{result_key(result)}#{number}"
                number += 1
            by_key[key] = result
        self.sync({key: result_cells(result) for key, result in by_key.items()})
        return by_key


class FleetChecksTable(ChecksTable):
    COLUMNS = (
        Column("status", "Status", 6, 0, keep=True),
        Column("node", "Node", 12, 0, keep=True),
        Column("check", "Check", 21, 0, keep=True),
        Column("target", "Target", 14, 1, keep=True),
        Column("summary", "Summary", 16, 0, flex=True),
        Column("fix", "Fix", 20, 3),
    )


def detail_text(result: CheckResult | None) -> Text:
    """The selected result in full: summary, then the fix (the table may have cut either)."""
    if result is None:
        return Text("no check selected", style="dim")
    # Each space ends a run rather than starting one: SVG viewers drop a run's leading spaces.
    status = status_text(result.status)
    status.append(" ")
    text = Text.assemble(status, (f"{result.node} ", "bold"), result.check)
    if result.target:
        text.append(f" [{result.target}]")
    text.append(f": {result.summary}")
    if result.fix:
        text.append("\nfix: ", style="bold")
        text.append(result.fix, style="italic")
    return text
