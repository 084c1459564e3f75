"""Actions: what the console does to a node when an operator asks (restart a container, tail its logs).

Kept apart from collectors, which only read and never call an action. Every action is audited: one JSON line
per action in `$XDG_STATE_HOME/opsconsole/audit.jsonl` (XDG_STATE_HOME defaults to ~/.local/state) and the
same on the `opsconsole.audit` logger. Nothing that changes a node runs without `confirmed=True`.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("opsconsole.audit")


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
    state_home = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state_home) / "opsconsole" / "audit.jsonl"


class AuditLog:
    """Append-only JSON lines: time (UTC ISO), node, action, target, call, ok, detail.

    The path is resolved when a line is written: a changed XDG_STATE_HOME applies (tests stay isolated).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._path = Path(path) if path is not None else None

    @property
    def path(self) -> Path:
        return self._path if self._path is not None else default_audit_path()

    def record(
        self, *, node: str, action: str, target: str, call: str, ok: bool, detail: str
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "node": node,
            "action": action,
            "target": target,
            "call": call,
            "ok": ok,
            "detail": detail,
        }
        path = self.path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        # One write on an O_APPEND descriptor: concurrent consoles never interleave within a line.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        log.log(
            logging.INFO if ok else logging.WARNING,
            "%s %s %s on %s: %s (%s)",
            "ok" if ok else "FAILED",
            action,
            target,
            node,
            detail,
            call,
        )
        return entry

    def write(self, result: ActionResult) -> dict[str, Any]:
        fields = asdict(result)
        fields.pop("duration_s")
        return self.record(**fields)

    def entries(self) -> list[dict[str, Any]]:
        """Every line written so far (oldest first); [] when there is no log yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]
