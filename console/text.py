"""The boundary for text and numbers that come from nodes: everything remote is data, never control.

A GPU name, a Docker label, a log line, a mount source, a Prometheus label or alert annotation can carry
terminal escape sequences (OSC 0 retitles the window, OSC 52 writes the clipboard, CSI 2J wipes the screen),
newlines that forge extra output lines, bidi overrides that reorder what the operator reads, or a gigabyte.
Collectors pass every remote string through `clean_line` (one-line fields) or `clean_text` (multi-line
text such as logs) once, where it enters the core; everything above can then print it as plain text.
Numbers go through `finite`: NaN and infinities are unknown (`None`), never compared, never put in JSON.

Rendering is still plain text only: never build Rich/Textual markup from these strings (use `Text`).
"""

from __future__ import annotations

import math
import re
import unicodedata

# One-line fields (names, labels, paths, commands) and whole texts (a log line, an alert description).
LINE_LIMIT = 1024
TEXT_LIMIT = 64 * 1024
ELLIPSIS = "…"

# C0 controls except tab/newline handled separately, DEL, C1 controls, the Unicode line/paragraph separators,
# bidi embedding/override/isolate controls (they reorder the text a terminal shows), BOM/zero-width no-break.
_CONTROL = "\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff"
_UNSAFE = re.compile(f"[{_CONTROL}]|[\ud800-\udfff]")
_UNSAFE_LINE = re.compile(f"[{_CONTROL}\n]|[\ud800-\udfff]")


def _escape(char: str) -> str:
    if "\ud800" <= char <= "\udfff":  # a lone surrogate (undecodable byte): not printable, not encodable
        return "\ufffd"
    if char == "\n":
        return "\\n"
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _visible(match: re.Match[str]) -> str:
    return _escape(match.group())


def _shown(char: str) -> bool:
    """Printable, or a space separator (NBSP, ideographic space): everything else is escaped."""
    return char.isprintable() or unicodedata.category(char) == "Zs"


def _escape_rest(text: str, keep: str) -> str:
    """After the pattern pass: the rarer invisible characters (bidi marks, zero-width and tag characters,
    private use, unassigned) that a terminal would draw as nothing or use to make two names look alike."""
    if text.replace(keep, "").isprintable() if keep else text.isprintable():
        return text
    return "".join(char if char == keep or _shown(char) else _escape(char) for char in text)


def has_control(text: str) -> bool:
    """Whether `clean_line` would change anything but the length: any control, separator or invisible
    character (the inventory refuses such values outright)."""
    return not text.isprintable() and not all(_shown(char) for char in text)


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + ELLIPSIS


def clean_line(value: object, *, limit: int = LINE_LIMIT) -> str:
    """One line of remote text, safe to print: controls shown as `\\x1b`, newlines as `\\n`, capped."""
    text = value if isinstance(value, str) else str(value)
    if (
        len(text) <= limit and text.isprintable()
    ):  # the common case: nothing to escape (Cc, Cf, Zl, Cs fail it)
        return text
    text = _cap(text, limit * 4)  # bound the work before escaping can grow the string
    text = text.replace("\r\n", "\n").replace("\t", " ")
    return _cap(_escape_rest(_UNSAFE_LINE.sub(_visible, text), ""), limit)


def clean_text(value: object, *, limit: int = TEXT_LIMIT, redraw: bool = True) -> str:
    """Multi-line remote text (a log chunk, an annotation): newlines kept, every other control made visible.

    With `redraw` (log output), a carriage return that is not part of CRLF is a progress bar redrawing its
    line: the text after the last one on a line is what a terminal would show, so that is what is kept.
    Without it (command output, messages), the `\r` is shown as `\x0d` and nothing before it is hidden.
    """
    text = value if isinstance(value, str) else str(value)
    text = _cap(text, limit * 4)
    text = text.replace("\r\n", "\n").replace("\t", "    ")
    if redraw and "\r" in text:
        text = "\n".join(_last_redraw(line) for line in text.split("\n"))
    return _cap(_escape_rest(_UNSAFE.sub(_visible, text), "\n"), limit)


def _last_redraw(line: str) -> str:
    parts = [part for part in line.split("\r") if part]
    return parts[-1] if parts else ""


def clean_optional(value: object | None, *, limit: int = LINE_LIMIT) -> str | None:
    """`clean_line` that keeps a missing value missing."""
    return None if value is None else clean_line(value, limit=limit)


def finite(value: object) -> float | None:
    """A number the console may compare and print, or None: NaN, ±inf, non-numbers and bools are unknown."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:  # an integer past the largest float (json.loads reads any length)
            return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None
