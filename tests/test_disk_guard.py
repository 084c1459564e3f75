"""Disk use never stats a network path: the node's own mount table decides, inventory or not."""

from __future__ import annotations

import time

from console.collectors.basics import local_only
from console.streams.basics_shell import BasicsStream
from console.transport import LocalTransport, SSHTransport
from tests.lab.fusefs import FuseMount
from tests.lab.models import lab_node_model
from tests.lab.nfs_fixtures import MountLab, probe_processes
from tests.lab.sshd import SshLab

MOUNTINFO = "\n".join(
    [
        "22 1 0:21 / / rw,relatime - ext4 /dev/sda1 rw",
        "36 22 0:32 / /mnt/atlas rw,relatime shared:17 - nfs4 atlas:/export rw,vers=4.2",
        "37 36 8:2 / /mnt/atlas/local rw,relatime - xfs /dev/sdb1 rw",
        r"38 22 0:40 / /mnt/odd\040name rw - fuse.sshfs me@box:/x rw",
    ]
)


def test_paths_on_network_mounts_are_refused_by_the_mount_table() -> None:
    paths = ("/", "/scratch", "/mnt/atlas", "/mnt/atlas/jobs", "/mnt/atlas/local/tmp", "/mnt/odd name/a")
    local, refused = local_only(paths, MOUNTINFO)
    assert local == ("/", "/scratch", "/mnt/atlas/local/tmp")  # a local disk mounted under NFS is local
    assert set(refused) == {"/mnt/atlas", "/mnt/atlas/jobs", "/mnt/odd name/a"}
    assert refused["/mnt/atlas/jobs"].error == (
        "on a network mount (nfs4 atlas:/export): not statted, statfs there can hang"
    )
    assert refused["/mnt/odd name/a"].fstype == "fuse.sshfs"


def test_without_a_mount_table_nothing_is_statted() -> None:
    local, refused = local_only(("/", "/scratch"), None)
    assert local == ()
    assert all(disk.error and "mount table not read" in disk.error for disk in refused.values())


async def test_a_hung_nfs_mount_outside_the_inventory_is_never_statted(
    ssh_lab: SshLab, mount_lab: MountLab, frozen_mount: FuseMount
) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, mount_lab.node))
    paths = ("/", frozen_mount.mountpoint, f"{frozen_mount.mountpoint}/jobs", mount_lab.scratch.mountpoint)
    stream = BasicsStream(transport, disks=paths, disk_every=3600)
    started = time.monotonic()
    try:
        basics = await stream.read(wait_disks=True)
        took = time.monotonic() - started
        left = probe_processes(frozen_mount.mountpoint)
    finally:
        await stream.close()
        await transport.close()
    root, frozen, below, scratch = basics.disks
    assert root.error is None
    assert root.used_pct is not None
    assert frozen.error == (
        "on a network mount (fuse.nfs4 127.0.0.1:/export/frozen): not statted, statfs there can hang"
    )
    assert below.error == frozen.error
    assert scratch.fstype == "fuse.nfs4"  # "scratch space": the kernel's \040 read back as a space
    assert scratch.error is not None
    assert left == []  # no statfs of it was ever started on the node
    assert took < 3.0  # the remote stat timeout (3 s) was never waited for
    assert stream.starts == 1  # the mount table came through the kept shell


async def test_a_local_node_reads_its_own_mount_table() -> None:
    stream = BasicsStream(LocalTransport("here"), disks=("/", "/proc/self"), disk_every=3600)
    basics = await stream.read(wait_disks=True)
    root, proc = basics.disks
    assert root.error is None
    assert proc.error is None  # procfs is local: statted
