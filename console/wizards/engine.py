"""The wizard engine: steps as data, checked, planned, confirmed, applied, verified, audited. No Textual.

A `Step` has a read-only `check` (is it already done?), a `plan` (the exact operations it would run, shown
to the operator before anything happens) and a `verify` (by default the check again). `run_wizard` walks the
steps in order:

- done already → "already done", nothing runs (a finished node re-run changes nothing);
- dry run → the plan is shown and nothing runs, on to the next step;
- otherwise the operator confirms the step (a callback; `yes=True` headless), its operations run, and the
  step must verify; the first failure stops the run and names the step.

Operations are data too: a `Command` (root ones go through `sudo -n`, and a sudo that would prompt is reported
as such), a `WriteFile` (shown as a unified diff against what is there; a changed file is backed up first),
or a `Task` (waiting, reconnecting, opening a tunnel). Every mutating operation is audited in the console's
audit log (console/actions: JSON lines, time, node, `action` = the wizard, `target` = the step, `call` = the
command, `ok`, `detail` = "exit N: output tail"): an intent line before it runs, a result line after.
Progress reaches the caller as `WizardEvent`s.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from console.actions import AuditLog
from console.atomic import write_atomically
from console.inventory.model import Node
from console.transport.base import CommandResult, Transport, TransportError
from console.wizards.events import (
    CommandFinished,
    CommandStarted,
    Confirm,
    Emit,
    Progress,
    StepPlan,
    StepReport,
    StepState,
    StepUpdate,
    WizardEvent,
    WizardReport,
)
from console.wizards.ops import (
    Command,
    Operation,
    StepError,
    Task,
    WriteFile,
    output_tail,
    render_op,
    sudo_failure,
)

StepKind = Literal["prerequisite", "change", "validation"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a check found: done or not, in words, with the facts the plan needs in `data`."""

    done: bool
    summary: str
    details: tuple[str, ...] = ()
    data: Any = None


CheckFn = Callable[["NodeContext"], Awaitable[Outcome]]
PlanFn = Callable[["NodeContext", Outcome], tuple[Operation, ...]]


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    title: str
    why: str  # one line: what the step is for, shown with its plan
    check: CheckFn
    plan: PlanFn | None = None  # None: nothing the wizard can change (a prerequisite or a validation)
    verify: CheckFn | None = None  # None: check again
    kind: StepKind = "change"


@dataclass(frozen=True, slots=True)
class Wizard:
    name: str  # "bringup", "comfy-mnt-ownership"
    title: str
    action: str  # the audit log's action: "wizard.bringup", "fix.comfy-mnt-ownership"
    steps: tuple[Step, ...]


# --- the node, as the steps see it --------------------------------------------------------------------


