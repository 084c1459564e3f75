"""Actions: what the console does to a node when an operator asks (restart a container, tail its logs).

Kept apart from collectors, which only read and never call an action. Every mutation is audited: an intent
line before it and a result line after, in `$XDG_STATE_HOME/opsconsole/audit.jsonl` (XDG_STATE_HOME defaults
to ~/.local/state) and on the `opsconsole.audit` logger. Reading logs is not a mutation and is not audited.
Nothing that changes a node runs without `confirmed=True`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.paths import state_dir
from console.text import clean_line

log = logging.getLogger("opsconsole.audit")

DETAIL_LIMIT = 4096  # an action's detail (dockerd's error quotes the container's command)
INTERRUPTED = "interrupted before a result came: the change may or may not have happened"


class ActionError(Exception):
    """An action could not run (node unreachable, no such container); the message is for people."""


class NotConfirmed(ActionError):
    """A mutating action was called without confirmed=True: nothing was done."""


@dataclass(frozen=True, slots=True)
class ActionResult:
    node: str
    action: str  # e.g. docker.restart
    target: str  # the container (or mount, service) acted on
    call: str  # the API call or command that ran, e.g. "POST /containers/web/restart?t=10"
    ok: bool
    detail: str
    duration_s: float = 0.0


def require_confirmation(action: str, target: str, confirmed: bool) -> None:
    """Raise NotConfirmed unless the caller passed confirmed=True (a literal True, not a truthy value)."""
    if confirmed is not True:
        raise NotConfirmed(f"{action} on {target} changes the node: call it with confirmed=True")


def default_audit_path() -> Path:
    return state_dir() / "audit.jsonl"


class AuditLog:
    """Append-only JSON lines: time (UTC ISO), id, phase, node, action, target, call, ok, detail.

    A mutation writes two lines with one `id`: an "intent" line before anything is sent to the node (ok null)
    and a "result" line after (ok true/false). A console killed or cancelled between the two still leaves
    the intent: the log never misses a change that may have happened. Reads (log views) are not audited.
    The path is resolved when a line is written: a changed XDG_STATE_HOME applies (tests stay isolated).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._path = Path(path) if path is not None else None

    @property
    def path(self) -> Path:
        return self._path if self._path is not None else default_audit_path()

    def _append(self, entry: dict[str, Any]) -> None:
        path = self.path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # ensure_ascii: every non-ASCII character, C1 controls and bidi overrides included (C0 ones are
        # escaped either way), is written as \uXXXX: `cat`/`tail -f` of the file never act on node text,
        # and json.loads gives back exactly what was recorded (an audit trail is not cut or rewritten).
        line = (json.dumps(entry, ensure_ascii=True) + "\n").encode("ascii")
        # One write on an O_APPEND descriptor: concurrent consoles never interleave within a line.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    @staticmethod
    def _entry(
        audit_id: str,
        phase: str,
        node: str,
        action: str,
        target: str,
        call: str,
        ok: bool | None,
        detail: str,
    ) -> dict[str, Any]:
        return {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "id": audit_id,
            "phase": phase,
            "node": node,
            "action": action,
            "target": target,
            "call": call,
            "ok": ok,
            "detail": detail,
        }

    def intent(self, *, node: str, action: str, target: str, call: str) -> str:
        """Write the line that says a mutation is about to be sent; returns the id its result must carry."""
        audit_id = uuid.uuid4().hex[:16]
        self._append(self._entry(audit_id, "intent", node, action, target, call, None, "about to run"))
        log.info("starting %s %s on %s (%s) [%s]", *map(clean_line, (action, target, node, call)), audit_id)
        return audit_id

    def record(
        self,
        *,
        node: str,
        action: str,
        target: str,
        call: str,
        ok: bool,
        detail: str,
        audit_id: str | None = None,
    ) -> dict[str, Any]:
        """The result line of a mutation (with the id its intent returned; a new id when it had none)."""
        entry = self._entry(
            audit_id or uuid.uuid4().hex[:16], "result", node, action, target, call, ok, detail
        )
        self._append(entry)
        log.log(
            logging.INFO if ok else logging.WARNING,
            "%s %s %s on %s: %s (%s)",
            "ok" if ok else "FAILED",
            *map(clean_line, (action, target, node)),
            clean_line(detail, limit=DETAIL_LIMIT),
            clean_line(call),
        )
        return entry

    def interrupted(self, audit_id: str, *, node: str, action: str, target: str, call: str) -> None:
        """The result line of a mutation cancelled before its result came (best effort: the disk may fail)."""
        with contextlib.suppress(OSError):
            self.record(
                node=node,
                action=action,
                target=target,
                call=call,
                ok=False,
                detail=INTERRUPTED,
                audit_id=audit_id,
            )

    def write(self, result: ActionResult, audit_id: str | None = None) -> dict[str, Any]:
        fields = asdict(result)
        fields.pop("duration_s")
        return self.record(**fields, audit_id=audit_id)

    def lines(self) -> list[dict[str, Any]]:
        """Every line written so far, intents and results (oldest first); [] when there is no log yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        entries: list[dict[str, Any]] = []
        for line in text.split("\n"):
            try:
                entry = json.loads(line) if line.strip() else None
            except (ValueError, RecursionError):  # a line torn by a kill mid-write: the others still count
                entry = None
            if isinstance(entry, dict):
                entries.append(entry)
        return entries

    def entries(self) -> list[dict[str, Any]]:
        """One entry per action, in the order they started: its result line, or its intent line alone
        (phase "intent", ok None) when no result was ever written (the console died mid-way)."""
        merged: list[dict[str, Any]] = []
        where: dict[str, int] = {}
        for entry in self.lines():
            key = entry.get("id")
            if isinstance(key, str) and key in where:
                merged[where[key]] = entry
                continue
            if isinstance(key, str):
                where[key] = len(merged)
            merged.append(entry)
        return merged
