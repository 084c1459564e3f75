"""`opsconsole --check`: select, lock, run once, filter, render, exit with the worst status."""

from __future__ import annotations

import asyncio
import fnmatch
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace

from console.checks.formats import render_nagios, render_prometheus, write_atomically
from console.checks.lock import check_lock, lock_path
from console.checks.model import CheckReport, Status
from console.checks.render import render_json, render_text
from console.checks.runner import run_checks
from console.inventory.model import Inventory, Node
from console.streaming import StreamingSource

FORMATS = ("text", "json", "nagios", "prometheus")


class SelectionError(ValueError):
    """A --node or --group that names nothing in the inventory."""


@dataclass(frozen=True, slots=True)
class CheckOptions:
    format: str = "text"
    timeout: float = 60.0
    nodes: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    quiet: bool = False
    output: str | None = None
    wait_lock: bool = False


def select_nodes(inventory: Inventory, names: Sequence[str], groups: Sequence[str]) -> tuple[Node, ...]:
    known = {node.name for node in inventory.nodes}
    unknown = [name for name in names if name not in known]
    if unknown:
        have = ", ".join(node.name for node in inventory.nodes)
        raise SelectionError(f"unknown node {', '.join(unknown)} (inventory has: {have})")
    missing = [group for group in groups if group not in inventory.groups]
    if missing:
        raise SelectionError(
            f"unknown group {', '.join(missing)} (inventory has: {', '.join(inventory.groups)})"
        )
    return tuple(
        node
        for node in inventory.nodes
        if (not names or node.name in names) and (not groups or set(groups) & set(node.groups))
    )


def filter_results(report: CheckReport, only: Sequence[str], skip: Sequence[str]) -> CheckReport:
    """--only/--skip are globs on check ids (`gpu.*`, `nfs.responsive`)."""

    def wanted(check: str) -> bool:
        if only and not any(fnmatch.fnmatchcase(check, pattern) for pattern in only):
            return False
        return not any(fnmatch.fnmatchcase(check, pattern) for pattern in skip)

    return replace(report, results=tuple(result for result in report.results if wanted(result.check)))


async def _run(inventory: Inventory, nodes: tuple[Node, ...], timeout: float) -> CheckReport:
    # The same streaming source as the TUI, once: each stream's first row; never mutates (structurally).
    source = StreamingSource(inventory, nodes, one_shot=True, read_only=True)
    try:
        return await run_checks(inventory, source, nodes=nodes, timeout=timeout)
    finally:
        # Closing politely must not stretch the run past its deadline.
        await asyncio.wait([asyncio.create_task(source.close())], timeout=1.0)


def render(report: CheckReport, options: CheckOptions) -> str:
    if options.format == "json":
        return render_json(report)
    if options.format == "nagios":
        return render_nagios(report)
    if options.format == "prometheus":
        return render_prometheus(report)
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    return render_text(report, color=color)


def run_check_mode(inventory: Inventory, options: CheckOptions) -> int:
    nodes = select_nodes(inventory, options.nodes, options.groups)
    wait = options.timeout if options.wait_lock else None
    with check_lock(lock_path(inventory.path), wait=wait):
        report = filter_results(
            asyncio.run(_run(inventory, nodes, options.timeout)), options.only, options.skip
        )
    text = render(report, options)
    if options.output:
        write_atomically(options.output, text if text.endswith("\n") else text + "\n")
    elif not (options.quiet and report.status is Status.OK):
        print(text)  # noqa: T201 - the report is this mode's output
    return report.exit_code