@dataclass
class NodeContext:
    """One node during one wizard run: read-only commands, audited mutating ones, shared facts."""

    transport: Transport
    node: Node
    audit: AuditLog
    action: str = "wizard"
    emit: Emit = field(default=lambda event: None)
    cache: dict[str, Any] = field(default_factory=dict)
    step: str = ""

    @property
    def name(self) -> str:
        return self.node.name

    async def read(self, command: str, *, timeout: float = 30.0) -> CommandResult:
        """A read-only command (never audited). Raises StepError when the node cannot be reached."""
        try:
            return await self.transport.run(command, timeout=timeout)
        except TransportError as exc:
            raise StepError(f"{self.name}: {exc}") from exc

    async def is_root(self) -> bool:
        if "is_root" not in self.cache:
            result = await self.read("id -u")
            self.cache["is_root"] = result.stdout.strip() == "0"
        return bool(self.cache["is_root"])

    async def user(self) -> str:
        if "user" not in self.cache:
            self.cache["user"] = (await self.read("id -un")).stdout.strip()
        return str(self.cache["user"])

    def begin(self, call: str) -> str:
        """The audit's intent line, written before a mutating operation starts; its id links the result."""
        return self.audit.intent(node=self.name, action=self.action, target=self.step, call=call)

    def record(self, call: str, ok: bool, detail: str, audit_id: str | None = None) -> None:
        self.audit.record(
            node=self.name,
            action=self.action,
            target=self.step,
            call=call,
            ok=ok,
            detail=detail,
            audit_id=audit_id,
        )

    @contextlib.contextmanager
    def _interruptible(self, audit_id: str, call: str) -> Iterator[None]:
        """A cancelled operation (Ctrl-C, the screen closed) still gets its result line: interrupted."""
        try:
            yield
        except (asyncio.CancelledError, KeyboardInterrupt):
            self.audit.interrupted(audit_id, node=self.name, action=self.action, target=self.step, call=call)
            raise

    async def run_command(self, command: Command) -> CommandResult:
        """Run a mutating command (with sudo -n when it needs root and we are not root); audited."""
        sudo = command.root and not await self.is_root()
        shown = command.shown(sudo=sudo)
        self.emit(CommandStarted(self.step, shown))
        audit_id = self.begin(shown)
        with self._interruptible(audit_id, shown):
            try:
                result = await self.transport.run(command.shell(sudo=sudo), timeout=command.timeout)
            except TransportError as exc:
                self.record(shown, False, f"no exit status: {exc}", audit_id)
                self.emit(CommandFinished(self.step, shown, None, str(exc)))
                raise StepError(f"{shown}: {exc}") from exc
        tail = output_tail(result)
        self.record(shown, result.ok, f"exit {result.exit_status}: {tail}", audit_id)
        self.emit(CommandFinished(self.step, shown, result.exit_status, tail))
        if not result.ok:
            why = sudo_failure(result, shown, self.name, await self.user()) if sudo else None
            raise StepError(why or f"`{shown}` failed (exit {result.exit_status}): {tail or 'no output'}")
        return result

    async def write_file(self, write: WriteFile) -> None:
        for command in write.commands():
            await self.run_command(command)

    def write_local(self, write: WriteFile) -> None:
        """A file on this machine (the inventory): backup beside it, then an atomic replace; audited."""
        shown = f"write {write.path} on this machine" + (f" (backup {write.backup})" if write.backup else "")
        self.emit(CommandStarted(self.step, shown))
        audit_id = self.begin(shown)
        with self._interruptible(audit_id, shown):
            try:
                if write.backup:
                    shutil.copy2(write.path, write.backup)
                write_atomically(write.path, write.content)  # keeps the file's mode
            except OSError as exc:
                self.record(shown, False, str(exc), audit_id)
                raise StepError(f"{shown}: {exc}") from exc
        self.record(shown, True, f"{len(write.content)} bytes", audit_id)
        self.emit(CommandFinished(self.step, shown, 0, ""))

    async def run_task(self, task: Task) -> None:
        self.emit(CommandStarted(self.step, task.shown))
        if not task.mutating:  # a wait or a look: nothing to audit
            try:
                detail = await task.run(self)
            except StepError as exc:
                self.emit(CommandFinished(self.step, task.shown, None, str(exc)))
                raise
            self.emit(CommandFinished(self.step, task.shown, None, detail))
            return
        audit_id = self.begin(task.shown)
        with self._interruptible(audit_id, task.shown):
            try:
                detail = await task.run(self)
            except StepError as exc:
                self.record(task.shown, False, str(exc), audit_id)
                self.emit(CommandFinished(self.step, task.shown, None, str(exc)))
                raise
        self.record(task.shown, True, detail, audit_id)
        self.emit(CommandFinished(self.step, task.shown, None, detail))

    async def apply(self, operation: Operation) -> None:
        if isinstance(operation, Command):
            await self.run_command(operation)
        elif isinstance(operation, WriteFile):
            if operation.local:
                self.write_local(operation)
            else:
                await self.write_file(operation)
        else:
            await self.run_task(operation)


# --- running a wizard ---------------------------------------------------------------------------------


async def _always_no(plan: StepPlan) -> bool:
    return False


class _Stop(Exception):
    """The step ended the run (failed, not confirmed); carries its report."""

    def __init__(self, report: StepReport) -> None:
        super().__init__(report.summary)
        self.report = report


