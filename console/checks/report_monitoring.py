"""Check reports for monitoring systems: a Nagios plugin line and a node_exporter textfile."""

from __future__ import annotations

import os
import re
import time

from console import atomic
from console.checks.model import CheckReport, CheckResult, Perf, Status, counted
from console.checks.report_text import headline_counts, skipped_lines
from console.text import finite

_PERF_LABEL = re.compile(r"[^A-Za-z0-9_.-]+")


def _perf_label(result: CheckResult, perf: Perf) -> str:
    # Node first so a graphing add-on keeps one series per node; no quotes or '=' can appear.
    target = f"_{result.target}" if result.target else ""
    return _PERF_LABEL.sub("_", f"{result.node}{target}_{perf.label}")


def _perf_value(number: float | None) -> str:
    number = finite(number)  # NaN or inf is unknown: an empty field, as the plugin guidelines allow
    return "" if number is None else f"{number:g}"


def _nagios_line(text: str) -> str:
    # One line (cleaned() already flattened newlines) and no '|': that would start perfdata.
    return text.replace("|", "/")


def render_nagios(report: CheckReport) -> str:
    """`OPSCONSOLE CRITICAL - 2 critical, 1 warning | gpu1_gpu0_temp=62;85;95` then the long output."""
    report = report.cleaned()
    problems = (Status.CRITICAL, Status.WARNING, Status.UNKNOWN)
    summary = headline_counts(report, problems)
    if not summary:
        ok = sum(result.status is Status.OK for result in report.results)
        nodes = len({result.node for result in report.results})
        summary = f"{counted(ok, 'check')} ok on {counted(nodes, 'node')}"
    perfdata = " ".join(
        f"{_perf_label(result, perf)}={_perf_value(perf.value)}{perf.unit};"
        f"{_perf_value(perf.warn)};{_perf_value(perf.crit)}"
        for result in report.results
        for perf in result.perfdata
        if finite(perf.value) is not None
    )
    perfdata = f"{perfdata} duration={report.duration_s:.3f}s".strip()
    first = f"OPSCONSOLE {report.status.name} - {_nagios_line(summary)} | {perfdata}"
    ordered = sorted(
        (result for result in report.results if result.status is not Status.SKIPPED),
        key=lambda result: -result.status.severity,
    )
    long_output = [
        f"[{result.status.name}] {result.node} {result.check}"
        + (f" [{result.target}]" if result.target else "")
        + f": {result.summary}"
        for result in ordered
    ]
    for node in dict.fromkeys(result.node for result in report.results):
        for labels, cause in skipped_lines([result for result in report.results if result.node == node]):
            long_output.append(f"[SKIPPED] {node} {labels}: {cause}")
    long_output += [f"[UNKNOWN] internal error: {error}" for error in report.errors]
    return "\n".join([first, *(_nagios_line(line) for line in long_output)])


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_prometheus(report: CheckReport, *, now: float | None = None) -> str:
    """node_exporter textfile-collector format: one status series per check, 0 ok … 3 unknown.

    Skipped checks have no series (their cause has one); a value a node did not report finitely has none
    either: an absent series is unknown, a NaN sample would read as a measurement.
    """
    report = report.cleaned()
    inventory = _label(report.inventory)
    finished = now if now is not None else time.time()
    lines = [
        "# HELP opsconsole_check_status Check status: 0 ok, 1 warning, 2 critical, 3 unknown.",
        "# TYPE opsconsole_check_status gauge",
    ]
    seen: set[tuple[str, str, str]] = set()
    for result in report.results:
        key = (result.node, result.check, result.target or "")
        if key in seen or result.status is Status.SKIPPED:
            continue  # one series per (node, check, target): duplicates would be rejected by the collector
        seen.add(key)
        labels = (
            f'inventory="{inventory}",node="{_label(result.node)}",'
            f'check="{_label(result.check)}",target="{_label(result.target or "")}"'
        )
        lines.append(f"opsconsole_check_status{{{labels}}} {result.status.exit_code}")
    values = [
        (result, perf, number)
        for result in report.results
        for perf in result.perfdata
        if (number := finite(perf.value)) is not None
    ]
    if values:
        lines += [
            "# HELP opsconsole_check_value A number a check measured (its perfdata).",
            "# TYPE opsconsole_check_value gauge",
        ]
        for result, perf, number in values:
            labels = (
                f'inventory="{inventory}",node="{_label(result.node)}",check="{_label(result.check)}",'
                f'target="{_label(result.target or "")}",name="{_label(perf.label)}"'
            )
            lines.append(f"opsconsole_check_value{{{labels}}} {number:g}")
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


class OutputError(OSError):
    """The report could not be written where --output said (the message names that path)."""


def write_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Replace `path` whole (a reader never sees half a file), readable by others: the textfile collector
    usually runs as another user. Raises OutputError naming the path."""
    try:
        atomic.write_atomically(path, text, mode=0o644)
    except OSError as error:
        raise OutputError(f"cannot write {os.fspath(path)}: {error.strerror}") from None
