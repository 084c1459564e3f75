"""`s` for real: the console runs in a pseudo-terminal, `s` hands the terminal to OpenSSH's `ssh` logged in to
a lab sshd with the inventory's settings, what is typed runs on the node, and when the shell exits the same
screen is back and answers keys (Ctrl+S saves a screenshot named after the screen).

In a Pilot test the app runs headless, where a terminal cannot be handed over: there the key says so."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.demo.fleet import recorded_fleet
from console.demo.sources import RecordedSource
from console.model.inventory import Inventory, Node
from console.model.node import NodeSnapshot
from console.session import ConsoleSession
from console.transport import transports_for
from screens.app import OpsConsoleApp
from screens.node import NodeScreen
from tests.lab.sshd import LabNode, SshLab

ROOT = Path(__file__).resolve().parent.parent
ROWS, COLUMNS = 40, 140
AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


class Terminal:
    """The console in a pseudo-terminal of its own: keys in, everything it (and ssh) writes kept."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: the pty is its controlling terminal
            os.chdir(ROOT)
            os.execve(argv[0], argv, env)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        self.output = b""
        self.status: int | None = None

    def read(self, seconds: float = 0.1) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                return
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # the child is gone
                return
            if not chunk:
                return
            self.output += chunk

    def until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"not within {timeout:g}s: {what}\n{self.output[-2000:]!r}"
            self.read(0.1)

    def send(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def exited(self) -> bool:
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
        return self.status is not None

    def close(self) -> None:
        if not self.exited():
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


@contextlib.contextmanager
def console(inventory: Path, **extra: str) -> Iterator[Terminal]:
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLUMNS), "LINES": str(ROWS), **extra}
    env.pop("TEXTUAL", None)
    terminal = Terminal([sys.executable, "-m", "console", "-i", str(inventory)], env)
    try:
        yield terminal
    finally:
        terminal.close()


def screenshots(home: Path) -> Path:
    return home / ".local" / "state" / "opsconsole" / "screenshots"


def take_screenshot(terminal: Terminal, home: Path, screen: str, showing: str = "</svg>") -> str:
    """Ctrl+S until the console saves a picture of `screen` (it answers keys: it is back and alive), one
    with `showing` in it (a notification is drawn a moment after it is posted; </svg>: written whole)."""
    folder = screenshots(home)
    picture = ""

    def saved() -> bool:
        nonlocal picture
        for old in folder.glob("*.svg") if folder.exists() else ():
            old.unlink()
        terminal.send("\x13")
        terminal.read(0.5)
        shots = list(folder.glob(f"opsconsole-{screen}-*.svg")) if folder.exists() else []
        picture = shots[0].read_text(encoding="utf-8").replace("&#160;", " ") if shots else ""
        return bool(picture) and showing in picture

    terminal.until(saved, 30, f"a screenshot of the {screen} screen showing {showing!r}")
    return picture


def shell_round_trip(terminal: Terminal, node: str, marker: Path, words: str) -> None:
    """`s`, then on the node's shell write `words` into marker and exit."""
    start = len(terminal.output)
    terminal.send("s")
    terminal.until(
        lambda: b"opsconsole: ssh to " + node.encode() in terminal.output[start:], 15, "the banner"
    )
    banner = terminal.output.index(b"opsconsole: ssh to", start)
    terminal.until(lambda: b"$ " in terminal.output[banner:], 30, "the node's shell prompt")
    terminal.send(f"echo {words} > {marker}; exit\r")
    terminal.until(marker.exists, 30, "the command run on the node")


