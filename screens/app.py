"""The Textual app: holds the snapshot source and opens the fleet screen."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import App
from textual.binding import Binding

from console.fleet import LiveSource, SnapshotSource
from console.inventory.model import Inventory
from screens.fleet import FleetScreen


class OpsConsoleApp(App[None]):
    CSS_PATH = "console.tcss"
    TITLE = "opsconsole"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", show=False)]

    def __init__(
        self, inventory: Inventory, source: SnapshotSource, *, node_names: Sequence[str] = ()
    ) -> None:
        super().__init__()
        self.inventory = inventory
        self.source = source
        self.selected_nodes = tuple(
            node for node in inventory.nodes if not node_names or node.name in node_names
        )

    def on_mount(self) -> None:
        self.push_screen(FleetScreen(self.inventory, self.source, self.selected_nodes))

    def action_toggle_keys(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    async def on_unmount(self) -> None:
        await self.source.close()


def run_app(inventory: Inventory, *, node_names: Sequence[str] = ()) -> int:
    app = OpsConsoleApp(inventory, LiveSource(inventory), node_names=node_names)
    app.run()
    return app.return_code or 0
