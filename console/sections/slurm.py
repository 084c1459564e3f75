"""The Slurm section: the cluster read on the `slurm.via` node, judged by console.checks.slurm_rules.

Only the via node (the one the loader gave its cluster's members) reads it: sinfo, squeue and scontrol ping
over its SSH connection; the member nodes' results carry their inventory name as the target.
"""

from __future__ import annotations

from datetime import UTC, datetime

from console.checks.slurm_rules import evaluate_slurm, planned_slurm, wanted_slurm
from console.collectors.slurm import COMMANDS, collect_slurm
from console.inventory import settings as inventory
from console.model.checks import CheckResult
from console.model.inventory import Node
from console.model.node import NodeSnapshot
from console.model.slurm import SlurmSnapshot
from console.sections.registry import Section
from console.transport.base import Transport


async def _collect(transport: Transport, node: Node) -> SlurmSnapshot:
    return await collect_slurm(transport, node)


def _timed_out(node: Node, reason: str) -> SlurmSnapshot:
    return SlurmSnapshot(node.name, datetime.now(UTC), error=f"Slurm not read: {reason}")


def _evaluate(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    return evaluate_slurm(node, snapshot.slurm)


SLURM = Section(
    "slurm",
    wanted_slurm,
    planned_slurm,
    _evaluate,
    _collect,
    read_only_commands=COMMANDS,
    timed_out=_timed_out,
    settings=(inventory.SLURM,),
)
