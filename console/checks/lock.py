"""One `--check` at a time per inventory: an flock'd file, so overlapping cron runs never pile up.

The lock lives in a directory only the user can write (created 0700, checked to be the user's and not
group/world writable) and is opened relative to that directory with O_NOFOLLOW: a symlink planted where the
lock goes can neither redirect the open nor get a file truncated through it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from console.paths import runtime_dir, state_home


class LockError(Exception):
    """The lock cannot be taken safely (the message names the path and why)."""


class LockBusy(LockError):
    """Another run holds the lock (the message names the file and, when known, its pid)."""


def lock_path(inventory_path: str, environ: Mapping[str, str] = os.environ) -> Path:
    """Per inventory, under $XDG_RUNTIME_DIR (cleared at reboot) or else the XDG state dir in the user's
    home (never a shared directory such as /tmp)."""
    base = runtime_dir(environ) or state_home(environ)
    digest = hashlib.sha256(os.path.abspath(inventory_path).encode()).hexdigest()[:12]
    return base / "opsconsole" / f"check-{digest}.lock"


def _private_directory(directory: Path) -> int:
    """An fd on `directory`, created 0700 if missing; refused unless it is a real directory of ours
    that nobody else can write into."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(directory, 0o700)
    try:
        handle = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        raise LockError(f"lock directory {directory} unusable: {error.strerror}") from None
    info = os.fstat(handle)
    if info.st_uid != os.geteuid():
        os.close(handle)
        raise LockError(f"lock directory {directory} is owned by uid {info.st_uid}, not by this user")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        os.fchmod(handle, 0o700)  # ours, so ours to tighten: another user could plant files in it
    return handle


def _open_lock(path: Path) -> int:
    directory = _private_directory(path.parent)
    try:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        handle = os.open(path.name, flags, 0o600, dir_fd=directory)
    except OSError as error:
        why = "it is a symlink" if os.path.islink(path) else error.strerror
        raise LockError(f"cannot open lock {path}: {why}") from None
    finally:
        os.close(directory)
    info = os.fstat(handle)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_nlink != 1:
        os.close(handle)  # a hard link to someone's file would be truncated below
        raise LockError(f"lock {path} is not a plain file of this user's: refusing to write it")
    return handle


@contextlib.contextmanager
def check_lock(path: Path, *, wait: float | None = None) -> Iterator[None]:
    """Hold the lock for the block; without `wait` a busy lock raises LockBusy at once."""
    handle = _open_lock(path)
    try:
        deadline = time.monotonic() + (wait or 0.0)
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if wait is None or time.monotonic() >= deadline:
                    holder = os.pread(handle, 32, 0).decode(errors="replace").strip()
                    who = f" by pid {holder}" if holder.isdigit() else ""
                    waited = f" after waiting {wait:g}s" if wait else ""
                    raise LockBusy(
                        f"another opsconsole --check is running (lock {path} held{who}){waited}"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(handle, 0)
        os.pwrite(handle, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(handle)  # closing releases the flock
