"""The services section: probes of the inventory's services and the bind audit of the node's listeners."""

from __future__ import annotations

from datetime import UTC, datetime

from console.checks.service_rules import evaluate_services, planned_services
from console.collectors.listeners import LISTENERS_COMMAND
from console.collectors.services import ServicesSnapshot, collect_services
from console.inventory import settings as inventory
from console.model.checks import CheckResult
from console.model.columns import NodeTab
from console.model.inventory import Node
from console.model.node import NodeSnapshot
from console.sections.registry import Section
from console.transport.base import Transport


def _wanted(node: Node) -> bool:
    return bool(node.services)


async def _collect(transport: Transport, node: Node) -> ServicesSnapshot:
    return await collect_services(transport, node)


def _timed_out(node: Node, message: str) -> ServicesSnapshot:
    return ServicesSnapshot(node.name, datetime.now(UTC), error=message)


def _evaluate(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    # The bind audit compares the listeners with what Docker publishes (none known: no Docker section).
    published = snapshot.docker.published() if snapshot.docker is not None else ()
    return evaluate_services(node, snapshot.services, published)


SERVICES = Section(
    "services",
    _wanted,
    planned_services,
    _evaluate,
    _collect,
    read_only_commands=(LISTENERS_COMMAND,),
    timed_out=_timed_out,
    settings=(inventory.SERVICES,),
    tab=NodeTab("services", "Services", 4),
)
