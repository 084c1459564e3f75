"""A container's logs: the last N lines first, then new lines as they come; search, pause, reconnect.

The stream is read by a worker of this screen (group `logs`), so leaving the screen cancels it, and
cancelling closes the stream. Lines go into a buffer and one coalescing message tells the screen to draw
them, so a chatty container cannot flood the message queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Footer, Header, Input, Static

from console.actions import ActionError
from console.inventory.model import Node
from screens.base import ConsoleScreen
from screens.messages import LogLinesArrived
from widgets.log_view import LogView

TAIL_LINES = 200


@dataclass
class LogStreamEnded(Message):
    error: str | None  # None: the stream ended on its own (the container stopped, the daemon went away)


class LogScreen(ConsoleScreen):
    CSS_PATH = "logs.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("p,space", "pause_log", "Pause log", key_display="p"),
        Binding("r", "reconnect", "Reconnect"),
        Binding("end", "follow_end", "Latest", show=False),
    ]

    def __init__(self, node: Node, container: str, *, lines: int = TAIL_LINES) -> None:
        super().__init__()
        self.node = node
        self.container = container
        self.lines = lines
        self._buffer: list[str] = []
        self.state = "connecting…"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="log-status")
        yield LogView(id="log-view")
        yield Input(placeholder="search (Enter keeps it, Esc clears)", id="log-search", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"logs of {self.container} on {self.node.name}"
        self.query_one("#log-search", Input).cursor_blink = self.console.cursor_blink
        self.query_one(LogView).focus()
        self.show_status()
        self.follow()

    @work(group="logs", exclusive=True, exit_on_error=False)
    async def follow(self) -> None:
        self.state = f"last {self.lines} lines, following"
        try:
            stream: AsyncIterator[str] = self.session.tail_logs(self.node, self.container, lines=self.lines)
            try:
                async for line in stream:
                    self._buffer.append(line)
                    self.post_message(LogLinesArrived())
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    await aclose()
        except ActionError as exc:
            self.post_message(LogStreamEnded(str(exc)))
            return
        self.post_message(LogStreamEnded(None))

    def on_log_lines_arrived(self, message: LogLinesArrived) -> None:
        lines, self._buffer = self._buffer, []
        self.query_one(LogView).add_lines(lines)
        self.show_status()

    def on_log_stream_ended(self, message: LogStreamEnded) -> None:
        self.on_log_lines_arrived(LogLinesArrived())
        self.state = (
            f"✖ {message.error}" if message.error else "stream ended (the container stopped?) · r reconnects"
        )
        self.show_status()

    def show_status(self) -> None:
        view = self.query_one(LogView)
        parts = [Text(f"{self.node.name} / {self.container}", style="bold"), Text(self.state)]
        parts.append(Text(f"{len(view.lines_kept)} lines"))
        if view.search:
            parts.append(Text(f'search "{view.search}": {len(view.shown)} matching'))
        if view.paused:
            parts.insert(0, Text(f"⏸ LOG PAUSED ({view.held} new)", style="bold reverse"))
        style = "bold red" if self.state.startswith("✖") else ""
        self.set_text("#log-status", Text("  ·  ", style=style).join(parts))

    # --- keys ----------------------------------------------------------------------------------------

    def action_back(self) -> None:
        """Esc: clear the search first, if there is one; else back to the node."""
        box = self.query_one("#log-search", Input)
        if box.has_focus or box.value:
            box.value = ""
            box.remove_class("-shown")
            self.query_one(LogView).focus()
            return
        self.app.pop_screen()

    def action_pause_log(self) -> None:
        view = self.query_one(LogView)
        view.set_paused(not view.paused)
        self.show_status()

    def action_reconnect(self) -> None:
        self.query_one(LogView).lines_kept.clear()
        self.query_one(LogView).redraw()
        self.follow()

    def refresh_now(self) -> None:
        self.action_reconnect()

    def action_follow_end(self) -> None:
        self.query_one(LogView).scroll_end(animate=False)

    def action_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.add_class("-shown")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one(LogView).set_search(event.value)
        self.show_status()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            event.input.remove_class("-shown")
        self.query_one(LogView).focus()
