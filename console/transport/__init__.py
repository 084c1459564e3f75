"""How the core reaches nodes: one Transport per node, made by `transports_for`."""

from __future__ import annotations

from console.inventory.model import Inventory, Node
from console.transport.base import (
    CommandResult,
    CommandTimeout,
    ConnectError,
    HostKeyError,
    OutputTooLarge,
    Transport,
    TransportError,
)
from console.transport.local import LocalTransport
from console.transport.ssh import SSHTransport

__all__ = [
    "CommandResult",
    "CommandTimeout",
    "ConnectError",
    "HostKeyError",
    "LocalTransport",
    "OutputTooLarge",
    "SSHTransport",
    "Transport",
    "TransportError",
    "transport_for",
    "transports_for",
]


def transport_for(node: Node, *, jump: SSHTransport | None = None) -> Transport:
    if node.transport == "local":
        return LocalTransport(node.name, command_timeout=node.ssh.command_timeout)
    return SSHTransport(node, jump=jump)


def transports_for(inventory: Inventory, nodes: tuple[Node, ...] | None = None) -> dict[str, Transport]:
    """One transport per node; nodes whose `jump` names another SSH node share that node's connection."""
    wanted = nodes if nodes is not None else inventory.nodes
    by_name = {node.name: node for node in inventory.nodes}
    made: dict[str, Transport] = {}

    def make(node: Node) -> Transport:
        if node.name in made:
            return made[node.name]
        jump_node = by_name.get(node.ssh.jump or "")
        jump = make(jump_node) if jump_node is not None and jump_node.transport == "ssh" else None
        made[node.name] = transport_for(node, jump=jump if isinstance(jump, SSHTransport) else None)
        return made[node.name]

    for node in wanted:
        make(node)
    return {node.name: made[node.name] for node in wanted}
