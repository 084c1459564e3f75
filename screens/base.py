"""What every console screen shares: which nodes it shows (the app polls only those) and the hooks the
app calls when their snapshots arrive, when a poll runs long, or when refresh is paused or retimed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import events
from textual.screen import Screen
from textual.widgets import Footer, Static

from console.actions import ActionResult
from console.model.node import NodeSnapshot
from console.session import ConsoleSession
from widgets.safe import safe_text

if TYPE_CHECKING:
    from screens.app import OpsConsoleApp


WIDE_FOOTER = 100


class ConsoleScreen(Screen[None]):
    """A full screen of the console. Subclasses override the hooks they need."""

    def __init__(self) -> None:
        super().__init__()
        self._texts: dict[str, str] = {}

    def set_text(self, selector: str, text: Text | str) -> None:
        """Update a Static only when its text changed: an update re-lays-out the screen, and a relayout
        redraws every table on it. A str is plain text, never markup; control characters are made visible
        (these lines quote nodes: errors, drivers, check summaries)."""
        shown = safe_text(text if isinstance(text, Text) else Text(text), multiline=True)
        markup = shown.markup
        if self._texts.get(selector) != markup:
            self._texts[selector] = markup
            self.query_one(selector, Static).update(shown)

    @property
    def ops_app(self) -> OpsConsoleApp:
        return cast("OpsConsoleApp", self.app)

    @property
    def session(self) -> ConsoleSession:
        return self.ops_app.session

    def polled_nodes(self) -> Iterable[str]:
        """The nodes whose snapshots this screen displays; the app polls no others while it is shown."""
        return ()

    def show_snapshots(self, snapshots: Sequence[NodeSnapshot]) -> None:
        """The answers of one frame (the latest per node, only nodes this screen shows), while this screen
        is active; one repaint follows. A screen whose redraw costs the same for one node as for all
        (checks across the fleet) overrides this to redraw once."""
        for snapshot in snapshots:
            self.show_snapshot(snapshot)

    def show_snapshot(self, snapshot: NodeSnapshot) -> None:
        """A node this screen shows has a new snapshot (only called while this screen is active)."""

    def show_slow(self, node: str, seconds: float) -> None:
        """A poll of `node` has been running for `seconds` without an answer."""

    def show_status(self) -> None:
        """Refresh was paused, resumed or retimed."""

    def show_action(self, result: ActionResult) -> None:
        """A node action finished (the app has logged it)."""

    def refresh_now(self) -> None:
        """`r`: what this screen refreshes beyond the node polls (queries of its own)."""

    def catch_up(self) -> None:
        """The screen is shown again: redraw from the session's latest state."""

    def on_resize(self, event: events.Resize) -> None:
        # Below 100 columns the palette's "^p palette" would push the console's own keys out of the footer
        # (Ctrl+P still works, and `?` and the README list it).
        for footer in self.query(Footer):
            footer.show_command_palette = event.size.width >= WIDE_FOOTER

    def on_screen_resume(self) -> None:
        self.catch_up()
        self.ops_app.wake_polls()
