"""The one sanitiser every collector uses: remote text can never drive the operator's terminal."""

from __future__ import annotations

import math

import pytest

from console.text import _UNSAFE_LINE, LINE_LIMIT, clean_line, clean_optional, clean_text, finite, has_control

HOSTILE = "\x1b]0;pwned\x07\x1b]52;c;ZWNobyBoaQ==\x07\x1b[2J[bold]x[/]\u202eevil\u2028next\r\nline\x9b31m"


def test_clean_line_leaves_no_control_character() -> None:
    cleaned = clean_line(HOSTILE)
    assert not any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in cleaned)
    assert "\u202e" not in cleaned
    assert "\u2028" not in cleaned
    # What was there stays readable: the operator sees that someone tried.
    assert "\\x1b]0;pwned\\x07" in cleaned
    assert "\\u202eevil" in cleaned
    assert "\\nline" in cleaned
    # Markup is data, not removed: rendering must use Text, never markup.
    assert "[bold]x[/]" in cleaned


def test_clean_line_caps_length() -> None:
    cleaned = clean_line("x" * 10_000_000)
    assert len(cleaned) == LINE_LIMIT
    assert cleaned.endswith("…")
    assert len(clean_line("\x1b" * 10_000, limit=50)) == 50


def test_clean_text_keeps_newlines_and_shows_the_last_redraw() -> None:
    assert clean_text("a\nb\r\nc") == "a\nb\nc"
    assert clean_text("10%\r50%\r100%\nnext") == "100%\nnext"
    assert clean_text("\x1b[2Jgone") == "\\x1b[2Jgone"
    assert clean_text("bad \udcff byte") == "bad \ufffd byte"


def test_clean_optional_keeps_none() -> None:
    assert clean_optional(None) is None
    assert clean_optional("a\nb") == "a\\nb"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1.0),
        (2.5, 2.5),
        (" 3.5 ", 3.5),
        (math.nan, None),
        (math.inf, None),
        ("nan", None),
        ("-inf", None),
        ("[N/A]", None),
        (True, None),
        (None, None),
        ("²", None),
        (10**400, None),  # past a float (a JSON integer from json.loads): unknown, not OverflowError
        (-(10**400), None),
    ],
)
def test_finite(value: object, expected: float | None) -> None:
    assert finite(value) == expected


def test_fast_path_never_skips_a_character_that_needs_escaping() -> None:
    """clean_line returns printable strings unchanged: no character the escaping pass matches is printable."""
    for code in range(0x110000):
        char = chr(code)
        if _UNSAFE_LINE.search(char):
            assert not char.isprintable(), hex(code)
    assert clean_line("\u202eabc") == "\\u202eabc"


@pytest.mark.parametrize(
    "invisible",
    ["\u200f", "\u061c", "\u200b", "\u2060", "\u180e", "\ufff9", "\U000e0041", "\ue000", "\U0010ffff"],
)
def test_invisible_and_reordering_characters_are_shown(invisible: str) -> None:
    """Bidi marks, zero-width, tag and private-use characters draw as nothing or make two names look alike."""
    for cleaned in (clean_line(f"gpu{invisible}1"), clean_text(f"gpu{invisible}1\nnext")):
        assert invisible not in cleaned
        assert "\\u" in cleaned or "\\U" in cleaned
    assert has_control(f"gpu{invisible}1")


def test_space_separators_stay() -> None:
    assert clean_line("a\u00a0b\u3000c") == "a\u00a0b\u3000c"
    assert not has_control("a\u00a0b")
    assert has_control("a\tb")
    assert has_control("a\nb")


def test_without_redraw_nothing_before_a_carriage_return_is_hidden() -> None:
    text = "| ERROR: uid 0 mismatch\r| no UID/GID error"
    assert clean_text(text, redraw=False) == "| ERROR: uid 0 mismatch\\x0d| no UID/GID error"
    assert clean_text(text) == "| no UID/GID error"
