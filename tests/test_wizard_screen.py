"""The wizard screen: a Pilot test driving the real bring-up on the lab node (every step confirmed in its
modal), and snapshots of its states fed by recorded events (deterministic: no clock, no node)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from textual.app import App
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import DataTable, RichLog

from console.actions import AuditLog
from console.inventory.model import Node
from console.transport.local import LocalTransport
from console.wizards.bringup import FIRST_RUN_MESSAGE, bringup_wizard
from console.wizards.compose import render_compose
from console.wizards.engine import (
    CommandFinished,
    CommandStarted,
    NodeContext,
    Progress,
    StepPlan,
    StepReport,
    StepUpdate,
    Wizard,
    WizardEvent,
    WizardReport,
)
from console.wizards.ops import WriteFile
from console.wizards.settings import AiStackSettings
from screens.wizard import ConfirmStepScreen, Runner, WizardFinished, WizardScreen

if TYPE_CHECKING:
    from tests.lab.stack_images import StackEnv

pytest_plugins = ["tests.lab.stack_images"]

SIZE = (150, 44)
S = AiStackSettings()
NODE = Node("gpu1", "10.60.0.20")


class WizardApp(App[None]):
    """Just the wizard screen, as the console opens it (app.push_screen)."""

    def __init__(
        self,
        wizard: Wizard,
        context: NodeContext,
        runner: Runner | None = None,
        *,
        check_on_mount: bool = True,
    ) -> None:
        super().__init__()
        self.wizard, self.context, self.runner, self.check_on_mount = wizard, context, runner, check_on_mount

    def on_mount(self) -> None:
        if self.runner is None:
            self.push_screen(WizardScreen(self.wizard, self.context))
        else:
            self.push_screen(
                WizardScreen(
                    self.wizard, self.context, runner=self.runner, check_on_mount=self.check_on_mount
                )
            )


def states(app: App[None]) -> dict[str, str]:
    table = app.screen.query_one("#wizard-steps", DataTable)
    return {str(key.value): str(table.get_cell(key, "state")) for key in table.rows}


async def until(
    pilot: Pilot[None], condition: Callable[[], bool], what: str, deadline_s: float = 60.0
) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {states(pilot.app)}"
        await pilot.pause(0.05)


# --- the real thing -----------------------------------------------------------------------------------


async def test_pilot_applies_the_bringup_step_by_step_on_the_lab_node(stack: StackEnv) -> None:
    finished: list[WizardReport] = []

    def hook(message: Message) -> None:
        if isinstance(message, WizardFinished):
            finished.append(message.report)

    app = WizardApp(bringup_wizard(stack.settings), stack.context())
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await until(pilot, lambda: len(finished) == 1, "the first check")
        assert finished[0].dry_run
        assert states(app) == {
            "os": "✔ done",
            "gpu": "✔ done",
            "docker": "✔ done",
            "nvidia-runtime": "✔ done",
            "storage": "○ to do",
            "comfy-mnt": "○ to do",
            "compose-file": "○ to do",
            "up": "○ to do",
            "first-run": "○ to do",
            "validate": "○ to do",
        }
        await pilot.press("a")
        confirmed: list[str] = []
        while len(finished) < 2:
            if isinstance(app.screen, ConfirmStepScreen):
                confirmed.append(app.screen.plan.step)
                await pilot.press("y")
            await until(
                pilot, lambda: isinstance(app.screen, ConfirmStepScreen) or len(finished) == 2, "a step"
            )
        report = finished[1]
        assert report.ok, report.failed
        # One confirmation per step that changed something (the first-run wait may find ComfyUI already up).
        assert confirmed == [step.id for step in report.steps if step.state == "applied"]
        assert confirmed[:4] == ["storage", "comfy-mnt", "compose-file", "up"]
        assert set(states(app).values()) == {"✔ done", "✔ done (now)"}
        output = "".join(str(line.text) for line in app.screen.query_one("#wizard-output", RichLog).lines)
        assert f"$ sudo -n mkdir -p {stack.settings.cache_dir}" in output
        assert "Creating comfy" in output
        assert [entry["target"] for entry in AuditLog().entries()][-1] == "up"


async def test_pilot_answering_no_stops_before_anything_changes(stack: StackEnv) -> None:
    finished: list[WizardReport] = []
    app = WizardApp(bringup_wizard(stack.settings), stack.context())
    hook = lambda message: finished.append(message.report) if isinstance(message, WizardFinished) else None  # noqa: E731
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await until(pilot, lambda: len(finished) == 1, "the first check")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmStepScreen), "the first confirmation")
        await pilot.press("n")
        await until(pilot, lambda: len(finished) == 2, "the stop")
        assert states(app)["storage"] == "– skipped"
        status = str(app.screen.query_one("#wizard-status").render())
        assert status == "stopped at “Storage layout”: not confirmed: stopped here"
    assert AuditLog().entries() == []


# --- snapshots: recorded events -----------------------------------------------------------------------


def update(
    step: str,
    state: str,
    summary: str,
    plan: Sequence[str] = (),
    diff: str | None = None,
    details: Sequence[str] = (),
) -> StepUpdate:
    return StepUpdate(step, state, summary, tuple(plan), diff, tuple(details))  # type: ignore[arg-type]


DIRS = " ".join(S.directories)
COMPOSE = (
    "sudo -n mkdir -p /opt/ai-stack",
    f"sudo -n tee {S.compose_path} >/dev/null  # new content: the diff above (sha256 6c1f0e2a9b41…)",
)
UP = ("docker compose -f /opt/ai-stack/docker-compose.yml -p ai-stack up -d",)
WAIT = (
    'wait up to 30:00 for "Starting server" in `docker logs comfy` and HTTP 200 from http://127.0.0.1:8188/ '
    "(checked every 5s)",
)
CHECKED: tuple[WizardEvent, ...] = (
    update("os", "done", "already done: Ubuntu 24.04.1 LTS"),
    update("gpu", "done", "already done: 1 GPU (NVIDIA H100 80GB HBM3), driver 590.48.01"),
    update(
        "docker", "done", "already done: Docker Engine 27.3.1 (not the snap); Docker Compose version v2.29.7"
    ),
    update(
        "nvidia-runtime", "done", "already done: Docker lists the nvidia runtime (runtimes: nvidia, runc)"
    ),
    update(
        "storage",
        "todo",
        "to do: 6 of 6 directories missing",
        (f"sudo -n mkdir -p {DIRS}",),
        None,
        S.directories,
    ),
    update(
        "comfy-mnt",
        "todo",
        f"to do: {S.comfy_mnt} missing (the storage step creates it)",
        (f"sudo -n chown -R 1024:1024 {S.comfy_mnt}", f"sudo -n chmod -R 775 {S.comfy_mnt}"),
    ),
    update(
        "compose-file",
        "todo",
        f"to do: {S.compose_path} absent",
        COMPOSE,
        WriteFile.planned(S.compose_path, render_compose(S), None).diff(),
    ),
    update("up", "todo", "to do: not created: comfy, ollama, openwebui", UP),
    update("first-run", "todo", "to do: no comfy container", WAIT),
    update(
        "validate",
        "todo",
        "checked after apply: 1/6 validation checks pass",
        (),
        None,
        (
            "✖ comfy: no container",
            "✖ ollama: no container",
            "✖ openwebui: no container",
            "✖ http://127.0.0.1:8188 through SSH: http://127.0.0.1:8188/: connection refused",
            "✔ no UID/GID error in `docker logs --tail=50 comfy`",
            '✖ "Starting server" in `docker logs --tail=50 comfy`',
        ),
    ),
)
LOG = (
    "First run: cloning ComfyUI into /comfy/mnt",
    "First run: creating the venv (Python 3.12)",
    "Collecting torch==2.7.1+cu128",
    "  Downloading torch-2.7.1+cu128-cp312-cp312-manylinux_2_28_x86_64.whl (1.1 GB)",
    "     ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 612.3/1100.0 MB 48.2 MB/s eta 0:00:11",
)
APPLYING: tuple[WizardEvent, ...] = (
    *(
        update(step, "done", f"already done: {what}")
        for step, what in (
            ("os", "Ubuntu 24.04.1 LTS"),
            ("gpu", "1 GPU (NVIDIA H100 80GB HBM3), driver 590.48.01"),
            ("docker", "Docker Engine 27.3.1 (not the snap); Docker Compose version v2.29.7"),
            ("nvidia-runtime", "Docker lists the nvidia runtime (runtimes: nvidia, runc)"),
        )
    ),
    CommandStarted("storage", f"sudo -n mkdir -p {DIRS}"),
    CommandFinished("storage", f"sudo -n mkdir -p {DIRS}", 0, ""),
    update("storage", "applied", "all 6 directories exist"),
    CommandStarted("comfy-mnt", f"sudo -n chown -R 1024:1024 {S.comfy_mnt}"),
    CommandStarted("comfy-mnt", f"sudo -n chmod -R 775 {S.comfy_mnt}"),
    update("comfy-mnt", "applied", f"{S.comfy_mnt} owned by 1024:1024, mode 775"),
    *(CommandStarted("compose-file", command) for command in COMPOSE),
    update("compose-file", "applied", f"{S.compose_path} written; compose accepts it"),
    CommandStarted("up", UP[0]),
    CommandFinished(
        "up",
        UP[0],
        0,
        " Network ai-stack_default  Created\n Container ollama  Started\n"
        " Container comfy  Started\n Container openwebui  Started",
    ),
    update("up", "applied", "comfy, ollama, openwebui running, created from the current compose file"),
    update("first-run", "running", "running…", WAIT),
    CommandStarted("first-run", WAIT[0]),
    Progress("first-run", 133.0, 1800.0, FIRST_RUN_MESSAGE, LOG),
)
FAILED_LINES = (
    "== ComfyUI: checking /comfy/mnt",
    "ERROR: Directory /comfy/mnt owned by unexpected user/group",
)
REFUSED = (
    f"ComfyUI refuses to start: {FAILED_LINES[1]} (fix: opsconsole troubleshoot comfy-mnt-ownership "
    "--node gpu1)"
)


def replay(
    events: Sequence[WizardEvent], *, ask: str | None = None, end: Sequence[WizardEvent] = ()
) -> Runner:
    """Emits recorded events, then asks to confirm `ask` and waits, or emits `end` and returns."""

    async def run(
        wizard: Wizard, ctx: NodeContext, dry_run: bool, confirm: Callable[[StepPlan], Awaitable[bool]]
    ) -> WizardReport:
        for event in events:
            ctx.emit(event)
        if ask is not None:
            shown = next(e for e in CHECKED if isinstance(e, StepUpdate) and e.step == ask)
            step = next(s for s in wizard.steps if s.id == ask)
            await confirm(
                StepPlan(
                    ask, step.title, step.why, shown.summary.removeprefix("to do: "), shown.plan, shown.diff
                )
            )
        if not end:
            await asyncio.Event().wait()  # a step still running when the shot is taken
        for event in end:
            ctx.emit(event)
        titles = {step.id: step.title for step in wizard.steps}
        reports = tuple(
            StepReport(e.step, titles[e.step], e.state, e.summary) for e in end if isinstance(e, StepUpdate)
        )
        return WizardReport("bringup", "gpu1", dry_run, reports, 1.0)

    return run


def app_for(runner: Runner, *, check_on_mount: bool = True) -> WizardApp:
    context = NodeContext(LocalTransport("gpu1"), NODE, AuditLog())
    return WizardApp(bringup_wizard(S), context, runner, check_on_mount=check_on_mount)


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.pause()


async def apply(pilot: Pilot[None]) -> None:
    """`a`: the apply run, as the operator starts it."""
    await settle(pilot)
    await pilot.press("a")
    await settle(pilot)


def test_snapshot_after_the_check(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def select_compose_file(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("down", "down", "down", "down", "down", "down")  # row 7
        await settle(pilot)

    app = app_for(replay((), end=CHECKED))
    assert snap_compare(app, terminal_size=SIZE, run_before=select_compose_file)


def test_snapshot_first_run_progress(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = app_for(replay(APPLYING), check_on_mount=False)
    assert snap_compare(app, terminal_size=SIZE, run_before=apply)


def test_snapshot_failed_step(snap_compare) -> None:  # type: ignore[no-untyped-def]
    end = (
        update("first-run", "failed", REFUSED, WAIT, None, FAILED_LINES),
        update("validate", "skipped", "not reached"),
    )
    app = app_for(replay(APPLYING, end=end), check_on_mount=False)
    assert snap_compare(app, terminal_size=SIZE, run_before=apply)


def test_snapshot_step_confirmation(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app_for(replay(CHECKED, ask="compose-file")), terminal_size=SIZE, run_before=settle)
