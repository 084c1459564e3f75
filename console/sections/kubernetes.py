"""The Kubernetes section: the cluster read with kubectl (or oc) on the `kubernetes.via` node, judged by
console.checks.k8s_rules.

Only the via node reads it (its kubeconfig stays there); the member nodes' results carry their inventory name
as the target.
"""

from __future__ import annotations

from datetime import UTC, datetime

from console.checks.k8s_rules import evaluate_kubernetes, planned_kubernetes, wanted_kubernetes
from console.collectors.kubernetes import COMMANDS, collect_kubernetes
from console.inventory.kubernetes import KUBERNETES as KUBERNETES_SETTINGS
from console.model.checks import CheckResult
from console.model.inventory import Node
from console.model.kubernetes import KubernetesSnapshot
from console.model.node import NodeSnapshot
from console.sections.registry import Section
from console.transport.base import Transport


async def _collect(transport: Transport, node: Node) -> KubernetesSnapshot:
    return await collect_kubernetes(transport, node)


def _timed_out(node: Node, reason: str) -> KubernetesSnapshot:
    return KubernetesSnapshot(node.name, datetime.now(UTC), error=f"Kubernetes not read: {reason}")


def _evaluate(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    return evaluate_kubernetes(node, snapshot.kubernetes, snapshot.gpu)


KUBERNETES = Section(
    "kubernetes",
    wanted_kubernetes,
    planned_kubernetes,
    _evaluate,
    _collect,
    read_only_commands=COMMANDS,
    timed_out=_timed_out,
    settings=(KUBERNETES_SETTINGS,),
)
