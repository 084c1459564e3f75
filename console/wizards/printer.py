"""Wizard events as text, for the CLI: one line per step result, the plan and the diff under a step to do,
each command as it runs with its output tail, and the first-run wait as progress lines."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from console.text import clean_text
from console.wizards.engine import (
    CommandFinished,
    CommandStarted,
    Progress,
    StepUpdate,
    Wizard,
    WizardEvent,
)

MARKS = {"done": "✔", "applied": "✔", "todo": "•", "failed": "✖", "skipped": "–"}
INDENT = "      "


def clock(seconds: float) -> str:
    return f"{int(seconds // 60):02d}:{int(seconds % 60):02d}"


class SafeOut:
    """A text stream whose every write is cleaned (`clean_text`): what the wizards print holds node text
    (command output, log lines, a file's current content in a diff), and none of it may drive the terminal.

    A bare `\r` is shown as `\x0d`, never taken as a progress bar's redraw: read as one, it would hide the
    text before it (a detail "ERROR …\r| no error" would print as "| no error"). Command output tails had
    their redraws resolved where they were read (`output_tail`)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def write(self, text: str) -> int:
        # limit: room for every escape
        return self._out.write(clean_text(text, limit=6 * len(text) + 1, redraw=False))

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._out.flush()

    def isatty(self) -> bool:
        return self._out.isatty()


def safe(out: TextIO) -> TextIO:
    """`out`, cleaned on every write (once: a SafeOut is returned as it is)."""
    return out if isinstance(out, SafeOut) else SafeOut(out)  # type: ignore[return-value]


class EventPrinter:
    """Call it with each WizardEvent (NodeContext.emit)."""

    def __init__(self, out: TextIO, wizard: Wizard, *, dry_run: bool = False) -> None:
        self.out = safe(out)
        self.wizard = wizard
        self.dry_run = dry_run
        self.index = {step.id: number for number, step in enumerate(wizard.steps, 1)}
        self.titles = {step.id: step.title for step in wizard.steps}
        self._progress_said = False
        self._last_progress: tuple[str, int] = ("", -1)

    def header(self, node: str) -> None:
        mode = " (dry run: nothing will change)" if self.dry_run else ""
        self.write(f"{self.wizard.title} on {node}{mode}")

    def write(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def _step(self, update: StepUpdate) -> None:
        mark = MARKS.get(update.state)
        if mark is None:  # checking, running: the lines that follow say enough
            return
        number = f"[{self.index.get(update.step, '?')}/{len(self.index)}]"
        self.write(f"{number} {mark} {self.titles.get(update.step, update.step)}: {update.summary}")
        if update.state == "todo":
            if update.diff:
                self.out.writelines(f"{INDENT}{line}\n" for line in update.diff.splitlines())
            self.out.writelines(f"{INDENT}$ {command}\n" for command in update.plan)
        if update.state in ("failed", "todo") or (update.state == "done" and update.step == "validate"):
            self.out.writelines(f"{INDENT}| {line}\n" for line in update.details)
        self.out.flush()

    def __call__(self, event: WizardEvent) -> None:
        if isinstance(event, StepUpdate):
            self._step(event)
        elif isinstance(event, CommandStarted):
            self.write(f"{INDENT}running: {event.command}")
        elif isinstance(event, CommandFinished):
            status = "" if event.exit_status in (0, None) else f" (exit {event.exit_status})"
            lines = event.output.splitlines()[-6:]
            self.out.writelines(f"{INDENT}> {line.rstrip()}\n" for line in lines)
            if status:
                self.write(f"{INDENT}{status.strip()}")
            self.out.flush()
        elif isinstance(event, Progress):
            if not self._progress_said:
                self.write(f"{INDENT}{event.message}")
                self._progress_said = True
            last = event.lines[-1] if event.lines else "(no log lines yet)"
            minute = int(event.elapsed_s // 60)
            if (last, minute) != self._last_progress:  # a new log line, or at least once a minute
                self._last_progress = (last, minute)
                self.write(f"{INDENT}[{clock(event.elapsed_s)} of up to {clock(event.deadline_s)}] {last}")
