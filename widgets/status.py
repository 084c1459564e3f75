"""Status words and icons: every state reads without colour (NO_COLOR, monochrome terminals, screenshots)."""

from __future__ import annotations

from rich.text import Text

from console.model.checks import Status

DASH = Text("–", style="dim")

STATUS_ICON = {
    Status.OK: "✔",
    Status.WARNING: "▲",
    Status.CRITICAL: "✖",
    Status.UNKNOWN: "?",
    Status.SKIPPED: "·",  # not evaluated: its cause is reported once, by another check
}
STATUS_WORD = {
    Status.OK: "ok",
    Status.WARNING: "warn",
    Status.CRITICAL: "crit",
    Status.UNKNOWN: "unkn",
    Status.SKIPPED: "skip",
}
STATUS_STYLE = {
    Status.OK: "green",
    Status.WARNING: "bold yellow",
    Status.CRITICAL: "bold red",
    Status.UNKNOWN: "bold magenta",
    Status.SKIPPED: "dim",
}
# A value's colour from the level the checks gave it: only what needs attention stands out.
LEVEL_STYLE = {Status.WARNING: "bold yellow", Status.CRITICAL: "bold red"}
SEVERITY_ORDER = (Status.CRITICAL, Status.UNKNOWN, Status.WARNING, Status.OK)  # worst first


def status_text(status: Status, word: str | None = None) -> Text:
    """'✖ crit' in the status's colour; the icon and the word carry the meaning on their own."""
    return Text(f"{STATUS_ICON[status]} {word or STATUS_WORD[status]}", style=STATUS_STYLE[status])


def level_style(level: Status | None) -> str:
    """The style of a value the checks judged (a temperature, a count): plain unless warning or critical."""
    return LEVEL_STYLE.get(level, "") if level is not None else ""


def ok_bad(ok: bool | None, good: str, bad: str, *, unknown: str = "–") -> Text:
    """A two-way state: '● good' green, '✖ bad' red, or a dim dash when not known."""
    if ok is None:
        return Text(unknown, style="dim")
    return Text(f"● {good}", style="green") if ok else Text(f"✖ {bad}", style="bold red")


def plural(count: int, word: str, words: str | None = None) -> str:
    """'1 node', '2 nodes', '0 nodes'."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def or_dash(value: float | None, template: str, *, style: str = "") -> Text:
    return DASH if value is None else Text(template.format(value), style=style, justify="right")


def count_text(value: int | None, style: str = "") -> Text:
    """A count, right-aligned, or a dim dash when not known (0 is a count)."""
    return or_dash(value, "{}", style=style)


def duration(seconds: float) -> str:
    """A short human duration: 42s, 12m, 3h 20m, 3d 4h."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def latency(seconds: float | None) -> Text:
    if seconds is None:
        return DASH
    if seconds < 1:
        return Text(f"{seconds * 1000:.1f} ms", justify="right")
    return Text(f"{seconds:.2f} s", justify="right", style="yellow")
