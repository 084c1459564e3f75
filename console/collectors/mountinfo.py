"""Parse `/proc/self/mountinfo` (proc(5)): a pure function on the text, no I/O.

One line per mount:

    36 25 0:32 / /mnt/atlas/models ro,relatime shared:17 - nfs4 atlas:/export/models rw,vers=4.2,...
    (1)(2) (3) (4)      (5)          (6)         (7)    (8) (9)       (10)               (11)

mount id, parent id, major:minor, root, mount point, per-mount options, zero or more optional fields ending
at a lone "-", filesystem type, source, per-superblock options. The kernel escapes space, tab, newline and
backslash (and "#" in some fields) in paths as three-digit octal (`\\040` is a space).

Everything else in a path is as the kernel has it: a carriage return, U+2028 or an escape sequence in a
mount point is part of it. So lines are split on `\n` only, a line that cannot be read is set aside on its
own (the rest of the table stands), and every field is passed through `clean_line` (console/text.py) once
unescaped: a snapshot never holds control characters, which show as `\\x0d`, `\\u2028`, ... instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from console.model.mounts import NETWORK_FSTYPES as NETWORK_FSTYPES
from console.model.mounts import NFS_FSTYPES as NFS_FSTYPES
from console.model.mounts import MountEntry as MountEntry
from console.model.mounts import is_network_fstype as is_network_fstype
from console.model.mounts import is_nfs_fstype as is_nfs_fstype
from console.text import clean_line

_OCTAL = re.compile(r"\\([0-7]{3})")
# "host:/path", "[fe80::1]:/path"; not "//host/share" (SMB) nor "/dev/sda1".
_NFS_SOURCE = re.compile(r"^(\[[0-9A-Fa-f:.%\w]+\]|[^:/\s\[\]]+):(/.*)$")


PATH_LIMIT = 4096  # PATH_MAX: a mount point is matched against the inventory, so it is never cut shorter
MAX_MOUNTS = 20_000  # lines read from one table (a busy Kubernetes node has a few thousand)
MAX_OPTIONS = 128  # options kept per field


class MountinfoParseError(ValueError):
    """A line that is not in the mountinfo format. `mount_point`: its fifth field, when it has one."""

    def __init__(self, message: str, mount_point: str | None = None) -> None:
        super().__init__(message)
        self.mount_point = mount_point


@dataclass(frozen=True, slots=True)
class UnreadableLine:
    """A mountinfo line set aside: why, and its mount point when it has that field."""

    reason: str
    mount_point: str | None = None


@dataclass(frozen=True, slots=True)
class Mountinfo:
    """A whole table: the mounts that could be read, and why each line that could not was set aside."""

    entries: tuple[MountEntry, ...]
    unreadable: tuple[UnreadableLine, ...] = ()
    truncated: bool = False  # more than MAX_MOUNTS lines: the rest were not read


def unescape(field: str) -> str:
    """Undo the kernel's octal escapes: `\\040` → space, `\\011` → tab, `\\012` → newline, `\\134` → `\\`."""
    if "\\" not in field:
        return field
    return _OCTAL.sub(lambda match: chr(int(match.group(1), 8)), field)


def split_nfs_source(source: str | None) -> tuple[str, str] | None:
    """`atlas:/export/models` → ("atlas", "/export/models"); `[fd00::10]:/x` → ("fd00::10", "/x")."""
    if not source:
        return None
    match = _NFS_SOURCE.match(source.strip())
    if match is None:
        return None
    return match.group(1).strip("[]"), match.group(2)


def nfs_server_host(source: str | None) -> str | None:
    """The server of an NFS source (`atlas` of `atlas:/export/models`), None for anything else."""
    parts = split_nfs_source(source)
    return None if parts is None else parts[0]


def _field(raw: str, limit: int = PATH_LIMIT) -> str:
    return clean_line(unescape(raw), limit=limit)


def _options(field: str) -> tuple[str, ...]:
    return tuple(_field(option) for option in field.split(",")[:MAX_OPTIONS] if option)


_ID = re.compile(r"[0-9]{1,10}")  # ASCII digits only: int() would also take "²" and "٣"


def parse_mountinfo_line(line: str) -> MountEntry:
    fields = line.split(" ")
    point = _field(fields[4]) if len(fields) > 4 else None
    quoted = clean_line(line, limit=200)
    try:
        separator = fields.index("-", 6)
    except ValueError:
        raise MountinfoParseError(f"no ' - ' separator: {quoted}", point) from None
    after = fields[separator + 1 :]
    if separator < 6 or len(after) < 2:
        raise MountinfoParseError(f"too few fields: {quoted}", point)
    if not (_ID.fullmatch(fields[0]) and _ID.fullmatch(fields[1])):
        raise MountinfoParseError(f"mount ids are not numbers: {quoted}", point)
    return MountEntry(
        mount_id=int(fields[0]),
        parent_id=int(fields[1]),
        major_minor=_field(fields[2], 32),
        root=_field(fields[3]),
        mount_point=_field(fields[4]),
        mount_options=_options(fields[5]),
        optional_fields=tuple(_field(field, 64) for field in fields[6:separator][:MAX_OPTIONS] if field),
        fstype=_field(after[0], 128),
        source=_field(after[1]),
        super_options=_options(after[2]) if len(after) > 2 else (),
    )


def read_mountinfo(text: str) -> Mountinfo:
    """A whole table, line by line: a line that cannot be read is set aside, the others stand.

    Lines end at `\n` only; `\r`, U+2028 and the other characters str.splitlines() would also split on
    belong to the field they are in (the kernel does not escape them).
    """
    entries: list[MountEntry] = []
    unreadable: list[UnreadableLine] = []
    lines = text.split("\n")
    truncated = len(lines) > MAX_MOUNTS + 1 and any(line.strip() for line in lines[MAX_MOUNTS:])
    for line in lines[:MAX_MOUNTS]:
        if not line.strip():
            continue
        try:
            entries.append(parse_mountinfo_line(line))
        except MountinfoParseError as exc:
            unreadable.append(UnreadableLine(str(exc), exc.mount_point))
    return Mountinfo(tuple(entries), tuple(unreadable), truncated)


def parse_mountinfo(text: str) -> tuple[MountEntry, ...]:
    """Every readable mount of a mountinfo text, in the kernel's order (later ones stack on earlier ones)."""
    return read_mountinfo(text).entries


def visible_mounts(entries: tuple[MountEntry, ...]) -> dict[str, MountEntry]:
    """Mount point → the mount a path lookup reaches there: the last one mounted on it (stacked mounts)."""
    return {entry.mount_point: entry for entry in entries}
