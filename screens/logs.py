"""A container's logs: the last lines first, then new lines as they come; search, pause, timestamps,
tail and since choices, and a follow that survives the container restarting.

The stream is `console.actions.logs.stream_logs` through the session: `LogStatus` events say where it is
(connecting, following, reconnecting, waiting for a stopped container, ended) and `LogLine` events carry
the lines (cleaned by the backend, and again by the view: a line reaches the terminal only as plain text).
A worker of this screen (group `logs`) reads it, so leaving the screen cancels it and cancelling closes the
stream. Lines go into a buffer and one coalescing message tells the screen to draw them, so a chatty
container cannot flood the message queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Footer, Header, Input, Static

from console.actions import ActionError
from console.actions.logs import TAIL_CHOICES, LogLine, LogQuery, LogStatus
from console.model.inventory import Node
from console.text import clean_line
from screens.base import ConsoleScreen
from screens.messages import LogLinesArrived
from widgets.log_view import MAX_LINES, LogView

SINCE_CHOICES: tuple[float | None, ...] = (None, 600.0, 3600.0, 86400.0)  # seconds back; None: any time
_SINCE_NAMES = {None: "any time", 600.0: "10m", 3600.0: "1h", 86400.0: "24h"}


def stamp_text(when: datetime | None) -> str | None:
    """A line's time as the view shows it with `t`: Docker's time in UTC, to the millisecond."""
    if when is None:
        return None
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class LogStreamEnded(Message):
    error: str | None  # None: the stream ended on its own (the container was removed, or no follow)
    generation: int  # which stream (a reconnect starts a new one; late news of an old one is ignored)


@dataclass
class LogStateChanged(Message):
    status: LogStatus
    generation: int


class LogScreen(ConsoleScreen):
    CSS_PATH = "logs.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("p,space", "pause_log", "Pause log", key_display="p"),
        Binding("t", "timestamps", "Timestamps"),
        Binding("n", "tail", "Lines"),
        Binding("s", "since", "Since"),
        Binding("r", "reconnect", "Reconnect"),
        Binding("end", "follow_end", "Latest", show=False),
    ]

    def __init__(
        self, node: Node, container: str, *, lines: int | None = TAIL_CHOICES[0], max_lines: int = MAX_LINES
    ) -> None:
        super().__init__()
        self.max_lines = max_lines
        self.node = node
        self.container = container
        self.tail = lines
        self.since: float | None = None
        self._buffer: list[LogLine] = []
        self.status = LogStatus("connecting", f"connecting to {node.name}…")
        self.error: str | None = None
        self.received = 0  # lines of the current stream
        self.restarted_at: datetime | None = None  # the follow came back after the container restarted
        self._interrupted = False  # reconnecting or waiting was seen: the next "following" is a comeback
        self._generation = 0

    @property
    def log_query(self) -> LogQuery:
        return LogQuery(tail=self.tail, since=self.since, follow=True)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="log-status")
        yield LogView(id="log-view", max_lines=self.max_lines)
        yield Input(placeholder="search (Enter keeps it, Esc clears)", id="log-search", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = clean_line(f"logs of {self.container} on {self.node.name}")
        self.query_one("#log-search", Input).cursor_blink = self.ops_app.cursor_blink
        self.query_one(LogView).focus()
        self.show_status()
        self._start()

    # --- the stream ----------------------------------------------------------------------------------

    def _start(self) -> None:
        self._generation += 1
        self.follow(self._generation)

    @work(group="logs", exclusive=True, exit_on_error=False)
    async def follow(self, generation: int) -> None:
        try:
            stream = self.session.stream_logs(self.node, self.container, self.log_query)
            try:
                async for event in stream:
                    if isinstance(event, LogStatus):
                        self.post_message(LogStateChanged(event, generation))
                        continue
                    self._buffer.append(event)
                    self.post_message(LogLinesArrived())
            finally:
                aclose = getattr(stream, "aclose", None)  # an async generator: close the stream now
                if aclose is not None:
                    await aclose()
        except ActionError as exc:
            self.post_message(LogStreamEnded(str(exc), generation))
            return
        self.post_message(LogStreamEnded(None, generation))

    def on_log_lines_arrived(self, message: LogLinesArrived) -> None:
        lines, self._buffer = self._buffer, []
        if not lines:
            return
        self.received += len(lines)
        self.query_one(LogView).add_lines(
            [line.text for line in lines], [stamp_text(line.time) for line in lines]
        )
        self.show_status()

    def on_log_state_changed(self, message: LogStateChanged) -> None:
        if message.generation != self._generation:
            return
        self.on_log_lines_arrived(LogLinesArrived())  # lines before a status belong before it
        state = message.status.state
        if state in ("reconnecting", "waiting"):
            self._interrupted = True
        elif state == "following" and self._interrupted:
            self._interrupted = False
            self.restarted_at = self.session.now()
        self.status = message.status
        self.show_status()

    def on_log_stream_ended(self, message: LogStreamEnded) -> None:
        if message.generation != self._generation:
            return
        self.on_log_lines_arrived(LogLinesArrived())
        self.error = clean_line(message.error) if message.error else None
        if self.status.state != "ended":
            self.status = LogStatus("ended", "the log stream ended")
        self.show_status()

    def _state_text(self) -> Text:
        if self.error:
            return Text(f"✖ {self.error} · r retries", style="bold red")
        state, detail = self.status.state, clean_line(self.status.detail)
        if state == "connecting":
            return Text(f"connecting to {self.node.name}…", style="yellow")
        if state == "following":
            if self.received:
                text = Text("● following", style="green")
            else:
                text = Text("● following, no output yet", style="green")
            if self.restarted_at is not None:
                at = self.restarted_at.strftime("%H:%M:%S")
                text.append(f" · ↻ container restarted, reconnected at {at}", style="bold yellow")
            return text
        if state in ("reconnecting", "waiting"):
            return Text(f"↻ {detail}", style="bold yellow")
        return Text(f"■ {detail} · r reconnects", style="bold")

    def show_status(self) -> None:
        view = self.query_one(LogView)
        tail = "all" if self.tail is None else str(self.tail)
        parts = [
            Text(clean_line(f"{self.node.name} / {self.container}"), style="bold"),
            self._state_text(),
        ]
        kept = f"{len(view.lines_kept):,} lines"
        if view.dropped:
            kept += f" (last {view.capacity:,} kept, {view.dropped:,} older dropped)"
        parts.append(Text(kept, style="bold" if view.dropped else ""))
        parts.append(Text(f"tail {tail} (n) · since {_SINCE_NAMES.get(self.since, '?')} (s)"))
        if view.timestamps:
            parts.append(Text("timestamps UTC (t)"))
        if view.search:
            parts.append(Text(f'search "{view.search}": {len(view.shown)} matching'))
        if view.paused:
            parts.insert(0, Text(f"⏸ LOG PAUSED ({view.held} new)", style="bold reverse"))
        self.set_text("#log-status", Text("  ·  ").join(parts))

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

    def action_timestamps(self) -> None:
        view = self.query_one(LogView)
        view.set_timestamps(not view.timestamps)
        self.show_status()

    def action_tail(self) -> None:
        """n: the next tail choice (100, 1000, all lines), read again from the start."""
        choices = TAIL_CHOICES
        self.tail = (
            choices[(choices.index(self.tail) + 1) % len(choices)] if self.tail in choices else choices[0]
        )
        self.action_reconnect()

    def action_since(self) -> None:
        """s: the next since choice (any time, 10m, 1h, 24h), read again from the start."""
        self.since = SINCE_CHOICES[(SINCE_CHOICES.index(self.since) + 1) % len(SINCE_CHOICES)]
        self.action_reconnect()

    def action_reconnect(self) -> None:
        self._buffer.clear()
        self.query_one(LogView).reset()
        self.received = 0
        self.error = None
        self.restarted_at = None
        self._interrupted = False
        self.status = LogStatus("connecting", f"connecting to {self.node.name}…")
        self.show_status()
        self._start()

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
