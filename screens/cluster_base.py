"""What a screen of a cluster read through one via node shares (Kubernetes, Slurm): the layout (summary,
node table, a second table under its title, a detail line), which nodes the app polls while it shows (the
via node, whose section reads the cluster, then the members for their GPUs), and one redraw for every
answer, resume and return."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from console.model.inventory import Node
from console.model.node import NodeSnapshot
from screens.base import ConsoleScreen
from widgets.keyed_table import KeyedTable


class ViaClusterScreen(ConsoleScreen):
    """A cluster read on its via node. Subclasses name their widgets and override `find_via`,
    `member_names`, `subtitle` and `_show` (the one redraw)."""

    PREFIX: ClassVar[str]  # widget ids: PREFIX-summary, -nodes, -LOWER-title, -LOWER, -detail
    NODE_TABLE: ClassVar[type[KeyedTable]]
    LOWER_TABLE: ClassVar[type[KeyedTable]]
    LOWER: ClassVar[str]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id=f"{self.PREFIX}-summary")
        yield self.NODE_TABLE(id=f"{self.PREFIX}-nodes")
        yield Static(id=f"{self.PREFIX}-{self.LOWER}-title")
        yield self.LOWER_TABLE(id=f"{self.PREFIX}-{self.LOWER}")
        yield Static(id=f"{self.PREFIX}-detail")
        yield Footer(compact=True)

    def find_via(self, nodes: Iterable[Node]) -> Node | None:
        """The via node among the inventory's nodes (None: no such cluster here)."""
        raise NotImplementedError

    def member_names(self, via: Node) -> Sequence[str]:
        """The inventory names of the cluster's members."""
        raise NotImplementedError

    def subtitle(self, via: Node | None) -> str:
        raise NotImplementedError

    def _show(self) -> None:
        raise NotImplementedError

    @property
    def via(self) -> Node | None:
        return self.find_via(self.ops_app.nodes.values())

    def on_mount(self) -> None:
        self.sub_title = self.subtitle(self.via)
        self.query_one(self.NODE_TABLE).focus()
        self._show()

    def polled_nodes(self) -> Iterable[str]:
        via = self.via
        if via is None:
            return ()
        members = [name for name in self.member_names(via) if name in self.ops_app.nodes]
        return [via.name, *(name for name in members if name != via.name)]

    def show_waiting(self, text: str) -> None:
        """No snapshot of the cluster yet (or no via node): say so, with the tables left as they are."""
        self.set_text(f"#{self.PREFIX}-summary", Text(text, style="dim"))
        self.set_text(f"#{self.PREFIX}-{self.LOWER}-title", Text(""))

    def show_snapshot(self, snapshot: NodeSnapshot) -> None:
        self._show()

    def show_snapshots(self, snapshots: Sequence[NodeSnapshot]) -> None:
        self._show()

    def catch_up(self) -> None:
        self._show()

    def show_status(self) -> None:
        self._show()

    def action_back(self) -> None:
        self.app.pop_screen()
