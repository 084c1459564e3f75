"""Check reports as text (people, cron mail) and JSON (scripts).

Both render `report.cleaned()`: whatever a node put in a result (escape sequences, newlines), the bytes that
reach a terminal or a mail are plain printable lines. JSON is strict: no bare NaN or Infinity, ever.
"""

from __future__ import annotations

import json

from console.checks.model import CheckReport, CheckResult, Status


def render_json(report: CheckReport) -> str:
    # allow_nan=False: a non-finite number left anywhere is a bug here, not a token a parser must accept.
    return json.dumps(report.cleaned().to_json(), indent=2, ensure_ascii=False, allow_nan=False)


def headline_counts(report: CheckReport, statuses: tuple[Status, ...] | None = None) -> str:
    """`1 critical, 5 ok`: skipped results are not counted (their cause is)."""
    counts = {status: 0 for status in Status}
    for result in report.results:
        counts[result.status] += 1
    wanted = statuses or tuple(status for status in Status if status is not Status.SKIPPED)
    return ", ".join(f"{counts[status]} {status.value}" for status in wanted if counts[status])


def _by_node_worst_first(report: CheckReport) -> list[tuple[str, list[CheckResult]]]:
    nodes: dict[str, list[CheckResult]] = {}
    for result in report.results:
        nodes.setdefault(result.node, []).append(result)
    for results in nodes.values():
        results.sort(key=lambda result: -result.status.severity)
    return sorted(
        nodes.items(), key=lambda item: -Status.worst([result.status for result in item[1]]).severity
    )


def skipped_lines(results: list[CheckResult]) -> list[tuple[str, str]]:
    """Skipped results folded by cause: [(labels, cause)], so a down node reads as one cause, not ten rows."""
    causes: dict[str, list[str]] = {}
    for result in results:
        if result.status is Status.SKIPPED:
            label = result.check + (f" [{result.target}]" if result.target else "")
            causes.setdefault(result.summary, []).append(label)
    return [(", ".join(labels), cause) for cause, labels in causes.items()]


LABEL_WIDTH = 48


def render_text(report: CheckReport, *, color: bool = False) -> str:
    report = report.cleaned()
    headline = f"{report.status.name} {report.inventory}: {headline_counts(report) or 'no results'}"
    headline += f" ({report.duration_s:.2f}s)"
    lines = [_paint(headline, report.status, color)]
    lines += [f"error: {error}" for error in report.errors]
    shown = [result for result in report.results if result.status is not Status.SKIPPED]
    # Labels align up to LABEL_WIDTH; a longer one (a hostile or just long target) overflows its own line
    # instead of padding every line of the report to its length.
    width = min(
        max((len(result.check) + len(result.target or "") + 3 for result in shown), default=10), LABEL_WIDTH
    )
    for node, results in _by_node_worst_first(report):
        lines.append("")
        lines.append(node)
        for result in results:
            if result.status is Status.SKIPPED:
                continue
            label = result.check + (f" [{result.target}]" if result.target else "")
            status = _paint(f"{result.status.name:<8}", result.status, color)
            line = f"  {status} {label:<{width}} {result.summary}"
            if result.fix:
                line += f"  (fix: {result.fix})"
            lines.append(line)
        for labels, cause in skipped_lines(results):
            lines.append(f"  {_paint(f'{Status.SKIPPED.name:<8}', Status.SKIPPED, color)} {labels}: {cause}")
    return "\n".join(lines)


_COLORS = {
    Status.OK: "32",
    Status.WARNING: "33",
    Status.CRITICAL: "31",
    Status.UNKNOWN: "35",
    Status.SKIPPED: "2",
}


def _paint(text: str, status: Status, color: bool) -> str:
    return f"\x1b[{_COLORS[status]}m{text}\x1b[0m" if color else text
