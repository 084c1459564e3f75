"""One poll of one node, the unit both the TUI and `--check` are built from."""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from typing import Protocol

from console.collectors.gpu import collect_gpus
from console.inventory.model import Inventory, Node
from console.snapshots import NodeSnapshot
from console.transport import ConnectError, Transport, TransportError, transports_for


class SnapshotSource(Protocol):
    """Where node snapshots come from: the live fleet, or recorded data for tests and benchmarks."""

    async def poll(self, node: Node, *, force: bool = False) -> NodeSnapshot: ...

    async def close(self) -> None: ...


async def poll_node(node: Node, transport: Transport, *, force: bool = False) -> NodeSnapshot:
    """Connect (reusing the open connection) and collect; never raises for node trouble."""
    started = time.monotonic()
    try:
        await transport.connect(force=force)
    except ConnectError as exc:
        return NodeSnapshot(node.name, datetime.now(UTC), reachable=False, error=str(exc))
    connect_s = time.monotonic() - started
    try:
        gpu = await collect_gpus(transport, timeout=node.ssh.command_timeout)
    except TransportError as exc:
        return NodeSnapshot(
            node.name, datetime.now(UTC), reachable=False, error=str(exc), connect_s=connect_s
        )
    return NodeSnapshot(node.name, datetime.now(UTC), reachable=True, gpu=gpu, connect_s=connect_s)


class LiveSource:
    """Snapshots from the real nodes, one persistent transport per node."""

    def __init__(self, inventory: Inventory, nodes: tuple[Node, ...] | None = None) -> None:
        self.transports = transports_for(inventory, nodes)

    async def poll(self, node: Node, *, force: bool = False) -> NodeSnapshot:
        return await poll_node(node, self.transports[node.name], force=force)

    async def close(self) -> None:
        for transport in self.transports.values():
            # Closing a dead connection has nothing left to tell us.
            with contextlib.suppress(OSError, TransportError):
                await transport.close()
