"""The wizard engine on real shells: local subprocesses (as root here) and a real lab sshd (as the
unprivileged lab user, where sudo -n really refuses)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from console.actions import INTERRUPTED, AuditLog
from console.inventory.model import Node
from console.transport.base import CommandResult
from console.transport.local import LocalTransport
from console.transport.ssh import SSHTransport
from console.wizards.engine import (
    CommandFinished,
    CommandStarted,
    NodeContext,
    Outcome,
    Step,
    StepPlan,
    StepUpdate,
    Wizard,
    WizardEvent,
    run_wizard,
)
from console.wizards.ops import Command, Operation, WriteFile, sudo_failure
from console.wizards.printer import EventPrinter
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab

LOCAL = Node("here", "localhost", transport="local")


def context(
    events: list[WizardEvent] | None = None,
    transport: LocalTransport | SSHTransport | None = None,
    node: Node = LOCAL,
) -> NodeContext:
    sink = events.append if events is not None else (lambda event: None)
    return NodeContext(transport or LocalTransport("here"), node, AuditLog(), emit=sink)


def exists(path: Path) -> bool:
    return path.exists()


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def listing(path: Path) -> list[Path]:
    return list(path.iterdir())


def toy(root: Path, content: str = "hello\n") -> Wizard:
    """Two steps: a directory, then a file in it."""
    directory, file = root / "data", root / "data" / "greeting.txt"

    async def has_dir(ctx: NodeContext) -> Outcome:
        result = await ctx.read(f"test -d {directory}")
        return Outcome(result.ok, f"{directory} {'exists' if result.ok else 'missing'}")

    def mkdir(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        return (Command(("mkdir", "-p", str(directory)), root=True),)

    async def has_file(ctx: NodeContext) -> Outcome:
        result = await ctx.read(f"cat {file}")
        current = result.stdout if result.ok else None
        return Outcome(current == content, "up to date" if current == content else "differs", data=current)

    def write(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        return (WriteFile.planned(str(file), content, outcome.data, root=False),)

    return Wizard(
        "toy",
        "Toy",
        "wizard.toy",
        (
            Step("dir", "Directory", "a place for the file", has_dir, mkdir),
            Step("file", "File", "the greeting", has_file, write),
        ),
    )


async def test_apply_runs_each_step_and_a_rerun_says_already_done(tmp_path: Path) -> None:
    events: list[WizardEvent] = []
    report = await run_wizard(toy(tmp_path), context(events), yes=True)
    assert [(step.id, step.state) for step in report.steps] == [("dir", "applied"), ("file", "applied")]
    assert report.ok
    assert report.changed == 2
    assert read(tmp_path / "data" / "greeting.txt") == "hello\n"
    # As root there is no sudo: the command runs as shown.
    assert report.steps[0].plan == (f"mkdir -p {tmp_path}/data",)
    entries = AuditLog().entries()
    assert [(e["action"], e["target"], e["call"], e["ok"], e["detail"]) for e in entries] == [
        ("wizard.toy", "dir", f"mkdir -p {tmp_path}/data", True, "exit 0: "),
        ("wizard.toy", "file", report.steps[1].plan[0], True, "exit 0: "),
    ]
    assert all(entry["node"] == "here" for entry in entries)
    kinds = [(type(e).__name__, getattr(e, "state", "")) for e in events if e.step == "dir"]
    assert kinds == [
        ("StepUpdate", "checking"),
        ("StepUpdate", "todo"),
        ("StepUpdate", "running"),
        ("CommandStarted", ""),
        ("CommandFinished", ""),
        ("StepUpdate", "applied"),
    ]

    again = await run_wizard(toy(tmp_path), context(), yes=True)
    assert [step.state for step in again.steps] == ["done", "done"]
    assert [step.summary for step in again.steps] == [
        f"already done: {tmp_path}/data exists",
        "already done: up to date",
    ]
    assert again.changed == 0
    assert len(AuditLog().entries()) == 2


async def test_dry_run_shows_the_whole_plan_and_changes_nothing(tmp_path: Path) -> None:
    report = await run_wizard(toy(tmp_path), context(), dry_run=True)
    assert [step.state for step in report.steps] == ["todo", "todo"]
    assert report.ok
    assert report.steps[0].plan == (f"mkdir -p {tmp_path}/data",)
    assert report.steps[1].diff is not None
    assert report.steps[1].diff.splitlines() == [
        "--- /dev/null (absent)",
        f"+++ {tmp_path}/data/greeting.txt (new)",
        "@@ -0,0 +1 @@",
        "+hello",
    ]
    assert listing(tmp_path) == []
    assert AuditLog().entries() == []


async def test_a_changed_file_is_shown_as_a_diff_and_backed_up(tmp_path: Path) -> None:
    await run_wizard(toy(tmp_path), context(), yes=True)
    asked: list[StepPlan] = []

    async def confirm(plan: StepPlan) -> bool:
        asked.append(plan)
        return True

    report = await run_wizard(toy(tmp_path, "hello, world\n"), context(), confirm=confirm)
    assert report.ok
    (plan,) = asked
    assert plan.step == "file"
    assert "-hello\n+hello, world\n" in (plan.diff or "")
    backup = report.steps[1].plan[0].split()[-1]
    assert report.steps[1].plan[0] == f"cp -p {tmp_path}/data/greeting.txt {backup}"
    assert backup.startswith(f"{tmp_path}/data/greeting.txt.opsconsole-bak-")
    assert read(Path(backup)) == "hello\n"
    assert read(tmp_path / "data" / "greeting.txt") == "hello, world\n"


async def test_a_failing_command_stops_the_run_and_names_the_step(tmp_path: Path) -> None:
    async def never(ctx: NodeContext) -> Outcome:
        return Outcome(False, "not yet")

    def fail(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        return (Command(("sh", "-c", "echo disk full >&2; exit 3")),)

    wizard = Wizard("w", "W", "wizard.w", (Step("one", "One", "", never, fail), *toy(tmp_path).steps))
    report = await run_wizard(wizard, context(), yes=True)
    assert [step.state for step in report.steps] == ["failed", "skipped", "skipped"]
    assert report.failed == report.steps[0]
    assert report.steps[0].summary == "`sh -c 'echo disk full >&2; exit 3'` failed (exit 3): disk full"
    (entry,) = AuditLog().entries()
    assert (entry["ok"], entry["detail"]) == (False, "exit 3: disk full")
    assert not exists(tmp_path / "data")


async def test_a_step_that_does_not_verify_fails(tmp_path: Path) -> None:
    async def never(ctx: NodeContext) -> Outcome:
        return Outcome(False, "still not there")

    def noop(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        return (Command(("true",)),)

    report = await run_wizard(
        Wizard("w", "W", "wizard.w", (Step("one", "One", "", never, noop),)), context(), yes=True
    )
    assert report.steps[0].state == "failed"
    assert report.steps[0].summary == "applied, but not verified: still not there"
    assert not report.ok


async def test_no_confirmation_callback_applies_nothing(tmp_path: Path) -> None:
    report = await run_wizard(toy(tmp_path), context())
    assert [step.state for step in report.steps] == ["skipped", "skipped"]
    assert report.steps[0].summary == "not confirmed: stopped here"
    assert listing(tmp_path) == []


async def test_sudo_that_would_prompt_is_reported_over_ssh(ssh_lab: SshLab, plain_node: LabNode) -> None:
    node = lab_node_model(ssh_lab, plain_node)
    transport = SSHTransport(node)
    events: list[WizardEvent] = []
    target = "/root/opsconsole-wizard-never"

    async def never(ctx: NodeContext) -> Outcome:
        return Outcome(False, "missing")

    def mkdir(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        return (Command(("mkdir", "-p", target), root=True),)

    try:
        report = await run_wizard(
            Wizard("w", "W", "wizard.w", (Step("one", "One", "", never, mkdir),)),
            context(events, transport, node),
            yes=True,
        )
    finally:
        await transport.close()
    assert report.steps[0].plan == (f"sudo -n mkdir -p {target}",)
    assert report.steps[0].summary == (
        f"sudo would prompt for a password on plain1: opsconsole-lab may not run `mkdir -p {target}` "
        "without one. Allow exactly this command NOPASSWD for opsconsole-lab (a file in /etc/sudoers.d/), "
        "or run as root"
    )
    finished = [event for event in events if isinstance(event, CommandFinished)]
    assert finished[0].exit_status == 1
    assert "a password is required" in finished[0].output
    assert not exists(Path(target))
    started = [event for event in events if isinstance(event, CommandStarted)]
    assert [event.command for event in started] == [f"sudo -n mkdir -p {target}"]
    assert isinstance(events[0], StepUpdate)


def test_commands_render_as_shown_and_run_with_stdin() -> None:
    command = Command(
        ("tee", "/etc/x y"),
        root=True,
        env=(("DOCKER_HOST", "unix:///s"),),
        stdin="a'b\n",
        discard_stdout=True,
        note="the diff above",
    )
    assert (
        command.shown(sudo=True)
        == "DOCKER_HOST=unix:///s sudo -n tee '/etc/x y' >/dev/null  # the diff above"
    )
    assert command.shown(sudo=False) == "DOCKER_HOST=unix:///s tee '/etc/x y' >/dev/null  # the diff above"
    assert (
        command.shell(sudo=True)
        == "printf %s YSdiCg== | base64 -d | DOCKER_HOST=unix:///s sudo -n tee '/etc/x y' >/dev/null"
    )
    same = WriteFile.planned("/f", "x\n", "x\n")
    assert same.backup is None
    assert [c.argv for c in WriteFile.planned("/f", "y\n", None).commands()] == [("tee", "/f")]


def test_sudo_refusals_are_told_apart() -> None:
    def result(status: int, stderr: str) -> CommandResult:
        return CommandResult("x", status, "", stderr, 0.0)

    refused = sudo_failure(
        result(1, "Sorry, user ops is not allowed to execute '/usr/bin/mkdir' as root on n.\n"),
        "sudo -n mkdir -p /x",
        "n",
        "ops",
    )
    assert refused is not None
    assert refused.startswith("sudo refused on n: ops may not run `mkdir -p /x` as root")
    missing = sudo_failure(result(127, "sh: 1: sudo: not found\n"), "sudo -n mkdir", "n", "ops")
    assert missing == "sudo is not installed on n: install it, or run the wizard as root"
    assert sudo_failure(result(1, "mkdir: cannot create directory\n"), "sudo -n mkdir", "n", "ops") is None


async def test_a_mutating_step_is_audited_before_it_runs_and_when_it_is_cancelled(tmp_path: Path) -> None:
    marker = tmp_path / "started"

    async def never(ctx: NodeContext) -> Outcome:
        return Outcome(False, "not yet")

    def slow(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        return (Command(("sh", "-c", f"touch {marker}; sleep 30")),)

    wizard = Wizard(
        "slow", "Slow", "wizard.slow", (Step("slow", "Slow change", "a long command", never, slow),)
    )
    task = asyncio.create_task(run_wizard(wizard, context(), yes=True))
    async with asyncio.timeout(10):
        while not marker.exists():  # noqa: ASYNC110 - the command's own file is what is watched
            await asyncio.sleep(0.01)
    (intent,) = AuditLog().lines()  # on disk while the command runs
    assert (intent["phase"], intent["ok"], intent["target"]) == ("intent", None, "slow")
    assert intent["call"] == f"sh -c 'touch {marker}; sleep 30'"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (entry,) = AuditLog().entries()
    assert (entry["id"], entry["phase"], entry["ok"], entry["detail"]) == (
        intent["id"],
        "result",
        False,
        INTERRUPTED,
    )

    await run_wizard(toy(tmp_path / "toy"), context(), yes=True)
    lines = AuditLog().lines()[2:]
    assert [line["phase"] for line in lines] == ["intent", "result", "intent", "result"]
    assert lines[0]["id"] == lines[1]["id"] != lines[2]["id"] == lines[3]["id"]


async def test_node_output_never_reaches_the_terminal_as_control(tmp_path: Path) -> None:
    hostile = r"printf '\033]52;c;eA==\007clip\n\033[2Jwipe\n50%%\r100%%\n'"

    async def never(ctx: NodeContext) -> Outcome:
        return Outcome(False, "\x1b]0;title\x07 not yet")

    def loud(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        return (Command(("sh", "-c", hostile)),)

    wizard = Wizard("loud", "Loud", "wizard.loud", (Step("loud", "Loud", "prints escapes", never, loud),))
    out = io.StringIO()
    printer = EventPrinter(out, wizard)
    await run_wizard(wizard, NodeContext(LocalTransport("here"), LOCAL, AuditLog(), emit=printer), yes=True)
    text = out.getvalue()
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "> \\x1b]52;c;eA==\\x07clip" in text
    assert "> \\x1b[2Jwipe" in text
    assert "> 100%" in text
    assert "\\x1b]0;title\\x07 not yet" in text
    (entry,) = AuditLog().entries()[-1:]
    assert entry["detail"] == "exit 0: \\x1b]52;c;eA==\\x07clip\n\\x1b[2Jwipe\n100%"


async def test_node_text_before_a_carriage_return_is_shown_not_hidden(tmp_path: Path) -> None:
    # A bare \r in a check's detail is not a progress bar: what comes before it must reach the operator
    # (as a visible \x0d), or a node can hide an error behind a fake OK.
    target = tmp_path / "conf"
    target.write_text("uid=0\n")

    async def check(ctx: NodeContext) -> Outcome:
        details = ("ERROR: uid 0 mismatch\r| no UID/GID error",)
        return Outcome(False, "differs", details, data=target.read_text())

    def fix(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        return (WriteFile.planned(str(target), "uid=1000\n", outcome.data, root=False),)

    wizard = Wizard("cr", "CR", "wizard.cr", (Step("conf", "Conf", "the file", check, fix),))
    out = io.StringIO()
    ctx = NodeContext(LocalTransport("here"), LOCAL, AuditLog(), emit=EventPrinter(out, wizard))
    await run_wizard(wizard, ctx, dry_run=True)
    text = out.getvalue()
    assert "\r" not in text
    assert "| ERROR: uid 0 mismatch\\x0d| no UID/GID error\n" in text
