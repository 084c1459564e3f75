"""The mounts section's snapshot: each inventory mount as the node has it, its NFS servers, and the network
mounts the inventory does not list, from one poll; with one line of the node's mount table (`MountEntry`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from console.model.inventory import MountMode, MountSpec

# Filesystems whose data lives on another machine: a dead server can hang every process that touches them.
NETWORK_FSTYPES = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ceph",
        "glusterfs",
        "lustre",
        "beegfs",
        "gpfs",
        "afs",
        "davfs",
        "fuse.sshfs",
        "fuse.glusterfs",
        "fuse.ceph",
        "fuse.ceph-fuse",
        "fuse.s3fs",
        "fuse.rclone",
        "fuse.juicefs",
        "fuse.gcsfuse",
        "fuse.mount-s3",
        "fuse.davfs",
    }
)
NFS_FSTYPES = frozenset({"nfs", "nfs4"})

Responsive = Literal["ok", "hung", "error"]
Reachability = Literal["reachable", "unreachable"]


def is_nfs_fstype(fstype: str) -> bool:
    """nfs, nfs4, and FUSE filesystems that present themselves as NFS (fuse.nfs4, fuse.nfs)."""
    return fstype in NFS_FSTYPES or fstype.startswith("fuse.nfs")


def is_network_fstype(fstype: str) -> bool:
    return fstype in NETWORK_FSTYPES or is_nfs_fstype(fstype)


@dataclass(frozen=True, slots=True)
class MountEntry:
    """One line of mountinfo, unescaped."""

    mount_id: int
    parent_id: int
    major_minor: str
    root: str
    mount_point: str
    mount_options: tuple[str, ...]
    fstype: str
    source: str
    super_options: tuple[str, ...]
    optional_fields: tuple[str, ...] = ()  # shared:N, master:N, propagate_from:N, unbindable

    @property
    def mode(self) -> MountMode | None:
        """ro/rw from the per-mount options (a bind mount can be ro over an rw superblock)."""
        if "ro" in self.mount_options:
            return "ro"
        if "rw" in self.mount_options:
            return "rw"
        return None

    @property
    def is_network(self) -> bool:
        return is_network_fstype(self.fstype)

    def super_option(self, name: str) -> str | None:
        """The value of `name=value` among the superblock options (vers, addr, proto, ...), or None."""
        prefix = name + "="
        for option in self.super_options:
            if option.startswith(prefix):
                return option[len(prefix) :]
        return None


@dataclass(frozen=True, slots=True)
class MountStatus:
    """One inventory mount as the node has it. None: not known (not mounted, not probed, nothing asked)."""

    spec: MountSpec
    entry: MountEntry | None = None  # None: nothing is mounted at spec.path
    source_ok: bool | None = None  # None: the inventory names no source (or not mounted)
    fstype_ok: bool | None = None
    mode: MountMode | None = None  # what it is mounted as
    mode_ok: bool | None = None  # None: the inventory names no mode (or not mounted)
    responsive: Responsive | None = None  # None: not probed (not mounted, or the probe could not run)
    latency_s: float | None = None  # measured on the node: starting `stat -f` until it answered
    probe_detail: str | None = None  # why not ok: the error, or how long an earlier probe has been stuck
    fatal: bool = False  # the error makes the mount unusable (stale handle, I/O error, endpoint gone)
    server: Reachability | None = None  # None: not an NFS source, or not asked
    server_detail: str | None = None
    # The mount table has a line for this path that could not be read: "not mounted" is not known then.
    unreadable: str | None = None

    @property
    def present(self) -> bool:
        return self.entry is not None


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """An NFS server as the node sees it: can the node open TCP port 2049 on it?"""

    host: str
    state: Reachability | None  # None: not checked (the node itself could not be asked)
    detail: str | None = None  # why not, or what rpcinfo / showmount said
    connect_s: float | None = None


@dataclass(frozen=True, slots=True)
class MountsSnapshot:
    """Every inventory mount of one node from one poll, plus network mounts the inventory does not list."""

    node: str
    taken_at: datetime
    mounts: tuple[MountStatus, ...] = ()
    extra_network_mounts: tuple[MountEntry, ...] = ()
    servers: tuple[ServerStatus, ...] = ()
    error: str | None = None  # the mount table could not be read: nothing else is known
    duration_s: float | None = None
    # Lines of the table that could not be read (at most mounts.MAX_NOTED, cleaned), and how many there were.
    unreadable_lines: tuple[str, ...] = ()
    unreadable_count: int = 0
    truncated: bool = False  # the table had more than mountinfo.MAX_MOUNTS lines: the rest were not read
