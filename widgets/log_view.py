"""A container's log as it streams: keeps the last lines, filters by a search, holds still while paused.

Every line is cleaned here with `console.text.clean_text`, whatever the backend did: a log line is written
by whoever runs in the container, and an OSC 52 in it must not reach the operator's clipboard. Lines are
drawn as `Text`, never markup. A `\\r` progress bar keeps its last redraw, as a terminal would show it.

Lines are drawn with the Line API: only the rows on screen are rendered (each line's strip cached by its
sequence number), so a search, a timestamps toggle or a flood of new lines costs the visible rows, not the
thousands kept. Memory holds the cleaned strings of at most `max_lines` lines; older ones are dropped and
counted.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Iterable

from rich.cells import cell_len
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.text import clean_text

MAX_LINES = 5000
STAMP_WIDTH = len("2026-11-22T11:59:58.123Z")  # Docker's time, UTC, to the millisecond


def split_clean(raw: str) -> list[str]:
    """One piece of remote text as the display lines it makes: cleaned, `\\r` redraws collapsed, one
    line per newline (a record with a newline in it is two lines on a terminal too)."""
    return clean_text(raw.rstrip("\n")).split("\n")


class LogView(ScrollView, can_focus=True):
    """Lines come in through `add_lines` (each with an optional timestamp); `search` shows only matching
    lines (matches highlighted), `paused` holds new lines back (counted) until resumed and `timestamps`
    shows each line's time. At most `max_lines` are kept: older ones are dropped and counted. Renders only."""

    DEFAULT_CSS = """
    LogView {
        height: 1fr;
        background: $surface;
        overflow-y: scroll;
        &:focus {
            background-tint: $foreground 5%;
        }
    }
    """

    def __init__(self, *, id: str | None = None, max_lines: int = MAX_LINES) -> None:
        super().__init__(id=id)
        self.lines_kept: deque[str] = deque(maxlen=max_lines)
        self.stamps: deque[str | None] = deque(maxlen=max_lines)  # in step with lines_kept
        self.search = ""
        self.paused = False
        self.timestamps = False
        self.held = 0  # lines that arrived while paused
        self.dropped = 0  # lines pushed out by newer ones (memory stays bounded)
        self._first = 0  # the sequence number of lines_kept[0]
        self._rows: list[int] = []  # sequence numbers of the lines on display, oldest first
        self._widest = 0
        self._strips: LRUCache[int, Strip] = LRUCache(1024)  # by sequence number, for the current look

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

    def _width_of(self, line: str) -> int:
        return cell_len(line) + (STAMP_WIDTH + 1 if self.timestamps else 0)

    def _show(self, rows: Iterable[int]) -> None:
        """Put these rows (sequence numbers, in order) at the end of the display; follow the end when the
        view was at the end already."""
        following = self.is_vertical_scroll_end or self.max_scroll_y == 0
        for seq in rows:
            self._rows.append(seq)
            self._widest = max(self._widest, self._width_of(self.lines_kept[seq - self._first]))
        del self._rows[: bisect_left(self._rows, self._first)]  # lines dropped from memory
        self.virtual_size = Size(self._widest, len(self._rows))
        if following:
            self.scroll_end(animate=False, immediate=False, x_axis=False)
        self.refresh()

    def add_lines(self, lines: Iterable[str], stamps: Iterable[str | None] | None = None) -> None:
        """Append lines (raw remote text: cleaned here); `stamps` pairs with `lines` when given."""
        stamp_list = list(stamps) if stamps is not None else []
        fresh: list[int] = []
        for index, raw in enumerate(lines):
            stamp = stamp_list[index] if index < len(stamp_list) else None
            for line in split_clean(raw):
                if len(self.lines_kept) == self.capacity:
                    self._first += 1
                    self.dropped += 1
                self.lines_kept.append(line)
                self.stamps.append(stamp)
                fresh.append(self._first + len(self.lines_kept) - 1)
        if self.paused:
            self.held += len(fresh)
            return
        kept = (seq for seq in fresh if seq >= self._first)  # a flood may push out its own first lines
        self._show(seq for seq in kept if self._matches(self.lines_kept[seq - self._first]))

    def redraw(self) -> None:
        """Show the kept lines again under the current search and look (after a search, a resume, `t`)."""
        self.held = 0
        self._rows.clear()
        self._widest = 0
        self._strips.clear()
        first = self._first
        self._show(first + index for index, line in enumerate(self.lines_kept) if self._matches(line))

    def reset(self) -> None:
        """Forget every line (a new stream with other since/tail choices)."""
        self._first += len(self.lines_kept)
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

    # --- Line API ------------------------------------------------------------------------------------

    def _strip(self, seq: int) -> Strip:
        strip = self._strips.get(seq)
        if strip is None:
            index = seq - self._first
            if index < 0:  # dropped from memory while the view was paused
                return Strip.blank(0)
            text = self._styled(self.lines_kept[index], self.stamps[index])
            strip = Strip(list(text.render(self.app.console, end="")), text.cell_len)
            self._strips[seq] = strip
        return strip

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        row = scroll_y + y
        if row >= len(self._rows):
            return Strip.blank(width, self.rich_style)
        strip = self._strip(self._rows[row])
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style).apply_style(self.rich_style)

    def visible_text(self) -> list[str]:
        """The rows on screen as plain text, trailing blanks dropped (what a test or a screenshot reads)."""
        rows = [self.render_line(y).text.rstrip() for y in range(self.scrollable_content_region.height)]
        while rows and not rows[-1]:
            rows.pop()
        return rows
