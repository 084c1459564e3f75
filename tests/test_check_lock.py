"""The --check lock on the real filesystem: planted symlinks and hard links, other users' directories."""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

import pytest

from console.checks.lock import LockBusy, LockError, check_lock, lock_path

NOBODY = 65534


def test_lock_path_never_falls_back_to_a_shared_directory(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path)}
    assert lock_path("/x/inv.yaml", environ).parent == tmp_path / ".local" / "state" / "opsconsole"
    relative = {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": "run", "XDG_STATE_HOME": "state"}
    assert lock_path("/x/inv.yaml", relative).parent == tmp_path / ".local" / "state" / "opsconsole"
    # Before: no HOME meant /tmp/.local/state/opsconsole, a directory anyone could have made first.
    account_home = Path(pwd.getpwuid(os.geteuid()).pw_dir)
    assert lock_path("/x/inv.yaml", {}).parent == account_home / ".local" / "state" / "opsconsole"


def test_new_lock_directory_is_private(tmp_path: Path) -> None:
    lock = tmp_path / "state" / "opsconsole" / "check.lock"
    with check_lock(lock):
        assert lock.read_text() == str(os.getpid())
    assert stat.S_IMODE(lock.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_planted_symlink_truncates_nothing(tmp_path: Path) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("do not truncate me")
    lock = tmp_path / "opsconsole" / "check.lock"
    lock.parent.mkdir(mode=0o700)
    lock.symlink_to(victim)
    with pytest.raises(LockError, match="it is a symlink"), check_lock(lock):
        pass
    assert victim.read_text() == "do not truncate me"  # before: truncated, then overwritten with a pid


def test_dangling_symlink_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "created-through-the-link"
    lock = tmp_path / "opsconsole" / "check.lock"
    lock.parent.mkdir(mode=0o700)
    lock.symlink_to(target)
    with pytest.raises(LockError), check_lock(lock):
        pass
    assert not target.exists()


def test_hard_link_to_another_file_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("keep")
    lock = tmp_path / "opsconsole" / "check.lock"
    lock.parent.mkdir(mode=0o700)
    os.link(victim, lock)
    with pytest.raises(LockError, match="not a plain file"), check_lock(lock):
        pass
    assert victim.read_text() == "keep"


def test_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a directory to another user")
    lock = tmp_path / "opsconsole" / "check.lock"
    lock.parent.mkdir(mode=0o777)
    os.chown(lock.parent, NOBODY, NOBODY)
    with pytest.raises(LockError, match=f"owned by uid {NOBODY}"), check_lock(lock):
        pass
    assert not lock.exists()


def test_symlinked_lock_directory_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / "opsconsole").symlink_to(elsewhere)
    with pytest.raises(LockError, match="lock directory"), check_lock(tmp_path / "opsconsole" / "check.lock"):
        pass
    assert list(elsewhere.iterdir()) == []


def test_own_group_writable_directory_is_tightened(tmp_path: Path) -> None:
    lock = tmp_path / "opsconsole" / "check.lock"
    lock.parent.mkdir()
    lock.parent.chmod(0o777)
    with check_lock(lock):
        pass
    assert stat.S_IMODE(lock.parent.stat().st_mode) == 0o700


def test_busy_lock_names_the_holder(tmp_path: Path) -> None:
    lock = tmp_path / "opsconsole" / "check.lock"
    with check_lock(lock), pytest.raises(LockBusy, match=f"held by pid {os.getpid()}"), check_lock(lock):
        pass
