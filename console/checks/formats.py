"""Check reports for monitoring systems: a Nagios plugin line and a node_exporter textfile."""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

from console.checks.model import CheckReport, CheckResult, Perf, Status

_PERF_LABEL = re.compile(r"[^A-Za-z0-9_.-]+")


def _perf_label(result: CheckResult, perf: Perf) -> str:
    # Node first so a graphing add-on keeps one series per node; no quotes or '=' can appear.
    target = f"_{result.target}" if result.target else ""
    return _PERF_LABEL.sub("_", f"{result.node}{target}_{perf.label}")


def _perf_value(number: float | None) -> str:
    return "" if number is None else f"{number:g}"


def render_nagios(report: CheckReport) -> str:
    """`OPSCONSOLE CRITICAL - 2 critical, 1 warning | gpu1_gpu0_temp=62;85;95` then the long output."""
    counts = {status: 0 for status in Status}
    for result in report.results:
        counts[result.status] += 1
    problems = [status for status in (Status.CRITICAL, Status.WARNING, Status.UNKNOWN) if counts[status]]
    if problems:
        summary = ", ".join(f"{counts[status]} {status.value}" for status in problems)
    else:
        summary = f"{counts[Status.OK]} checks ok on {len({r.node for r in report.results})} nodes"
    perfdata = " ".join(
        f"{_perf_label(result, perf)}={_perf_value(perf.value)}{perf.unit};"
        f"{_perf_value(perf.warn)};{_perf_value(perf.crit)}"
        for result in report.results
        for perf in result.perfdata
    )
    perfdata = f"{perfdata} duration={report.duration_s:.3f}s".strip()
    first = f"OPSCONSOLE {report.status.name} - {summary} | {perfdata}"
    ordered = sorted(report.results, key=lambda result: -result.status.severity)
    long_output = [
        f"[{result.status.name}] {result.node} {result.check}"
        + (f" [{result.target}]" if result.target else "")
        + f": {result.summary}".replace("|", "/")  # '|' would start perfdata in the long output
        for result in ordered
    ]
    long_output += [f"[UNKNOWN] internal error: {error}".replace("|", "/") for error in report.errors]
    return "\n".join([first, *long_output])


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_prometheus(report: CheckReport, *, now: float | None = None) -> str:
    """node_exporter textfile-collector format: one status series per check, 0 ok … 3 unknown."""
    inventory = _label(report.inventory)
    finished = now if now is not None else time.time()
    lines = [
        "# HELP opsconsole_check_status Check status: 0 ok, 1 warning, 2 critical, 3 unknown.",
        "# TYPE opsconsole_check_status gauge",
    ]
    seen: set[tuple[str, str, str]] = set()
    for result in report.results:
        key = (result.node, result.check, result.target or "")
        if key in seen:
            continue  # one series per (node, check, target): duplicates would be rejected by the collector
        seen.add(key)
        labels = (
            f'inventory="{inventory}",node="{_label(result.node)}",'
            f'check="{_label(result.check)}",target="{_label(result.target or "")}"'
        )
        lines.append(f"opsconsole_check_status{{{labels}}} {result.status.exit_code}")
    values = [(result, perf) for result in report.results for perf in result.perfdata]
    if values:
        lines += [
            "# HELP opsconsole_check_value A number a check measured (its perfdata).",
            "# TYPE opsconsole_check_value gauge",
        ]
        for result, perf in values:
            labels = (
                f'inventory="{inventory}",node="{_label(result.node)}",check="{_label(result.check)}",'
                f'target="{_label(result.target or "")}",name="{_label(perf.label)}"'
            )
            lines.append(f"opsconsole_check_value{{{labels}}} {perf.value:g}")
    lines += [
        "# HELP opsconsole_check_duration_seconds How long the whole --check run took.",
        "# TYPE opsconsole_check_duration_seconds gauge",
        f'opsconsole_check_duration_seconds{{inventory="{inventory}"}} {report.duration_s:.3f}',
        "# HELP opsconsole_check_exit_code The exit code of the run (worst status).",
        "# TYPE opsconsole_check_exit_code gauge",
        f'opsconsole_check_exit_code{{inventory="{inventory}"}} {report.exit_code}',
        "# HELP opsconsole_last_run_timestamp_seconds When the --check run finished (Unix time).",
        "# TYPE opsconsole_last_run_timestamp_seconds gauge",
        f'opsconsole_last_run_timestamp_seconds{{inventory="{inventory}"}} {finished:.3f}',
    ]
    return "\n".join(lines) + "\n"


def write_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Write a temp file beside `path` and rename it over: a reader never sees half a file."""
    target = Path(path)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)  # the textfile collector usually runs as another user
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
