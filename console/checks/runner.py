"""Run every node's checks concurrently, bounded by one deadline for the whole run."""

from __future__ import annotations

import asyncio
import contextlib
import time

from console.checks.model import CheckReport, CheckResult
from console.checks.rules import evaluate, unknown_results
from console.fleet import SnapshotSource
from console.inventory.model import Inventory, Node


async def _check_node(node: Node, source: SnapshotSource) -> tuple[CheckResult, ...]:
    snapshot = await source.poll(node, force=True)
    return evaluate(node, snapshot)


async def run_checks(
    inventory: Inventory,
    source: SnapshotSource,
    *,
    nodes: tuple[Node, ...] | None = None,
    timeout: float = 60.0,
) -> CheckReport:
    """Every node at once; whatever has not finished by `timeout` is reported UNKNOWN, "timed out"."""
    started = time.monotonic()
    selected = nodes if nodes is not None else inventory.nodes
    tasks = {node.name: asyncio.create_task(_check_node(node, source)) for node in selected}
    if tasks:
        await asyncio.wait(tasks.values(), timeout=timeout)
    results: list[CheckResult] = []
    errors: list[str] = []
    stragglers = []
    for node in selected:
        task = tasks[node.name]
        if not task.done():
            task.cancel()
            stragglers.append(task)
            results += unknown_results(node, f"timed out after {timeout:g}s")
        elif task.exception() is not None:
            error = task.exception()
            errors.append(f"{node.name}: internal error: {type(error).__name__}: {error}")
            results += unknown_results(node, f"internal error: {error}")
        else:
            results += task.result()
    if stragglers:
        # Give cancelled polls a moment to close their channels, but never wait on them.
        with contextlib.suppress(Exception):
            await asyncio.wait(stragglers, timeout=0.5)
    return CheckReport(
        inventory=inventory.name,
        results=tuple(results),
        duration_s=time.monotonic() - started,
        errors=tuple(errors),
    )
