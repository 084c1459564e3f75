"""One `--check` at a time per inventory: an flock'd file, so overlapping cron runs never pile up."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path


class LockBusy(Exception):
    """Another run holds the lock (the message names the file and, when known, its pid)."""


def lock_path(inventory_path: str, environ: Mapping[str, str] = os.environ) -> Path:
    """Per inventory, under $XDG_RUNTIME_DIR (cleared at reboot) or else the XDG state dir."""
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        base = Path(runtime)
    else:
        state = environ.get("XDG_STATE_HOME") or os.path.join(environ.get("HOME", "/tmp"), ".local", "state")
        base = Path(state)
    digest = hashlib.sha256(os.path.abspath(inventory_path).encode()).hexdigest()[:12]
    return base / "opsconsole" / f"check-{digest}.lock"


@contextlib.contextmanager
def check_lock(path: Path, *, wait: float | None = None) -> Iterator[None]:
    """Hold the lock for the block; without `wait` a busy lock raises LockBusy at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
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
