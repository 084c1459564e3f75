"""A one-line form for a range window in words: `from [2 hours ago] to [now]`, hidden until opened.

Enter in either field posts `WindowInput.Typed` with both texts; the screen reads them (console/timewindow.py)
and either closes the form or shows why it cannot (`refuse`), in place under the fields. The widget does
no parsing and no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Static

EXAMPLES = "2 hours ago · yesterday 18:00 · 2026-12-05 14:00"


class WindowInput(Vertical):
    DEFAULT_CSS = """
    WindowInput {
        height: auto;
        display: none;
        padding: 0 1;
        background: $boost;
    }
    WindowInput.-open {
        display: block;
    }
    WindowInput > Horizontal {
        height: 1;
    }
    WindowInput Label {
        padding: 0 1;
    }
    WindowInput #window-from {
        width: 2fr;
    }
    WindowInput #window-to {
        width: 1fr;
    }
    WindowInput #window-note {
        height: auto;
    }
    """

    @dataclass
    class Typed(Message):
        """Enter was pressed: the window as typed (`end` blank: now)."""

        start: str
        end: str

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label("from")
            yield Input(placeholder=EXAMPLES, id="window-from", compact=True)
            yield Label("to")
            yield Input(placeholder="now", id="window-to", compact=True)
        yield Static(id="window-note")

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def open(self) -> None:
        self.add_class("-open")
        self.note("Enter applies (UTC) · Esc closes · F6 back to the fixed windows")
        self.query_one("#window-from", Input).focus()

    def close(self) -> None:
        self.remove_class("-open")

    def note(self, message: str) -> None:
        self.query_one("#window-note", Static).update(Text(message, style="dim"))

    def refuse(self, message: str) -> None:
        """Why the typed window cannot be used, in place; the field stays as typed for a fix."""
        self.query_one("#window-note", Static).update(Text(f"✖ {message}", style="bold red"))
        self.query_one("#window-to" if message.startswith("to:") else "#window-from", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # not the query line's Enter
        start = self.query_one("#window-from", Input).value
        end = self.query_one("#window-to", Input).value
        self.post_message(self.Typed(start, end))
