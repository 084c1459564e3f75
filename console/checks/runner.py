"""Run every node's checks concurrently, bounded by one deadline for the whole run."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from console.checks.fleet_checks import fleet_checks as extra_fleet_checks
from console.checks.model import CheckReport, CheckResult, Status
from console.checks.power_rules import evaluate_racks
from console.checks.prometheus_rules import evaluate_prometheus, planned_prometheus, prometheus_node
from console.checks.rules import evaluate, unknown_results
from console.collectors.pdu import read_pdu
from console.collectors.prometheus import collect_prometheus
from console.inventory.model import Inventory, Node, RackSpec
from console.model.power import PduReading
from console.snapshots import NodeSnapshot
from console.transport.base import Transport


class CheckSource(Protocol):
    """What the runner asks of a snapshot source (streams.source.StreamingSource, one-shot for --check)."""

    async def poll(self, node: Node, *, force: bool = False) -> NodeSnapshot: ...

    def prometheus_transport(self) -> Transport | None:
        """The connection the fleet's Prometheus is reached through (its `via` node), or None: directly."""
        ...


async def _check_node(
    node: Node, source: CheckSource, snapshots: dict[str, NodeSnapshot]
) -> tuple[CheckResult, ...]:
    snapshot = await source.poll(node, force=True)
    snapshots[node.name] = snapshot  # the racks' power checks add up their nodes' BMC and GPU watts
    return evaluate(node, snapshot)


async def _check_prometheus(inventory: Inventory, via: Transport | None) -> tuple[CheckResult, ...]:
    assert inventory.prometheus is not None
    snapshot = await collect_prometheus(inventory.prometheus, via)
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
    snapshots: dict[str, NodeSnapshot] = {}
    tasks = {node.name: asyncio.create_task(_check_node(node, source, snapshots)) for node in selected}
    racks = _racks(inventory, selected) if fleet_checks else ()
    # The PDUs are read beside the nodes, one task each within its own deadline and this one: a PDU that
    # never answers costs only its own result.
    wanted = {name for rack in racks for name in rack.pdus}
    pdus = {
        spec.name: asyncio.create_task(read_pdu(spec, timeout=timeout))
        for spec in inventory.pdus
        if spec.name in wanted
    }
    # The connection the fleet's Prometheus is reached through, asked once for every fleet check.
    via = source.prometheus_transport() if fleet_checks and inventory.prometheus is not None else None
    prometheus = None
    if fleet_checks and inventory.prometheus is not None:
        prometheus = asyncio.create_task(_check_prometheus(inventory, via))
    # The monitoring stack's health and the nodes a fleet read from Prometheus discovers.
    extra = extra_fleet_checks(inventory, via) if fleet_checks else ()
    extra_tasks = [(check, asyncio.create_task(check.run())) for check in extra]
    waiting = [*tasks.values(), *([prometheus] if prometheus else []), *pdus.values()]
    waiting += [task for _, task in extra_tasks]
    if waiting:
        await asyncio.wait(waiting, timeout=timeout)
    results: list[CheckResult] = []
    errors: list[str] = []
    stragglers: list[asyncio.Task[Any]] = []
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
    if racks:
        readings: dict[str, PduReading] = {}
        for name, pending in pdus.items():
            if not pending.done():
                pending.cancel()
                stragglers.append(pending)
                readings[name] = PduReading(name, datetime.now(UTC), error=timed_out)
            elif pending.exception() is not None:
                error = pending.exception()
                errors.append(f"PDU {name}: internal error: {type(error).__name__}: {error}")
                readings[name] = PduReading(name, datetime.now(UTC), error=f"internal error: {error}")
            else:
                readings[name] = pending.result()
        # Judged on what answered in time: a node that did not is a missing BMC/GPU reading.
        results += evaluate_racks(replace(inventory, racks=racks), readings, snapshots)
    for check, task in extra_tasks:
        if not task.done():
            task.cancel()
            stragglers.append(task)
            results += [
                CheckResult(check.node, c, Status.UNKNOWN, timed_out, target=t) for c, t in check.planned
            ]
        elif task.exception() is not None:
            error = task.exception()
            errors.append(f"{check.name}: internal error: {type(error).__name__}: {error}")
            results += [
                CheckResult(check.node, c, Status.UNKNOWN, f"internal error: {error}", target=t)
                for c, t in check.planned
            ]
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


def _racks(inventory: Inventory, selected: tuple[Node, ...]) -> tuple[RackSpec, ...]:
    """The racks a run judges: every one, or with some nodes selected, the racks those nodes sit in."""
    if len(selected) == len(inventory.nodes):
        return inventory.racks
    chosen = {node.rack for node in selected}
    return tuple(rack for rack in inventory.racks if rack.name in chosen)
