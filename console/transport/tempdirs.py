"""Private socket directories in the temp dir, named after the process that owns them, and stale ones cleaned.

The SSH forwards (`opsconsole-<node>-<pid>-XXXXXXXX`) and the read-only Docker filter (`opsconsole-ro-<pid>-
XXXXXXXX`) each keep their unix sockets in a 0700 directory. A killed console cannot remove its own, so the
first one made in a process removes those whose process is gone: only directories (never a symlink) owned by
this user, whose name carries a pid that no longer runs. Another user's, or a live process's, are never
touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile

# mkdtemp's suffix: 8 of [a-z0-9_]; the pid just before it. The node part is what precedes.
_NAME = re.compile(r"opsconsole-(?P<owner>.+)-(?P<pid>[0-9]{1,10})-[a-z0-9_]{8}")
_NODE_PART = 32  # keeps a socket path under the 108 bytes AF_UNIX allows
_cleaned = False


def clean_once() -> None:
    """clean_stale() the first time in this process (transports_for and private_dir call it)."""
    global _cleaned
    if not _cleaned:
        _cleaned = True
        clean_stale()


def private_dir(owner: str) -> str:
    """A new 0700 directory `opsconsole-<owner>-<pid>-XXXXXXXX` in the temp dir; cleans stale ones first."""
    clean_once()
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", owner)[:_NODE_PART] or "_"
    return tempfile.mkdtemp(prefix=f"opsconsole-{safe}-{os.getpid()}-")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process has that pid now: not ours to judge, keep
        return True
    except OverflowError:
        return False
    return True


def clean_stale(root: str | None = None) -> list[str]:
    """Remove this user's socket directories whose owning process is gone; the paths removed."""
    base = root if root is not None else tempfile.gettempdir()
    uid, me = os.getuid(), os.getpid()
    removed: list[str] = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        match = _NAME.fullmatch(entry.name)
        if match is None:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid:
            continue  # a symlink, a file, another user's: never followed, never removed
        pid = int(match["pid"])
        if pid == me or _running(pid):
            continue
        # rmtree works on file descriptors here (avoids_symlink_attacks): a directory swapped for a symlink
        # after the check is refused, nothing outside is ever removed.
        if not shutil.rmtree.avoids_symlink_attacks:  # pragma: no cover - not on Linux
            continue
        with contextlib.suppress(OSError):
            shutil.rmtree(entry.path)
            removed.append(entry.path)
    return removed