def test_s_opens_a_shell_on_the_node_and_comes_back_to_the_same_screen(
    ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path, isolated_home: Path
) -> None:
    inventory = tmp_path / "lab.yaml"
    inventory.write_text(ssh_lab.inventory_yaml([gpu_node], refresh=2))
    shared = Path(tempfile.mkdtemp(prefix="opsconsole-shell-test-"))  # the node's user writes here
    shared.chmod(0o777)
    try:
        with console(inventory) as terminal:
            assert "gpu1" in take_screenshot(terminal, isolated_home, "fleet")

            # from the fleet: the node under the cursor (the only one)
            shell_round_trip(terminal, "gpu1", shared / "from-fleet", "fleet")
            assert (shared / "from-fleet").read_text() == "fleet\n"
            assert (shared / "from-fleet").stat().st_uid == ssh_lab.user_entry.pw_uid  # as the node's user
            assert "gpu1" in take_screenshot(terminal, isolated_home, "fleet")

            # from the node screen, on its Containers tab
            terminal.send("\r")
            picture = take_screenshot(terminal, isolated_home, "node")
            terminal.send("2")
            shell_round_trip(terminal, "gpu1", shared / "from-node", "node")
            assert (shared / "from-node").read_text() == "node\n"
            back = take_screenshot(terminal, isolated_home, "node")
            assert "gpu1" in back
            # the tab it was left on, not a fresh node screen on its first tab
            assert "Docker is not watched on this node" in back
            assert "Docker is not watched on this node" not in picture

            terminal.send("q")
            terminal.until(terminal.exited, 15, "the console quits")
            assert terminal.status == 0
    finally:
        for leftover in shared.iterdir():
            leftover.unlink()
        shared.rmdir()


def test_ctrl_c_while_ssh_connects_ends_ssh_not_the_console(
    ssh_lab: SshLab, tmp_path: Path, isolated_home: Path
) -> None:
    hung = f"  hung:\n    host: 127.0.0.1\n    ssh: {{port: {ssh_lab.silent_port()}, connect_timeout: 30}}\n"
    inventory = tmp_path / "hung.yaml"
    inventory.write_text(ssh_lab.inventory_yaml([], extra_nodes=hung))
    with console(inventory) as terminal:
        take_screenshot(terminal, isolated_home, "fleet")
        start = len(terminal.output)
        terminal.send("s")
        terminal.until(lambda: b"opsconsole: ssh to hung" in terminal.output[start:], 15, "the banner")
        terminal.read(1.0)  # ssh is waiting for a banner that never comes
        terminal.send("\x03")
        # back and answering keys, and said: ssh was interrupted
        picture = take_screenshot(terminal, isolated_home, "fleet", "ssh to hung ended by SIGINT")
        assert "hung" in picture
        assert not terminal.exited()
        assert b"Traceback" not in terminal.output
        terminal.send("q")
        terminal.until(terminal.exited, 15, "the console quits")
        assert terminal.status == 0


def test_when_ssh_fails_its_reason_stays_on_the_terminal_until_enter(
    ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path, isolated_home: Path
) -> None:
    wrong = ssh_lab.write_known_hosts(tmp_path / "known_hosts", [gpu_node], wrong_for=[gpu_node])
    inventory = tmp_path / "lab.yaml"
    inventory.write_text(ssh_lab.inventory_yaml([gpu_node], known_hosts=wrong, refresh=2))
    with console(inventory) as terminal:
        take_screenshot(terminal, isolated_home, "fleet")
        start = len(terminal.output)
        terminal.send("s")
        terminal.until(lambda: b"Enter returns to the console" in terminal.output[start:], 30, "the prompt")
        assert b"REMOTE HOST IDENTIFICATION HAS CHANGED" in terminal.output[start:]  # ssh's own words
        assert b"Host key verification failed." in terminal.output[start:]
        terminal.read(0.5)
        assert b"\x1b[?1049h" not in terminal.output[start:]  # the console waits: its screen is not back
        terminal.send("\r")
        take_screenshot(terminal, isolated_home, "fleet", "ssh to gpu1 ended with status 255")
        terminal.send("q")
        terminal.until(terminal.exited, 15, "the console quits")


