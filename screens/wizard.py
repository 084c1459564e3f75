"""A wizard on one node: its steps with their state, the selected step's plan, the live output of the running
step, the first-run progress view, and one confirmation per step before anything changes.

The engine (console/wizards) runs in this screen's worker (group `wizard-run`, exclusive); its events come
back as `WizardEventArrived` messages and the finished report as `WizardFinished`. On mount the screen checks
every step (a dry run: nothing changes); `a` applies, asking `ConfirmStepScreen` for each step that would
change the node; `c` checks again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Header, Label, RichLog, Static

from console.wizards.engine import (
    CommandFinished,
    CommandStarted,
    NodeContext,
    Progress,
    StepPlan,
    StepUpdate,
    Wizard,
    WizardEvent,
    WizardReport,
    run_wizard,
)
from widgets.safe import line, lines

# The engine, or a stand-in that replays recorded events (the snapshot tests).
Runner = Callable[[Wizard, NodeContext, bool, Callable[[StepPlan], Awaitable[bool]]], Awaitable[WizardReport]]
BAR_WIDTH = 40
STATES: dict[str, tuple[str, str]] = {
    "unknown": ("· not checked", "dim"),
    "checking": ("… checking", "dim"),
    "done": ("✔ done", "green"),
    "applied": ("✔ done (now)", "green"),
    "todo": ("○ to do", "yellow"),
    "running": ("▶ running", "bold cyan"),
    "failed": ("✖ failed", "bold red"),
    "skipped": ("– skipped", "dim"),
}


async def engine_runner(
    wizard: Wizard, ctx: NodeContext, dry_run: bool, confirm: Callable[[StepPlan], Awaitable[bool]]
) -> WizardReport:
    return await run_wizard(wizard, ctx, dry_run=dry_run, confirm=confirm)


@dataclass
class WizardEventArrived(Message, bubble=False):
    event: WizardEvent


@dataclass
class WizardFinished(Message, bubble=False):
    report: WizardReport


def plan_text(plan: StepPlan | StepUpdate | None, why: str) -> RenderableType:
    """A step's plan: why, what the check found, the commands, the diff (+/- coloured)."""
    if plan is None:
        return Text(why, style="dim")
    # Summaries, diffs and details quote the node's files and answers: plain text, controls made visible.
    parts: list[RenderableType] = [Text(why, style="italic")]
    if plan.summary:
        parts.append(lines(plan.summary))
    if plan.diff:
        diff = Text()
        for row in plan.diff.rstrip("\n").split("\n"):
            style = "green" if row.startswith("+") else "red" if row.startswith("-") else "dim"
            diff.append_text(line(row, style))
            diff.append("\n")
        parts.append(diff)
    commands = plan.plan if isinstance(plan, StepUpdate) else plan.commands
    if commands:
        parts.append(lines("\n".join(f"$ {command}" for command in commands), "bold"))
    details = getattr(plan, "details", ())
    if details:
        parts.append(lines("\n".join(f"| {row}" for row in details), "dim"))
    return Group(*parts)


def progress_text(event: Progress) -> RenderableType:
    def clock(seconds: float) -> str:
        return f"{int(seconds // 60):02d}:{int(seconds % 60):02d}"

    head = Text.assemble(
        ("First run in progress ", "bold"),
        f"{clock(event.elapsed_s)} elapsed, waiting up to {clock(event.deadline_s)}",
    )
    filled = (
        round(BAR_WIDTH * min(1.0, event.elapsed_s / event.deadline_s)) if event.deadline_s else BAR_WIDTH
    )
    bar = Text.assemble(("━" * filled, "yellow"), ("─" * (BAR_WIDTH - filled), "dim"))
    tail = lines("\n".join(event.lines[-6:]) or "(no log lines yet)", "dim")
    return Group(head, bar, line(event.message, "italic"), tail)


