"""The README's "Install and run" block, run as written from a clean clone, as a new user would.

Each line of the block runs in bash, in a clone of this repository, with a fresh HOME and a virtual
environment whose `bin/` comes first on PATH, so `pip install .` and `opsconsole` are the ones a user gets.
Where the README says to edit the inventory, `$EDITOR` is a script that writes the hosts of a real sshd lab
node into it: that is the one step a person does by hand. The TUI lines run in a pseudo-terminal and are
quit with `q` once they have drawn the node; every other line must exit 0 (`--check` lines: 0, 1 or 2).
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shlex
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.lab.sshd import LabNode, SshLab

ROOT = Path(__file__).resolve().parent.parent
NOT_TUI = {"--check", "--help", "--version", "--screenshot", "inventory", "wizard", "tunnel", "fix"}
TUI_DRAW_S = 30.0
TUI_QUIT_S = 15.0


def readme_block() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Install and run", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the Install and run section has no sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def _is_tui(line: str) -> bool:
    words = shlex.split(line, comments=True)
    return bool(words) and words[0] == "opsconsole" and not NOT_TUI.intersection(words)


def _run_tui(line: str, env: dict[str, str], cwd: Path, expect: bytes) -> bytes:
    """Run a TUI line in a 160x48 pseudo-terminal; press q once `expect` was drawn; return all it drew."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    process = subprocess.Popen(
        ["bash", "-c", line],
        cwd=cwd,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    screen = b""
    quit_sent_at: float | None = None
    started = time.monotonic()
    try:
        while process.poll() is None:
            now = time.monotonic()
            if quit_sent_at is None and (expect in screen or now - started > TUI_DRAW_S):
                os.write(master, b"q")
                quit_sent_at = now
            if quit_sent_at is not None and now - quit_sent_at > TUI_QUIT_S:
                break
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    screen += os.read(master, 65536)
                except OSError:
                    break
        process.wait(timeout=5)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait()
        os.close(master)
    assert expect in screen, f"{line!r} never drew {expect!r}"
    assert process.returncode == 0, f"{line!r} exited {process.returncode} after q"
    return screen


def test_install_and_run_block_works_from_a_clean_clone(
    ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path
) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=60)
    venv = tmp_path / "venv"
    # The project's dependencies are already installed where the tests run: the venv sees them, and pip
    # builds the project without reaching any index (the tests use loopback only).
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120
    )
    home = tmp_path / "home"
    home.mkdir()
    editor = tmp_path / "editor"
    lab_inventory = tmp_path / "lab-inventory.yaml"
    lab_inventory.write_text(ssh_lab.inventory_yaml([gpu_node]))
    editor.write_text(f'#!/bin/sh\ncp {shlex.quote(str(lab_inventory))} "$1"\n')
    editor.chmod(0o755)
    env = {
        "PATH": f"{venv / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "EDITOR": str(editor),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    lines = readme_block()
    assert any(line.startswith("pip install .") for line in lines)
    edited = False
    for line in lines:
        if _is_tui(line):
            _run_tui(line, env, clone, expect=b"gpu1" if edited else b"local")
            continue
        done = subprocess.run(
            ["bash", "-c", line], cwd=clone, env=env, capture_output=True, text=True, timeout=300,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        allowed = {0, 1, 2} if "--check" in shlex.split(line, comments=True) else {0}
        assert done.returncode in allowed, f"{line!r} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
        if "$EDITOR" in line:
            edited = True
    assert edited, "the block never edits the inventory it created"


@pytest.mark.parametrize("line", readme_block())
def test_readme_lines_are_commands_a_user_can_type(line: str) -> None:
    """No placeholders left in the block: every line parses as shell words."""
    assert "<" not in line.split("#", 1)[0], line
    assert shlex.split(line, comments=True), line
