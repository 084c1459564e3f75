"""Rules: turn one node's snapshot into check results. Pure functions, no I/O."""

from __future__ import annotations

from console.checks.docker_rules import evaluate_docker, planned_docker
from console.checks.gpu_rules import evaluate_gpu, planned_gpu
from console.checks.model import CheckResult, Status
from console.checks.mount_rules import evaluate_mounts, planned_mounts
from console.checks.node_rules import evaluate_node_facts, planned_node_facts
from console.checks.service_rules import evaluate_services, planned_services
from console.inventory.model import Node
from console.snapshots import NodeSnapshot
from console.wizards.fixes import name_fix
from console.wizards.stack_checks import evaluate_stack, planned_stack

Planned = tuple[tuple[str, str | None], ...]


def planned_checks(node: Node) -> Planned:
    """(check id, target) pairs a node gets, known before anything runs (so a timeout can name them)."""
    return (
        ("ssh.reachable", None),
        *((check, None) for check in planned_gpu(node)),
        *planned_services(node),
        *planned_mounts(node),
        *planned_docker(node),
        *planned_node_facts(node),
        *planned_stack(node),
    )


def unknown_results(node: Node, summary: str) -> tuple[CheckResult, ...]:
    return tuple(
        CheckResult(node.name, check, Status.UNKNOWN, summary, target=target)
        for check, target in planned_checks(node)
    )


def evaluate(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    if not snapshot.reachable:
        reason = snapshot.error or "unreachable"
        unreachable = CheckResult(node.name, "ssh.reachable", Status.CRITICAL, reason)
        return (unreachable, *unknown_results(node, "node unreachable")[1:])
    how = "local" if node.transport == "local" else f"connected in {snapshot.connect_s or 0:.2f}s"
    results = [CheckResult(node.name, "ssh.reachable", Status.OK, how)]
    results += evaluate_gpu(node, snapshot.gpu)
    if node.services:
        published = snapshot.docker.published() if snapshot.docker is not None else ()
        results += evaluate_services(node, snapshot.services, published)
    if node.mounts:
        results += evaluate_mounts(node, snapshot.mounts)
    if node.docker is not None:
        results += evaluate_docker(node, snapshot.docker)
    if node.sshd is not None or node.storage:
        results += evaluate_node_facts(node, snapshot.facts)
    if node.ai_stack is not None:
        results += evaluate_stack(node, snapshot.stack)
    # Failures the troubleshooting catalogue repairs name their fix: "troubleshoot NAME".
    return tuple(name_fix(result) for result in results)
