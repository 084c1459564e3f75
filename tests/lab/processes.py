"""Process and user helpers of the real-sshd lab: walking /proc, killing process trees, the test user."""

from __future__ import annotations

import ctypes
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Iterable

from tests.lab.common import _PR_SET_PDEATHSIG, LAB_HOME, LAB_USER, STOP_TIMEOUT_S, LabError


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue  # exited meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) >= 2:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def descendant_levels(pid: int) -> list[list[int]]:
    """The descendants of pid that /proc still lists (zombies too), grouped by depth: children first."""
    children = _children_by_parent()
    levels: list[list[int]] = []
    level = list(children.get(pid, ()))
    while level:
        levels.append(level)
        level = [grandchild for child in level for grandchild in children.get(child, ())]
    return levels


def descendants(pid: int) -> list[int]:
    """Every descendant of pid, parents before their children."""
    return [child for level in descendant_levels(pid) for child in level]


def _wait_gone(pids: Iterable[int], deadline: float) -> None:
    pending = [pid for pid in pids if os.path.exists(f"/proc/{pid}")]
    while pending and time.monotonic() < deadline:
        time.sleep(0.005)
        pending = [pid for pid in pending if os.path.exists(f"/proc/{pid}")]


def kill_tree_below(pid: int, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGKILL every descendant of pid, deepest first, giving each parent a moment to reap its children.

    Leaves first, so that a killed process's parent is still alive to reap it: killing a whole tree at once
    orphans the zombies to init, which may reap them late.
    """
    deadline = time.monotonic() + timeout
    levels = descendant_levels(pid)
    for level in levels:
        for child in level:
            _signal(child, signal.SIGCONT)  # a stopped parent reaps nothing
    for level in reversed(levels):
        for child in level:
            _signal(child, signal.SIGKILL)
        _wait_gone(level, min(deadline, time.monotonic() + 0.5))


def user_processes(user: str = LAB_USER, *, session: int | None = None) -> list[int]:
    """Live (not zombie) processes owned by user, only those of one session id when given.

    A command run over SSH is the leader of its own session (sshd calls setsid), so `echo $$` as its first
    word gives the session id that finds it and everything it started, even once orphaned.
    """
    uid = pwd.getpwnam(user).pw_uid
    found: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        # After "(comm)": state ppid pgrp session ...
        if len(fields) < 4 or fields[0] in ("Z", "X"):
            continue
        if session is None or int(fields[3]) == session:
            found.append(int(entry.name))
    return found


def _signal(pid: int, sig: signal.Signals) -> bool:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _kill_parent_death_signal() -> None:
    """preexec_fn: SIGTERM the child when the thread that started it dies (pytest killed hard)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def ensure_lab_user() -> pwd.struct_passwd:
    """Create the unprivileged test user when missing and make sure sshd does not see it as locked."""
    if os.geteuid() != 0:
        raise LabError("the SSH lab must run as root (it creates the test user and starts sshd)")
    try:
        entry = pwd.getpwnam(LAB_USER)
    except KeyError:
        result = subprocess.run(
            ["useradd", "--create-home", "--home-dir", LAB_HOME, "--shell", "/bin/sh", LAB_USER],
            capture_output=True,
            text=True,
            check=False,
        )
        try:  # a parallel test session may have created it meanwhile: only its existence matters
            entry = pwd.getpwnam(LAB_USER)
        except KeyError:
            raise LabError(f"useradd {LAB_USER} failed: {result.stderr.strip()}") from None
    if _password_field(LAB_USER).startswith("!"):
        # useradd leaves the account locked ("!"), which sshd refuses outright when UsePAM is off.
        deadline = time.monotonic() + 5.0
        while True:
            result = subprocess.run(
                ["usermod", "-p", "*", LAB_USER], capture_output=True, text=True, check=False
            )
            if result.returncode == 0 or not _password_field(LAB_USER).startswith("!"):
                break
            if time.monotonic() > deadline:  # exit 10: /etc/shadow locked by a parallel usermod
                raise LabError(f"usermod -p '*' {LAB_USER} failed: {result.stderr.strip()}")
            time.sleep(0.05)
    return entry


def _password_field(user: str) -> str:
    with open("/etc/shadow", encoding="utf-8") as fh:
        for line in fh:
            name, _, rest = line.partition(":")
            if name == user:
                return rest.split(":", 1)[0]
    return ""
