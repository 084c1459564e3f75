"""The GPU section: read by the GPU stream (or Prometheus), judged by console.checks.gpu_rules."""

from __future__ import annotations

from console.checks.gpu_rules import evaluate_gpu, planned_gpu
from console.collectors.gpu import POLL_COMMAND
from console.model.checks import CheckResult
from console.model.inventory import Node
from console.model.node import NodeSnapshot
from console.sections.registry import Planned, Section


def _planned(node: Node) -> Planned:
    return tuple((check, None) for check in planned_gpu(node))


def _evaluate(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    return evaluate_gpu(node, snapshot.gpu)


# Every node is asked about its GPUs (a node expecting none says so in gpu_rules).
GPU = Section("gpu", lambda node: True, _planned, _evaluate, read_only_commands=(POLL_COMMAND,))
