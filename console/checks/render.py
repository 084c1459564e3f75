"""Check reports as text (people, cron mail) and JSON (scripts)."""

from __future__ import annotations

import json

from console.checks.model import CheckReport, CheckResult, Status


def render_json(report: CheckReport) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False)


def _by_node_worst_first(report: CheckReport) -> list[tuple[str, list[CheckResult]]]:
    nodes: dict[str, list[CheckResult]] = {}
    for result in report.results:
        nodes.setdefault(result.node, []).append(result)
    for results in nodes.values():
        results.sort(key=lambda result: -result.status.severity)
    return sorted(
        nodes.items(), key=lambda item: -Status.worst([result.status for result in item[1]]).severity
    )


def render_text(report: CheckReport, *, color: bool = False) -> str:
    counts = {status: 0 for status in Status}
    for result in report.results:
        counts[result.status] += 1
    headline = (
        f"{report.status.name} {report.inventory}: "
        + ", ".join(f"{counts[status]} {status.value}" for status in Status if counts[status])
        + f" ({report.duration_s:.2f}s)"
    )
    lines = [_paint(headline, report.status, color)]
    lines += [f"error: {error}" for error in report.errors]
    width = max((len(result.check) + len(result.target or "") + 3 for result in report.results), default=10)
    for node, results in _by_node_worst_first(report):
        lines.append("")
        lines.append(node)
        for result in results:
            label = result.check + (f" [{result.target}]" if result.target else "")
            status = _paint(f"{result.status.name:<8}", result.status, color)
            line = f"  {status} {label:<{width}} {result.summary}"
            if result.fix:
                line += f"  (fix: {result.fix})"
            lines.append(line)
    return "\n".join(lines)


_COLORS = {Status.OK: "32", Status.WARNING: "33", Status.CRITICAL: "31", Status.UNKNOWN: "35"}


def _paint(text: str, status: Status, color: bool) -> str:
    return f"\x1b[{_COLORS[status]}m{text}\x1b[0m" if color else text
