"""Fleet screen: one row per node, each node polled by its own worker, rescheduled after it answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Static

from console.fleet import SnapshotSource
from console.inventory.model import Inventory, Node
from console.snapshots import NodeSnapshot
from widgets.fleet_table import FleetTable


@dataclass
class NodePolled(Message):
    """A poll of one node finished (successfully or not: the snapshot says)."""

    snapshot: NodeSnapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, NodePolled) and message.snapshot.node == self.snapshot.node


class FleetScreen(Screen[None]):
    CSS_PATH = "fleet.tcss"
    BINDINGS = [
        Binding("r", "refresh_now", "Refresh"),
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark", "app.toggle_keys", "Keys", key_display="?"),
    ]

    def __init__(self, inventory: Inventory, source: SnapshotSource, nodes: tuple[Node, ...]) -> None:
        super().__init__()
        self.inventory = inventory
        self.source = source
        self.nodes = {node.name: node for node in nodes}
        self.snapshots: dict[str, NodeSnapshot] = {}
        self._polls_in_flight: set[str] = set()
        self._poll_timers: dict[str, Timer] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._summary(), id="fleet-summary")
        yield FleetTable(id="fleet-table")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"opsconsole — {self.inventory.name}"
        table = self.query_one(FleetTable)
        for node in self.nodes.values():
            table.show_node(node, None)
        for node in self.nodes.values():
            self.poll_node(node)

    def poll_node(self, node: Node, *, force: bool = False) -> None:
        """Start a poll unless one is in flight: never two polls of one node at once."""
        if node.name in self._polls_in_flight:
            return
        timer = self._poll_timers.pop(node.name, None)
        if timer is not None:
            timer.stop()
        self._polls_in_flight.add(node.name)
        self._poll(node, force)

    def _poll(self, node: Node, force: bool) -> None:
        self.run_worker(
            self._poll_once(node, force),
            name=f"poll {node.name}",
            group=f"poll-{node.name}",
            exclusive=True,
            exit_on_error=False,
        )

    async def _poll_once(self, node: Node, force: bool) -> None:
        try:
            snapshot = await self.source.poll(node, force=force)
        except Exception as error:  # a bug in one poll must not stop that node's refresh for good
            snapshot = NodeSnapshot(
                node.name, datetime.now(UTC), reachable=False, error=f"internal error: {error}"
            )
        finally:
            self._polls_in_flight.discard(node.name)
        self.post_message(NodePolled(snapshot))

    def on_node_polled(self, message: NodePolled) -> None:
        snapshot = message.snapshot
        node = self.nodes.get(snapshot.node)
        if node is None:
            return
        self.snapshots[node.name] = snapshot
        self.query_one(FleetTable).show_node(node, snapshot)
        self.query_one("#fleet-summary", Static).update(self._summary())
        self._poll_timers[node.name] = self.set_timer(node.refresh, lambda: self._scheduled_poll(node))

    def _scheduled_poll(self, node: Node) -> None:
        if not self.is_current:  # another screen covers us: look again later instead of polling unseen
            self._poll_timers[node.name] = self.set_timer(node.refresh, lambda: self._scheduled_poll(node))
            return
        self.poll_node(node)

    def action_refresh_now(self) -> None:
        for node in self.nodes.values():
            self.poll_node(node, force=True)

    def _summary(self) -> str:
        total = len(self.nodes)
        up = sum(1 for snapshot in self.snapshots.values() if snapshot.reachable)
        down = sum(1 for snapshot in self.snapshots.values() if not snapshot.reachable)
        gpus = sum(len(s.gpu.gpus) for s in self.snapshots.values() if s.gpu is not None)
        waiting = total - up - down
        parts = [f"{total} nodes", f"{up} up", f"{down} down", f"{gpus} GPUs"]
        if waiting:
            parts.append(f"{waiting} waiting")
        return "  ·  ".join(parts)
