"""The one way this program replaces a local file: a reader sees the old file or the new one, never half.

A temp file is created beside the target (same filesystem, so the rename is atomic) with O_EXCL|O_NOFOLLOW
(nothing planted at the temp name is written through), filled, fsync'd, given its mode, then renamed over
the target. The rename replaces whatever is at the target's name: a symlink there is replaced by the new
file, never followed, so a link planted where a report or a setting goes cannot redirect the write.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

_TEMP_TRIES = 16


def _existing_mode(target: Path) -> int | None:
    """The permission bits of the regular file being replaced (a symlink or nothing there: None)."""
    try:
        info = os.lstat(target)
    except OSError:
        return None
    return stat.S_IMODE(info.st_mode) if stat.S_ISREG(info.st_mode) else None


def _create_temp(target: Path, create_mode: int) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(_TEMP_TRIES):
        temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temp, flags, create_mode), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")


def write_atomically(
    path: str | os.PathLike[str], data: str | bytes, *, mode: int | None = None, default_mode: int = 0o666
) -> None:
    """Replace `path` with `data` (str is written as UTF-8).

    `mode` sets the new file's permission bits exactly (the umask does not apply). Without it the file
    keeps the mode of the regular file it replaces, and a new one gets `default_mode` less the umask, as
    `open()` would. The directory must exist. Raises OSError; the temp file never outlives a failure.
    """
    target = Path(path)
    content = data.encode("utf-8") if isinstance(data, str) else data
    bits = mode if mode is not None else _existing_mode(target)
    handle, temp = _create_temp(target, default_mode)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            if bits is not None:
                os.fchmod(out.fileno(), bits)
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _sync_directory(target.parent)


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable; a filesystem that cannot fsync a directory is not an error."""
    with contextlib.suppress(OSError):
        handle = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)
