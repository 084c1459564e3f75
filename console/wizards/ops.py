"""A wizard's operations as data: commands (as shown, and as run), file writes with their diff, and tasks."""

from __future__ import annotations

import base64
import difflib
import hashlib
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from console.text import clean_text
from console.transport.base import CommandResult

if TYPE_CHECKING:
    from console.wizards.engine import NodeContext

TAIL_CHARS = 600
SUDO_PROMPTS = ("a password is required", "a terminal is required")
SUDO_REFUSED = ("is not in the sudoers file", "is not allowed to execute", "may not run sudo")


class StepError(Exception):
    """A step cannot go on; the message is for people (it names the command and what to do)."""

    def __init__(self, message: str, details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.details = details


def stamp() -> str:
    """A UTC timestamp for backup names: 20261122T120000Z."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True, slots=True)
class Command:
    """One shell command on the node. `root`: run through `sudo -n` unless the SSH user is root."""

    argv: tuple[str, ...]
    root: bool = False
    env: tuple[tuple[str, str], ...] = ()  # set in the command's environment (DOCKER_HOST=unix://...)
    stdin: str | None = None  # fed to the command (a file's new content)
    discard_stdout: bool = False
    timeout: float = 120.0
    note: str = ""  # shown after the command, e.g. "content: the diff above"

    def _core(self, sudo: bool) -> str:
        env = "".join(f"{name}={shlex.quote(value)} " for name, value in self.env)
        text = env + ("sudo -n " if sudo else "") + shlex.join(self.argv)
        return text + (" >/dev/null" if self.discard_stdout else "")

    def shown(self, *, sudo: bool) -> str:
        """The exact command, as the operator sees it and the audit log records it."""
        return self._core(sudo) + (f"  # {self.note}" if self.note else "")

    def shell(self, *, sudo: bool) -> str:
        """What runs: the shown command, with stdin piped in from base64 (SSH commands get no stdin here)."""
        if self.stdin is None:
            return self._core(sudo)
        data = base64.b64encode(self.stdin.encode("utf-8")).decode("ascii")
        return f"printf %s {data} | base64 -d | {self._core(sudo)}"


@dataclass(frozen=True, slots=True)
class WriteFile:
    """A file's new content, with what is there now (None: absent). A changed file is backed up first.

    `local`: the file is on this machine (the inventory), not on the node.
    """

    path: str
    content: str
    current: str | None
    root: bool = True
    local: bool = False
    backup: str | None = None  # set by `planned`: where the old content goes

    @classmethod
    def planned(
        cls, path: str, content: str, current: str | None, *, root: bool = True, local: bool = False
    ) -> WriteFile:
        backup = f"{path}.opsconsole-bak-{stamp()}" if current is not None and current != content else None
        return cls(path, content, current, root, local, backup)

    def diff(self) -> str:
        where = "this machine" if self.local else "node"
        before = (self.current or "").splitlines(keepends=True)
        after = self.content.splitlines(keepends=True)
        old = f"{self.path} (on {where})" if self.current is not None else "/dev/null (absent)"
        lines = difflib.unified_diff(before, after, fromfile=old, tofile=f"{self.path} (new)")
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)

    def commands(self) -> tuple[Command, ...]:
        """The node-side commands: backup (cp -p), then tee the new content in."""
        digest = hashlib.sha256(self.content.encode("utf-8")).hexdigest()[:12]
        steps: list[Command] = []
        if self.backup is not None:
            steps.append(Command(("cp", "-p", self.path, self.backup), root=self.root))
        steps.append(
            Command(
                ("tee", self.path),
                root=self.root,
                stdin=self.content,
                discard_stdout=True,
                note=f"new content: the diff above (sha256 {digest}…)",
            )
        )
        return tuple(steps)


@dataclass(frozen=True, slots=True)
class Task:
    """Something other than a shell command (a wait, a reconnect, a tunnel). `run` returns a one-line result
    or raises StepError; mutating tasks are audited."""

    shown: str
    run: Callable[[NodeContext], Awaitable[str]]
    mutating: bool = False


Operation = Command | WriteFile | Task


def render_op(operation: Operation, is_root: bool) -> tuple[str, ...]:
    """How an operation appears in a plan."""
    if isinstance(operation, Command):
        return (operation.shown(sudo=operation.root and not is_root),)
    if isinstance(operation, WriteFile):
        if operation.local:
            backup = f" (backup: {operation.backup})" if operation.backup else ""
            return (f"write {operation.path} on this machine{backup}  # the diff above",)
        return tuple(command.shown(sudo=command.root and not is_root) for command in operation.commands())
    return (operation.shown,)


def output_tail(result: CommandResult, chars: int = TAIL_CHARS) -> str:
    """The end of a command's output (node text: cleaned), for the audit log and the operator."""
    text = "\n".join(part.strip() for part in (result.stdout, result.stderr) if part.strip())
    return clean_text(text[-chars * 4 :])[-chars:]


def sudo_failure(result: CommandResult, shown: str, node: str, user: str) -> str | None:
    """Why a `sudo -n` command failed, when sudo itself refused (None: the command ran and failed)."""
    said = result.stderr.lower()
    command = shown.split("  # ", 1)[0].removeprefix("sudo -n ")
    if any(text in said for text in SUDO_PROMPTS):
        return (
            f"sudo would prompt for a password on {node}: {user} may not run `{command}` without one. "
            f"Allow exactly this command NOPASSWD for {user} (a file in /etc/sudoers.d/), or run as root"
        )
    if any(text in said for text in SUDO_REFUSED):
        return f"sudo refused on {node}: {user} may not run `{command}` as root ({result.stderr.strip()})"
    if result.exit_status == 127 and "sudo" in said:
        return f"sudo is not installed on {node}: install it, or run the wizard as root"
    return None
