"""Run every node's checks concurrently, bounded by one deadline for the whole run."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol

from console.checks.model import CheckReport, CheckResult, Status
from console.checks.prometheus_rules import evaluate_prometheus, planned_prometheus, prometheus_node
from console.checks.rules import evaluate, unknown_results
from console.collectors.prometheus import collect_prometheus
from console.inventory.model import Inventory, Node
from console.snapshots import NodeSnapshot
from console.transport.base import Transport


class CheckSource(Protocol):
    """What the runner asks of a snapshot source (streams.source.StreamingSource, one-shot for --check)."""

    async def poll(self, node: Node, *, force: bool = False) -> NodeSnapshot: ...

    def prometheus_transport(self) -> Transport | None:
        """The connection the fleet's Prometheus is reached through (its `via` node), or None: directly."""
        ...


async def _check_node(node: Node, source: CheckSource) -> tuple[CheckResult, ...]:
    snapshot = await source.poll(node, force=True)
    return evaluate(node, snapshot)


async def _check_prometheus(inventory: Inventory, source: CheckSource) -> tuple[CheckResult, ...]:
    assert inventory.prometheus is not None
    snapshot = await collect_prometheus(inventory.prometheus, source.prometheus_transport())
    return evaluate_prometheus(prometheus_node(inventory), snapshot)


async def run_checks(
    inventory: Inventory,
    source: CheckSource,
    *,
    nodes: tuple[Node, ...] | None = None,
    timeout: float = 60.0,
    fleet_checks: bool = True,
    stated_timeout: float | None = None,
) -> CheckReport:
    """Every node at once; whatever has not finished by `timeout` is reported UNKNOWN, "timed out".

    `fleet_checks` adds the checks that belong to no single node (the fleet's Prometheus).
    `stated_timeout` is the deadline as the operator gave it, for the messages, when `timeout` is what is
    left of it (--check counts --timeout from the process start).
    """
    started = time.monotonic()
    timed_out = f"timed out after {stated_timeout if stated_timeout is not None else timeout:g}s"
    selected = nodes if nodes is not None else inventory.nodes
    tasks = {node.name: asyncio.create_task(_check_node(node, source)) for node in selected}
    prometheus = None
    if fleet_checks and inventory.prometheus is not None:
        prometheus = asyncio.create_task(_check_prometheus(inventory, source))
    waiting = [*tasks.values(), *([prometheus] if prometheus else [])]
    if waiting:
        await asyncio.wait(waiting, timeout=timeout)
    results: list[CheckResult] = []
    errors: list[str] = []
    stragglers = []
    for node in selected:
        task = tasks[node.name]
        if not task.done():
            task.cancel()
            stragglers.append(task)
            results += unknown_results(node, timed_out)
        elif task.exception() is not None:
            error = task.exception()
            errors.append(f"{node.name}: internal error: {type(error).__name__}: {error}")
            results += unknown_results(node, f"internal error: {error}")
        else:
            results += task.result()
    if prometheus is not None:
        where = prometheus_node(inventory)
        if not prometheus.done():
            prometheus.cancel()
            stragglers.append(prometheus)
            results += [
                CheckResult(where, check, Status.UNKNOWN, timed_out, target=target)
                for check, target in planned_prometheus(inventory)
            ]
        elif prometheus.exception() is not None:
            error = prometheus.exception()
            errors.append(f"prometheus: internal error: {type(error).__name__}: {error}")
        else:
            results += prometheus.result()
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
