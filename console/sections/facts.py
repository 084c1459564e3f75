"""The node facts section: sshd's effective policy and the storage paths' owners and modes."""

from __future__ import annotations

from datetime import UTC, datetime

from console.checks.node_rules import evaluate_node_facts, planned_node_facts
from console.collectors.node_facts import FACTS_SCRIPT, SCRIPT_NAME, NodeFacts, collect_node_facts
from console.inventory import settings as inventory
from console.model.checks import CheckResult
from console.model.inventory import Node
from console.model.node import NodeSnapshot
from console.sections.registry import Section
from console.transport.base import Transport
from console.transport.readonly import Argv, Word


def _wanted(node: Node) -> bool:
    return node.sshd is not None or bool(node.storage)


async def _collect(transport: Transport, node: Node) -> NodeFacts:
    return await collect_node_facts(transport, node, timeout=node.ssh.command_timeout)


def _timed_out(node: Node, message: str) -> NodeFacts:
    return NodeFacts(node.name, datetime.now(UTC), error=message)


def _evaluate(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    return evaluate_node_facts(node, snapshot.facts)


# facts_command: which sshd reading (none, plain, under sudo) and any absolute paths, as data words.
_COMMAND = Argv(
    "LC_ALL=C", "sh", "-c", FACTS_SCRIPT, SCRIPT_NAME, Word("sshd|sshd-sudo|-"), Word("/.*", many=True)
)

FACTS = Section(
    "facts",
    _wanted,
    planned_node_facts,
    _evaluate,
    _collect,
    read_only_commands=(_COMMAND,),
    timed_out=_timed_out,
    settings=(inventory.SSHD, inventory.STORAGE),
)
