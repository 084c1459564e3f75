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
from console.transport.jumps import jump_node
from console.transport.local import LocalTransport
from console.transport.ssh import SSHTransport
from console.transport.tempdirs import clean_once

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
    """One transport per node; nodes whose `jump` names another SSH node share that node's connection, and
    nodes with the same text jump (`user@host:port`, same keys and known_hosts) share one to that host."""
    clean_once()  # socket dirs a killed run left behind
    wanted = nodes if nodes is not None else inventory.nodes
    by_name = {node.name: node for node in inventory.nodes}
    made: dict[str, Transport] = {}
    hops: dict[Node, SSHTransport] = {}

    def text_jump(node: Node, spec: str) -> SSHTransport | None:
        try:
            hop = jump_node(spec, node)
        except ValueError:
            return None  # the node's own transport reports it when it connects
        if hop not in hops:
            hops[hop] = SSHTransport(hop, label=f"jump host {spec}", max_sessions=1)
        return hops[hop]

    def make(node: Node) -> Transport:
        if node.name in made:
            return made[node.name]
        spec = node.ssh.jump
        jump: Transport | None = None
        if spec and spec in by_name:
            jump = make(by_name[spec]) if by_name[spec].transport == "ssh" else None
        elif spec and node.transport == "ssh":
            jump = text_jump(node, spec)
        made[node.name] = transport_for(node, jump=jump if isinstance(jump, SSHTransport) else None)
        return made[node.name]

    for node in wanted:
        make(node)
    return {node.name: made[node.name] for node in wanted}
