"""The AI stack's snapshot, and a troubleshooting detector's finding (what the stack snapshot carries).

A `Finding` is what a fix's detector (console/wizards/fixes*.py) reports; the stack section keeps the
comfy-mnt detector's finding from each poll, so the type lives here, below both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Finding:
    fix: str  # the catalogue entry
    found: bool  # the fault is there
    summary: str
    details: tuple[str, ...] = ()  # log lines, mounts, the URL that works
    data: Any = None  # facts the fix's plan needs (the socket's group, the URL that works)
    cause: str | None = None  # restart-loop: the entry that explains it, when the logs tell
    target: str | None = None  # the container the finding is about, when the detector picked it


@dataclass(frozen=True, slots=True)
class StackSnapshot:
    node: str
    taken_at: datetime
    comfy_mnt: Finding | None = None
    error: str | None = None
