"""The log view on the REAL lab: a container on the lab dockerd, reached through a real sshd, followed by the
log screen: quiet at first ("following, no output yet"), then a `\\r` progress bar and hostile bytes written
to its output, then restarted (the view reconnects and says so), with Docker's timestamps on `t`."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual.events import Mount
from textual.pilot import Pilot
from textual.widgets import Static

import screens.app
from console.inventory.model import DockerSettings, Inventory, Node
from console.session import ConsoleSession
from screens.app import OpsConsoleApp
from screens.logs import LogScreen
from tests.lab.docker_fixtures import IMAGE, DockerLab
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab
from widgets.log_view import LogView

# Written into the container's output (PID 1's stdout) from `docker exec`: a progress bar, an OSC 52.
WRITE = r"printf '10%%\r50%%\r100%% done\n\033]52;c;eA==\007clip\n' > /proc/1/fd/1"


class LabLogsApp(OpsConsoleApp):
    CSS_PATH = str(Path(screens.app.__file__).with_name("console.tcss"))

    def __init__(self, session: ConsoleSession, node: Node, container: str) -> None:
        super().__init__(session, cursor_blink=False, batch_window_s=0)
        self.node, self.container = node, container

    def on_mount(self, event: Mount) -> None:  # type: ignore[override]
        event.prevent_default()
        self.push_screen(LogScreen(self.node, self.container))


async def until(pilot: Pilot[None], condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:g}s: {what}"
        await pilot.pause(0.05)


def status(app: OpsConsoleApp) -> str:
    rendered = app.screen.query_one("#log-status", Static).render()
    return rendered.plain if isinstance(rendered, Text) else str(rendered)


def drawn(view: LogView) -> list[str]:
    return view.visible_text()


async def test_log_view_on_the_real_dockerd(
    docker_lab: DockerLab, ssh_lab: SshLab, plain_node: LabNode
) -> None:
    name = f"logview-{uuid.uuid4().hex[:8]}"
    docker_lab.run_container(name, "--init", IMAGE, "sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait")
    try:
        node = lab_node_model(ssh_lab, plain_node, docker=DockerSettings(socket=docker_lab.socket))
        session = ConsoleSession.live(Inventory("lab", "lab", (node,), None))
        app = LabLogsApp(session, node, name)
        async with app.run_test(size=(160, 30)) as pilot:
            view = app.screen.query_one(LogView)
            await until(pilot, lambda: "following, no output yet" in status(app), 30, "attached, quiet")
            assert "0 lines" in status(app)

            await asyncio.to_thread(docker_lab.main.cli, "exec", name, "sh", "-c", WRITE)
            await until(pilot, lambda: len(view.lines_kept) == 2, 15, "the two lines arrive")
            await pilot.pause()
            assert drawn(view) == ["100% done", "\\x1b]52;c;eA==\\x07clip"]
            assert "● following  ·  2 lines" in status(app)

            await asyncio.to_thread(docker_lab.main.cli, "restart", "-t", "1", name)
            await until(
                pilot, lambda: "container restarted, reconnected" in status(app), 30, "the follow comes back"
            )
            await asyncio.to_thread(
                docker_lab.main.cli, "exec", name, "sh", "-c", "echo again > /proc/1/fd/1"
            )
            await until(pilot, lambda: len(view.lines_kept) == 3, 15, "a line of the new run")
            assert list(view.lines_kept) == ["100% done", "\\x1b]52;c;eA==\\x07clip", "again"]  # no repeats

            await pilot.press("t")
            await pilot.pause()
            stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
            assert all(re.fullmatch(stamp + ".+", line) for line in drawn(view)), drawn(view)
    finally:
        await asyncio.to_thread(docker_lab.remove, name)
