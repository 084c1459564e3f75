"""The CRI section: a CRI-O node's containers and pods read with crictl over SSH, judged by
console.checks.cri_rules. The node screen's Containers tab shows them where Docker's would be."""

from __future__ import annotations

from datetime import UTC, datetime

from console.checks.cri_rules import evaluate_cri, planned_cri, wanted_cri
from console.collectors.cri import COMMANDS, collect_cri
from console.inventory.kubernetes import CONTAINERS
from console.model.checks import CheckResult
from console.model.cri import CriSnapshot
from console.model.inventory import Node
from console.model.node import NodeSnapshot
from console.sections.registry import Section
from console.transport.base import Transport


async def _collect(transport: Transport, node: Node) -> CriSnapshot:
    return await collect_cri(transport, node)


def _evaluate(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    return evaluate_cri(node, snapshot.cri)


CRI = Section(
    "cri",
    wanted_cri,
    planned_cri,
    _evaluate,
    _collect,
    read_only_commands=COMMANDS,
    timed_out=lambda node, reason: CriSnapshot(
        node.name, datetime.now(UTC), error=f"CRI-O not read: {reason}"
    ),
    settings=(CONTAINERS,),
)