class ConfirmStepScreen(ModalScreen[bool]):
    """Apply this step? Shows its plan; `y` applies, `n`/Esc stops the wizard here (focused first)."""

    CSS_PATH = "wizard.tcss"
    BINDINGS = [Binding("y", "answer(True)", "Apply"), Binding("n,escape", "answer(False)", "Stop")]

    def __init__(self, plan: StepPlan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        with Vertical(id="step-dialog"):
            yield Label(f"Apply step “{self.plan.title}”?", id="step-title")
            with VerticalScroll(id="step-plan"):
                yield Static(plan_text(self.plan, self.plan.why))
            with Horizontal(id="step-buttons"):
                yield Button("Apply (y)", variant="warning", id="step-yes")
                yield Button("Stop here (n)", variant="primary", id="step-no")

    def on_mount(self) -> None:
        self.query_one("#step-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "step-yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class WizardScreen(Screen[None]):
    CSS_PATH = "wizard.tcss"
    BINDINGS = [
        Binding("a", "apply", "Apply"),
        Binding("c", "check", "Check again"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(
        self,
        wizard: Wizard,
        context: NodeContext,
        *,
        runner: Runner = engine_runner,
        check_on_mount: bool = True,
    ) -> None:
        super().__init__()
        self.wizard = wizard
        self.context = context
        self.runner = runner
        self.check_on_mount = check_on_mount
        self.updates: dict[str, StepUpdate] = {}
        self.report: WizardReport | None = None
        self.running = False
        self.mode = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="wizard-status")
        with Horizontal(id="wizard-body"):
            yield DataTable(id="wizard-steps", cursor_type="row", zebra_stripes=False)
            with Vertical(id="wizard-right"):
                with VerticalScroll(id="wizard-plan"):
                    yield Static(id="wizard-plan-text")
                yield Static(id="wizard-progress")
                yield RichLog(id="wizard-output", wrap=True, markup=False, max_lines=2000)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"{self.wizard.title} on {self.context.name}"
        table = self.query_one("#wizard-steps", DataTable)
        table.add_column("#", key="n", width=2)
        table.add_column("step", key="step", width=26)
        table.add_column("state", key="state", width=13)
        for number, step in enumerate(self.wizard.steps, 1):
            table.add_row(str(number), step.title, self._state("unknown"), key=step.id)
        table.focus()
        self.query_one("#wizard-plan", VerticalScroll).border_title = "plan of the selected step"
        self.query_one("#wizard-output", RichLog).border_title = "output of the running step"
        self._status(
            "checking every step (nothing changes)…" if self.check_on_mount else "a: apply, c: check"
        )
        self._show_plan(self.wizard.steps[0].id)
        if self.check_on_mount:
            self.run_wizard(dry_run=True)

    # --- running ------------------------------------------------------------------------------------

    @work(exclusive=True, group="wizard-run", exit_on_error=False)
    async def run_wizard(self, dry_run: bool) -> None:
        self.running, self.mode = True, "check" if dry_run else "apply"
        self.context.emit = self._post_event
        try:
            report = await self.runner(self.wizard, self.context, dry_run, self._confirm)
        finally:
            self.running = False
        self.post_message(WizardFinished(report))

    def _post_event(self, event: WizardEvent) -> None:
        self.post_message(WizardEventArrived(event))

    async def _confirm(self, plan: StepPlan) -> bool:
        answer: bool = await self.app.push_screen(ConfirmStepScreen(plan), wait_for_dismiss=True)
        return answer

    def action_apply(self) -> None:
        if self.running:
            self.notify("the wizard is running", timeout=2)
            return
        self.query_one("#wizard-output", RichLog).write(Text(f"— apply {self.wizard.title} —", style="bold"))
        self._status("applying: each step that changes the node asks first")
        self.run_wizard(dry_run=False)

    def action_check(self) -> None:
        if not self.running:
            self._status("checking every step (nothing changes)…")
            self.run_wizard(dry_run=True)

    def action_back(self) -> None:
        if self.running and self.mode == "apply":
            self.notify("a step is running: wait for it, or answer its confirmation with n", timeout=3)
            return
        self.app.pop_screen()

    # --- events -------------------------------------------------------------------------------------

    def on_wizard_event_arrived(self, message: WizardEventArrived) -> None:
        event = message.event
        output = self.query_one("#wizard-output", RichLog)
        if isinstance(event, StepUpdate):
            self.updates[event.step] = event
            table = self.query_one("#wizard-steps", DataTable)
            table.update_cell(event.step, "state", self._state(event.state))
            if event.state == "running":
                output.write(Text(f"▶ {self._title(event.step)}", style="bold cyan"))
                table.move_cursor(row=table.get_row_index(event.step))
            elif event.state in ("applied", "failed") and self.mode == "apply":
                style = "green" if event.state == "applied" else "bold red"
                output.write(line(f"{STATES[event.state][0]}: {event.summary}", style))
            if event.state != "running" or event.step == self._selected():
                self._show_plan(self._selected())
        elif isinstance(event, CommandStarted):
            output.write(line(f"$ {event.command}", "bold"))
        elif isinstance(event, CommandFinished):
            if event.output:
                output.write(lines(event.output, "dim"))
            if event.exit_status not in (0, None):
                output.write(Text(f"exit {event.exit_status}", style="bold red"))
        elif isinstance(event, Progress):
            progress = self.query_one("#wizard-progress", Static)
            progress.update(progress_text(event))
            progress.add_class("-shown")

    def on_wizard_finished(self, message: WizardFinished) -> None:
        report = self.report = message.report
        self.query_one("#wizard-progress", Static).remove_class("-shown")
        failed = report.failed
        if failed is not None and not report.dry_run:
            self._status(f"stopped at “{failed.title}”: {failed.summary}", error=True)
        elif report.dry_run:
            todo = sum(step.state == "todo" for step in report.steps)
            broken = f", {failed.title} failed" if failed is not None else ""
            self._status(f"checked: {todo} to do{broken} — a: apply (each change asks first), c: check again")
        else:
            self._status(f"verified: {report.changed} applied, the rest already done", ok=True)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self._show_plan(event.row_key.value)

    # --- drawing ------------------------------------------------------------------------------------

    def _state(self, state: str) -> Text:
        label, style = STATES.get(state, (state, ""))
        return Text(label, style=style)

    def _title(self, step_id: str) -> str:
        return next((step.title for step in self.wizard.steps if step.id == step_id), step_id)

    def _selected(self) -> str:
        table = self.query_one("#wizard-steps", DataTable)
        if table.row_count == 0:
            return self.wizard.steps[0].id
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return key or self.wizard.steps[0].id

    def _show_plan(self, step_id: str) -> None:
        step = next((step for step in self.wizard.steps if step.id == step_id), None)
        if step is None:
            return
        head = Text(step.title, style="bold")
        self.query_one("#wizard-plan-text", Static).update(
            Group(head, plan_text(self.updates.get(step_id), step.why))
        )

    def _status(self, text: str, *, error: bool = False, ok: bool = False) -> None:
        status = self.query_one("#wizard-status", Static)
        status.update(line(text, "bold red" if error else "green" if ok else ""))
