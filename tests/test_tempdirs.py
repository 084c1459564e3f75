"""Socket directories left by a killed console are cleaned at the next start: only ours, only stale ones.

Real processes are SIGKILLed mid-run (no chance to clean up); the next one removes what they left. Another
user's directory, a live process's, a symlink and names that only look alike are never touched.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.transport.tempdirs import clean_stale, private_dir
from tests.lab.common import LAB_USER
from tests.lab.processes import ensure_lab_user


@pytest.fixture
def tmpdir_short() -> Iterator[Path]:
    """A temp dir of its own with a short path (unix socket paths stop at 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="oc-"))
    os.chmod(path, 0o1777)  # as /tmp: anyone may create, only owners remove
    yield path
    shutil.rmtree(path, ignore_errors=True)


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def make(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir(mode=0o700)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path / "fwd-0.sock"))
    return path


def test_only_this_users_directories_of_dead_processes_go(tmpdir_short: Path) -> None:
    gone = dead_pid()
    alive = os.getppid()
    stale = make(tmpdir_short, f"opsconsole-gpu-1-{gone}-abc_1234")
    stale_ro = make(tmpdir_short, f"opsconsole-ro-{gone}-zz99zz99")
    live = make(tmpdir_short, f"opsconsole-gpu-1-{alive}-abc_1234")
    mine = make(tmpdir_short, f"opsconsole-ro-{os.getpid()}-abcdefgh")
    lookalikes = [
        make(tmpdir_short, "opsconsole-lab-12345678"),  # the test lab's own directories
        make(tmpdir_short, "opsconsole-ro-test-abcdefgh"),
        make(tmpdir_short, f"opsconsole-mounts-{os.getuid()}"),
    ]
    file = tmpdir_short / f"opsconsole-gpu1-{gone}-filefile"
    file.write_text("not a directory")
    victim = make(tmpdir_short, "victim")
    link = tmpdir_short / f"opsconsole-evil-{gone}-linklink"
    link.symlink_to(victim)  # planted: pointing at something of ours we must not lose
    ensure_lab_user()
    theirs = make(tmpdir_short, f"opsconsole-gpu1-{gone}-theirs00")
    user = pwd.getpwnam(LAB_USER)
    os.chown(theirs, user.pw_uid, user.pw_gid)

    removed = clean_stale(str(tmpdir_short))

    assert sorted(removed) == sorted([str(stale), str(stale_ro)])
    assert not stale.exists()
    assert not stale_ro.exists()
    for kept in (live, mine, *lookalikes, file, victim, theirs):
        assert kept.exists(), kept
    assert link.is_symlink()
    assert (victim / "fwd-0.sock").exists()


def test_names_carry_the_pid_and_a_short_node_part(
    tmpdir_short: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmpdir_short))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    path = Path(private_dir("a/very-long-node-name-" + "x" * 200))
    try:
        assert path.parent == tmpdir_short
        assert path.name.startswith(f"opsconsole-a_very-long-node-name-xxxxxxxxxx-{os.getpid()}-")
        assert path.stat().st_mode & 0o777 == 0o700
    finally:
        path.rmdir()


HOLD = """
import asyncio, sys
from console.transport.local import LocalTransport
from console.transport.readonly import ReadOnlyTransport
async def main():
    handle = ReadOnlyTransport(LocalTransport("gpu1"))
    print(await handle.forward_unix_socket("/run/docker.sock"), flush=True)
    await asyncio.sleep(60)
asyncio.run(main())
"""


def test_a_killed_console_leaves_its_socket_dir_and_the_next_start_removes_it(tmpdir_short: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmpdir_short)}
    first = subprocess.Popen([sys.executable, "-c", HOLD], stdout=subprocess.PIPE, text=True, env=env)
    assert first.stdout is not None
    left = Path(first.stdout.readline().strip()).parent
    first.send_signal(signal.SIGKILL)  # no finally, no atexit: the directory stays
    first.wait()
    assert left.name.startswith(f"opsconsole-ro-{first.pid}-")
    assert left.exists()

    second = subprocess.Popen([sys.executable, "-c", HOLD], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert second.stdout is not None
        own = Path(second.stdout.readline().strip()).parent
        assert own.exists()
        assert not left.exists()  # cleaned when the next one made its own
    finally:
        second.kill()
        second.wait()
