"""A snapshot source that replays recorded snapshots: deterministic screens, tests and benchmarks."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from console.inventory.model import Node
from console.snapshots import NodeSnapshot


class RecordedSource:
    """Answers each poll with the node's recorded snapshot (after `delay` seconds, to mimic the network)."""

    def __init__(self, snapshots: Mapping[str, NodeSnapshot], *, delay: float = 0.0) -> None:
        self.snapshots = dict(snapshots)
        self.delay = delay
        self.polls: dict[str, int] = {}

    async def poll(self, node: Node, *, force: bool = False) -> NodeSnapshot:
        self.polls[node.name] = self.polls.get(node.name, 0) + 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.snapshots[node.name]

    async def close(self) -> None:
        return None