async def _run_step(step: Step, ctx: NodeContext, *, dry_run: bool, yes: bool, ask: Confirm) -> StepReport:
    """One step: check; then plan, confirm, apply, verify as needed. Raises _Stop when the run must end."""

    def report(state: StepState, summary: str, details: tuple[str, ...] = ()) -> StepReport:
        return StepReport(step.id, step.title, state, summary, shown, diff, details)

    shown: tuple[str, ...] = ()
    diff: str | None = None
    try:
        outcome = await step.check(ctx)
        if outcome.done:
            said = "passed" if step.kind == "validation" else "already done"
            return report("done", f"{said}: {outcome.summary}", outcome.details)
        operations = step.plan(ctx, outcome) if step.plan is not None else ()
        if not operations:
            if dry_run and step.kind == "validation":
                return report("todo", f"checked after apply: {outcome.summary}", outcome.details)
            why = (
                outcome.summary if step.plan is None else f"nothing the wizard can change: {outcome.summary}"
            )
            if dry_run:
                return report("failed", why, outcome.details)
            raise _Stop(report("failed", why, outcome.details))
        is_root = await ctx.is_root()
        shown = tuple(line for op in operations for line in render_op(op, is_root))
        diff = next((op.diff() for op in operations if isinstance(op, WriteFile)), None)
        if dry_run:
            return report("todo", f"to do: {outcome.summary}", outcome.details)
        ctx.emit(StepUpdate(step.id, "todo", f"to do: {outcome.summary}", shown, diff, outcome.details))
        if not yes and not await ask(StepPlan(step.id, step.title, step.why, outcome.summary, shown, diff)):
            raise _Stop(report("skipped", "not confirmed: stopped here"))
        ctx.emit(StepUpdate(step.id, "running", "running…", shown, diff))
        for operation in operations:
            await ctx.apply(operation)
        verified = await (step.verify or step.check)(ctx)
        if not verified.done:
            raise _Stop(report("failed", f"applied, but not verified: {verified.summary}", verified.details))
        return report("applied", verified.summary, verified.details)
    except StepError as exc:
        failed = report("failed", str(exc), exc.details)
    except (TimeoutError, TransportError, OSError) as exc:
        failed = report("failed", f"{type(exc).__name__}: {exc}")
    if dry_run:  # a dry run shows every step it can: one that cannot be examined does not end it
        return failed
    raise _Stop(failed)


async def run_wizard(
    wizard: Wizard,
    ctx: NodeContext,
    *,
    dry_run: bool = False,
    yes: bool = False,
    confirm: Confirm | None = None,
) -> WizardReport:
    """Walk the steps (see the module doc). Without `yes`, each change is confirmed through `confirm`
    (no callback: nothing is applied). Never raises for node trouble: the failing step says what went
    wrong, and the steps after it are "skipped"."""
    started = time.monotonic()
    ctx.action = wizard.action
    reports: list[StepReport] = []
    stopped = False
    for step in wizard.steps:
        ctx.step = step.id
        if stopped:
            result = StepReport(step.id, step.title, "skipped", "not reached")
        else:
            ctx.emit(StepUpdate(step.id, "checking", "checking…"))
            try:
                result = await _run_step(step, ctx, dry_run=dry_run, yes=yes, ask=confirm or _always_no)
            except _Stop as stop:
                result, stopped = stop.report, True
        ctx.emit(
            StepUpdate(result.id, result.state, result.summary, result.plan, result.diff, result.details)
        )
        reports.append(result)
    return WizardReport(wizard.name, ctx.name, dry_run, tuple(reports), time.monotonic() - started)


__all__ = [
    "CommandFinished",
    "CommandStarted",
    "Confirm",
    "Emit",
    "NodeContext",
    "Outcome",
    "Progress",
    "Step",
    "StepPlan",
    "StepReport",
    "StepState",
    "StepUpdate",
    "Wizard",
    "WizardEvent",
    "WizardReport",
    "run_wizard",
]