def test_s_on_a_local_node_opens_the_users_shell(tmp_path: Path, isolated_home: Path) -> None:
    marker = tmp_path / "local-marker"
    with console(ROOT / "inventories" / "local.yaml", SHELL="/bin/sh", PS1="local$ ") as terminal:
        take_screenshot(terminal, isolated_home, "fleet")
        start = len(terminal.output)
        terminal.send("s")
        terminal.until(lambda: b"opsconsole: a local shell" in terminal.output[start:], 15, "the banner")
        terminal.until(lambda: b"local$ " in terminal.output[start:], 15, "the shell's prompt")
        terminal.send(f"echo $$ > {marker}; exit\r")
        terminal.until(marker.exists, 15, "the command run in the user's shell")
        assert int(marker.read_text()) != terminal.pid  # a shell of its own, not the console
        take_screenshot(terminal, isolated_home, "fleet")
        terminal.send("q")
        terminal.until(terminal.exited, 15, "the console quits")


def live_session(inventory: Inventory, source: RecordedSource) -> ConsoleSession:
    """Recorded answers, but the nodes' transports of a live session (never connected here)."""
    return ConsoleSession(inventory, source, transports=transports_for(inventory))


async def test_s_without_a_terminal_to_hand_over_says_so() -> None:
    fleet = recorded_fleet()
    app = OpsConsoleApp(live_session(fleet.inventory, fleet.source), cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.app.settled()
        await pilot.pause()
        app.open_node("gpu1")
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, NodeScreen)
        said = [str(note.message) for note in app._notifications]
        assert any("cannot hand over" in message for message in said), said


async def test_s_on_the_recorded_demo_fleet_opens_no_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[str]] = []
    monkeypatch.setattr("screens.shell.subprocess.run", lambda argv, check: ran.append(argv))
    app = OpsConsoleApp(recorded_fleet().session(), cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.app.settled()
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
        said = [str(note.message) for note in app._notifications]
        assert "no live connection to gpu1 (recorded data): no shell" in said
    assert ran == []  # its hosts are made up: never ssh to them


class DeadlineSource(RecordedSource):
    """The recorded fleet, each answer read in five steps of 0.1 s within a 1 s deadline, as a transport's
    would be (its reads, then the channel's close)."""

    asked = 0

    async def poll(self, node: Node, *, force: bool = False) -> NodeSnapshot:
        self.asked += 1

        async def answer() -> NodeSnapshot:
            for _ in range(5):
                await asyncio.sleep(0.1)
            return await super(DeadlineSource, self).poll(node, force=force)

        try:
            return await asyncio.wait_for(answer(), 1.0)
        except TimeoutError:
            return NodeSnapshot(node.name, AT, False, error="timed out after 1s")


async def test_a_poll_in_flight_while_the_shell_ran_is_asked_again_not_shown_as_timed_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fleet = recorded_fleet()
    node = fleet.inventory.node("gpu1")
    source = DeadlineSource({"gpu1": fleet.source.snapshots["gpu1"]})
    inventory = Inventory("one", "recorded", (replace(node, refresh=3600),))
    app = OpsConsoleApp(live_session(inventory, source), cursor_blink=False, batch_window_s=0)

    @contextlib.contextmanager
    def suspend() -> Iterator[None]:  # headless: no terminal to hand over; the loop stands still as it would
        yield

    def shell(argv: list[str], check: bool) -> subprocess.CompletedProcess[bytes]:
        time.sleep(1.5)  # longer than the poll's deadline
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(app, "suspend", suspend)
    monkeypatch.setattr("screens.shell.subprocess.run", shell)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.app.settled()
        await pilot.pause()
        assert app.session.latest["gpu1"].reachable
        await pilot.press("r")  # a poll in flight...
        await pilot.pause(0.05)
        assert app.in_flight("gpu1")
        await pilot.press("s")  # ...while the shell runs
        await pilot.pause(0.1)
        await pilot.app.settled()
        await pilot.pause(0.8)
        await pilot.app.settled()
        latest = app.session.latest["gpu1"]
        assert latest.reachable, latest.error
        assert source.asked == 3  # the first, the one cut off, and the one asked again
