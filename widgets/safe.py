"""Remote text on screen: always a `Text`, never markup, never a control sequence.

The collectors clean what they read (console/text.py is the one rule); this is the screen's own guard for
anything that reached it another way (a recorded fleet, an error message that quotes a node, a value a new
collector forgot). `safe_text` applies that same rule to a `Text` without losing its styles;
`ControlFilter` is the last line: it drops any control character left in what is about to be written to
the terminal, so no cell of any widget can retitle the window, write the clipboard or clear the screen.
"""

from __future__ import annotations

import itertools
import re

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.filter import LineFilter

from console.text import clean_line, clean_text

_BIG = 1 << 20  # the cap is the collectors' business; here nothing may be cut silently
# C0 (but tab), DEL, C1: what a terminal acts on. Each is zero cells wide, so dropping one keeps the layout.
_TERMINAL_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def line(value: object, style: str | Style = "") -> Text:
    """A one-line remote value as plain text: controls shown as `\\x1b`, newlines as `\\n`."""
    return Text(clean_line("" if value is None else value, limit=_BIG), style=style)


def lines(value: object, style: str | Style = "") -> Text:
    """Multi-line remote text (an error, command output): newlines kept, every other control shown."""
    return Text(clean_text("" if value is None else value, limit=_BIG), style=style)


def safe_text(text: Text, *, multiline: bool = False) -> Text:
    """`text` with every control character made visible, its styles kept (returned as is when clean)."""
    clean = clean_text if multiline else clean_line
    plain = text.plain
    if clean(plain, limit=_BIG) == plain:
        return text
    result = Text(
        style=text.style, justify=text.justify, overflow=text.overflow, no_wrap=text.no_wrap, end=text.end
    )
    cuts = sorted({0, len(plain), *(s.start for s in text.spans), *(s.end for s in text.spans)})
    for start, end in itertools.pairwise(cuts):
        piece = text[start:end]  # every character of a piece is under the same spans
        at = len(result)
        result.append(clean(piece.plain, limit=_BIG))
        for span in piece.spans:
            result.stylize(span.style, at, len(result))
    return result


def title(value: object) -> str:
    """A window or screen title made from remote text (titles are plain strings in Textual)."""
    return clean_line("" if value is None else value, limit=200)


class ControlFilter(LineFilter):
    """Drops terminal control characters from every rendered segment (zero-width, so nothing moves)."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        if not any(_TERMINAL_CONTROL.search(segment.text) for segment in segments if not segment.control):
            return segments
        return [
            segment
            if segment.control
            else Segment(_TERMINAL_CONTROL.sub("", segment.text), segment.style, segment.control)
            for segment in segments
        ]
