"""A container's log as it streams: keeps the last lines, filters by a search, holds still while paused.

Every line is cleaned here with `console.text.clean_text`, whatever the backend did: a log line is written
by whoever runs in the container, and an OSC 52 in it must not reach the operator's clipboard. Lines are
drawn as `Text`, never markup. A `\\r` progress bar keeps its last redraw, as a terminal would show it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from rich.text import Text
from textual.widgets import RichLog

from console.text import clean_text

MAX_LINES = 5000
STAMP_WIDTH = len("2026-11-22T11:59:58.123Z")  # Docker's time, UTC, to the millisecond


def split_clean(raw: str) -> list[str]:
    """One piece of remote text as the display lines it makes: cleaned, `\\r` redraws collapsed, one
    line per newline (a record with a newline in it is two lines on a terminal too)."""
    return clean_text(raw.rstrip("\n")).split("\n")


class LogView(RichLog):
    """Lines come in through `add_lines` (each with an optional timestamp); `search` shows only matching
    lines (matches highlighted), `paused` holds new lines back (counted) until resumed and `timestamps`
    shows each line's time. At most `max_lines` are kept: older ones are dropped and counted. Renders only."""

    DEFAULT_CSS = """
    LogView {
        height: 1fr;
        background: $surface;
    }
    """

    def __init__(self, *, id: str | None = None, max_lines: int = MAX_LINES) -> None:
        super().__init__(
            id=id, max_lines=max_lines, wrap=False, markup=False, highlight=False, auto_scroll=True
        )
        self.lines_kept: deque[str] = deque(maxlen=max_lines)
        self.stamps: deque[str | None] = deque(maxlen=max_lines)  # in step with lines_kept
        self.search = ""
        self.paused = False
        self.timestamps = False
        self.held = 0  # lines that arrived while paused
        self.dropped = 0  # lines pushed out by newer ones (memory stays bounded)

    @property
    def capacity(self) -> int:
        return self.lines_kept.maxlen or MAX_LINES

    def _matches(self, line: str) -> bool:
        return not self.search or self.search.lower() in line.lower()

    def _styled(self, line: str, stamp: str | None) -> Text:
        text = Text(line)
        if self.search:
            text.highlight_words([self.search], style="bold reverse", case_sensitive=False)
        if self.timestamps:
            text = Text.assemble((f"{stamp or '–':<{STAMP_WIDTH}} ", "dim"), text)
        return text

    def add_lines(self, lines: Iterable[str], stamps: Iterable[str | None] | None = None) -> None:
        """Append lines (raw remote text: cleaned here); `stamps` pairs with `lines` when given."""
        fresh: list[tuple[str, str | None]] = []
        stamp_list = list(stamps) if stamps is not None else None
        for index, raw in enumerate(lines):
            stamp = stamp_list[index] if stamp_list is not None and index < len(stamp_list) else None
            fresh.extend((line, stamp) for line in split_clean(raw))
        overflow = len(self.lines_kept) + len(fresh) - self.capacity
        if overflow > 0:
            self.dropped += overflow
        for line, stamp in fresh:
            self.lines_kept.append(line)
            self.stamps.append(stamp)
        if self.paused:
            self.held += len(fresh)
            return
        for line, stamp in fresh:
            if self._matches(line):
                self.write(self._styled(line, stamp))

    def redraw(self) -> None:
        """Show the kept lines again under the current search (after a search, a resume, a toggle)."""
        self.clear()
        self.held = 0
        for line, stamp in zip(self.lines_kept, self.stamps, strict=True):
            if self._matches(line):
                self.write(self._styled(line, stamp))

    def reset(self) -> None:
        """Forget every line (a new stream with other since/tail choices)."""
        self.lines_kept.clear()
        self.stamps.clear()
        self.dropped = 0
        self.redraw()

    def set_search(self, text: str) -> None:
        self.search = clean_text(text.strip())
        self.redraw()

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        if not paused:
            self.redraw()

    def set_timestamps(self, shown: bool) -> None:
        self.timestamps = shown
        self.redraw()

    @property
    def shown(self) -> list[str]:
        """The lines the search lets through (what is on screen once not paused)."""
        return [line for line in self.lines_kept if self._matches(line)]
