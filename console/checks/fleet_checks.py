"""The checks that belong to no single inventory node and run beside the node polls: the monitoring stack's
own health, and the nodes a fleet read from Prometheus discovers (`fleet: {source: prometheus}`).

Each is a `FleetCheck`: what it will report (known before anything runs, so a timeout can name it) and the
coroutine that reads and judges. The runner starts them beside the nodes and bounds them by the same
deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass
from typing import Any

from console.checks.model import CheckResult, Status, counted
from console.checks.monitoring_rules import evaluate_monitoring, planned_monitoring
from console.checks.prom_fleet_rules import evaluate_prom_node
from console.checks.prometheus_rules import prometheus_node
from console.checks.rules import planned_checks
from console.collectors.monitoring import collect_monitoring
from console.collectors.prom_fleet import collect_prom_fleet
from console.collectors.prometheus import PrometheusError, open_prometheus
from console.inventory.model import Inventory, Node
from console.transport.base import Transport

FLEET = "fleet.prometheus"


@dataclass(frozen=True, slots=True)
class FleetCheck:
    name: str
    planned: tuple[tuple[str, str | None], ...]
    run: Callable[[], Coroutine[Any, Any, tuple[CheckResult, ...]]]
    node: str  # whose results these are (for a timeout's UNKNOWN results)


def discovered_node(name: str) -> Node:
    """A node the series name and the inventory does not: the inventory's built-in defaults, no SSH."""
    return Node(name=name, host=name)


def fleet_checks(
    inventory: Inventory, via: Transport | None, *, skip_nodes: Collection[str] = ()
) -> tuple[FleetCheck, ...]:
    """The fleet checks this inventory asks for. `skip_nodes`: inventory nodes (polled over SSH: their
    settings and checks win over what the series say)."""
    where = prometheus_node(inventory)
    checks: list[FleetCheck] = []
    planned = planned_monitoring(inventory)
    if planned:

        async def monitoring() -> tuple[CheckResult, ...]:
            snapshot = await collect_monitoring(inventory.prometheus, inventory.monitoring, via)
            return evaluate_monitoring(where, inventory, snapshot)

        checks.append(FleetCheck("monitoring", planned, monitoring, where))
    if inventory.fleet.source == "prometheus" and inventory.prometheus is not None:
        settings, fleet = inventory.prometheus, inventory.fleet
        known = set(skip_nodes) | {node.name for node in inventory.nodes}

        async def from_prometheus() -> tuple[CheckResult, ...]:
            try:
                client = await open_prometheus(settings, via)
            except PrometheusError as exc:
                return (CheckResult(where, FLEET, Status.UNKNOWN, f"no fleet from Prometheus: {exc}"),)
            snapshot = await collect_prom_fleet(client, node_label=fleet.node_label, window=fleet.rate_window)
            if snapshot.error is not None:
                return (
                    CheckResult(where, FLEET, Status.UNKNOWN, f"no fleet from Prometheus: {snapshot.error}"),
                )
            found = [prom for prom in snapshot.nodes if prom.name not in known]
            stale = sum(prom.stale for prom in found)
            summary = (
                f"{counted(len(snapshot.nodes), 'node')} in Prometheus, {len(found)} not in the inventory"
            )
            summary += f"; {stale} stale" if stale else ""
            status = Status.OK
            if snapshot.failed:
                status, summary = Status.WARNING, f"{summary}; unanswered: {'; '.join(snapshot.failed)}"
            results = [CheckResult(where, FLEET, status, summary)]
            for prom in found:
                node = discovered_node(prom.name)
                results += evaluate_prom_node(node, prom, tuple(planned_checks(node)))
            return tuple(results)

        checks.append(FleetCheck("fleet", ((FLEET, None),), from_prometheus, where))
    return tuple(checks)
