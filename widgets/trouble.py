"""Fleet-wide trouble at a glance: nodes counted by their worst check status, and the next node in trouble.

Both read the statuses the checks gave (ConsoleSession.verdict's results); nothing here judges a value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from rich.text import Text

from console.model.checks import CheckResult, Status
from widgets.status import SEVERITY_ORDER, STATUS_ICON, STATUS_STYLE, STATUS_WORD

TROUBLE = frozenset({Status.CRITICAL, Status.UNKNOWN, Status.WARNING})


def node_status(results: Sequence[CheckResult] | None) -> Status | None:
    """A node's worst check status; None before its first answer (nothing judged yet)."""
    if results is None:
        return None
    return Status.worst(tuple(result.status for result in results))


def tally(statuses: Sequence[Status | None]) -> dict[Status, int]:
    """How many nodes are at each worst status, worst first (nodes not judged yet are not counted)."""
    return {
        status: count
        for status in SEVERITY_ORDER
        if (count := sum(1 for seen in statuses if seen is status)) or status is Status.OK
    }


def tally_text(statuses: Sequence[Status | None]) -> Text:
    """'✖ 2 crit ? 1 unkn ▲ 1 warn ✔ 8 ok': only the statuses some node is at (ok always), each in its
    colour with its icon and word, so it reads without colour too; empty while no node is judged yet."""
    text = Text()
    if all(status is None for status in statuses):
        return text
    for status, count in tally(statuses).items():
        if text:
            text.append(" ")
        text.append(f"{STATUS_ICON[status]} {count} {STATUS_WORD[status]}", style=STATUS_STYLE[status])
    return text


def next_trouble(
    order: Sequence[str],
    cursor: str | None,
    in_trouble: Callable[[str], bool],
    *,
    backwards: bool = False,
) -> str | None:
    """The next row after `cursor` (before it, `backwards`) in `order` that is in trouble, wrapping round;
    the cursor's own row last. None when no row is."""
    if not order:
        return None
    start = order.index(cursor) if cursor in order else (len(order) if backwards else -1)
    step = -1 if backwards else 1
    for offset in range(1, len(order) + 1):
        key = order[(start + step * offset) % len(order)]
        if in_trouble(key):
            return key
    return None


def rows_in_trouble(
    statuses: Mapping[str, Status | None], groups: Mapping[str, Sequence[str]], folded: set[str], prefix: str
) -> Callable[[str], bool]:
    """Which fleet rows the trouble key stops at: a node row not OK, and a folded group's header row when a
    node folded inside it is not OK (the fold is kept: Enter opens it)."""

    def bad(key: str) -> bool:
        if key.startswith(prefix):
            group = key[len(prefix) :]
            return group in folded and any(statuses.get(name) in TROUBLE for name in groups.get(group, ()))
        return statuses.get(key) in TROUBLE

    return bad
