"""A container's log as it streams: keeps the last lines, filters by a search, holds still while paused."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from rich.text import Text
from textual.widgets import RichLog

MAX_LINES = 5000


class LogView(RichLog):
    """Lines come in through `add_lines`; `search` shows only matching lines (matches highlighted) and
    `paused` holds new lines back (counted) until resumed. Renders only."""

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
        self.search = ""
        self.paused = False
        self.held = 0  # lines that arrived while paused

    def _matches(self, line: str) -> bool:
        return not self.search or self.search.lower() in line.lower()

    def _styled(self, line: str) -> Text:
        text = Text(line)
        if self.search:
            text.highlight_words([self.search], style="bold reverse", case_sensitive=False)
        return text

    def add_lines(self, lines: Iterable[str]) -> None:
        fresh = list(lines)
        self.lines_kept.extend(fresh)
        if self.paused:
            self.held += len(fresh)
            return
        for line in fresh:
            if self._matches(line):
                self.write(self._styled(line))

    def redraw(self) -> None:
        """Show the kept lines again under the current search (after a search or a resume)."""
        self.clear()
        self.held = 0
        for line in self.lines_kept:
            if self._matches(line):
                self.write(self._styled(line))

    def set_search(self, text: str) -> None:
        self.search = text.strip()
        self.redraw()

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        if not paused:
            self.redraw()

    @property
    def shown(self) -> list[str]:
        """The lines the search lets through (what is on screen once not paused)."""
        return [line for line in self.lines_kept if self._matches(line)]
