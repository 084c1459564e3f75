"""What a wizard run tells its caller as it goes (events), asks it (a step's plan), and returns (a report)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

StepState = Literal["unknown", "checking", "done", "todo", "running", "applied", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class StepUpdate:
    step: str
    state: StepState
    summary: str
    plan: tuple[str, ...] = ()  # the operations as shown (commands; a file write's diff is in `diff`)
    diff: str | None = None
    details: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CommandStarted:
    step: str
    command: str


@dataclass(frozen=True, slots=True)
class CommandFinished:
    step: str
    command: str
    exit_status: int | None  # None: a task, not a command
    output: str


@dataclass(frozen=True, slots=True)
class Progress:
    """A long wait that is expected (ComfyUI's first run): how long so far, and what the logs say."""

    step: str
    elapsed_s: float
    deadline_s: float
    message: str
    lines: tuple[str, ...] = ()


WizardEvent = StepUpdate | CommandStarted | CommandFinished | Progress
Emit = Callable[[WizardEvent], None]


@dataclass(frozen=True, slots=True)
class StepPlan:
    """What the operator is asked to confirm."""

    step: str
    title: str
    why: str
    summary: str
    commands: tuple[str, ...]
    diff: str | None


Confirm = Callable[[StepPlan], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class StepReport:
    id: str
    title: str
    state: StepState
    summary: str
    plan: tuple[str, ...] = ()
    diff: str | None = None
    details: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WizardReport:
    wizard: str
    node: str
    dry_run: bool
    steps: tuple[StepReport, ...]
    duration_s: float

    @property
    def failed(self) -> StepReport | None:
        return next((step for step in self.steps if step.state in ("failed", "skipped")), None)

    @property
    def ok(self) -> bool:
        """Applied: every step done and verified. Dry run: nothing failed (steps to do are fine)."""
        wanted = ("done", "applied", "todo") if self.dry_run else ("done", "applied")
        return all(step.state in wanted for step in self.steps)

    @property
    def changed(self) -> int:
        return sum(step.state == "applied" for step in self.steps)
