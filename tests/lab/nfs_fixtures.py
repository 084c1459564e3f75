"""pytest fixtures of the mount lab (loaded by tests/conftest.py through `pytest_plugins`).

- `nfs_server`: a real nfs-ganesha on 127.0.0.1:2049 (tests/lab/nfs.py) for the session.
- `mount_lab`: a lab sshd node in a private mount namespace with two FUSE mounts that look like NFS to it:
  `<base>/mnt/atlas/models` (ro, `127.0.0.1:/export/models`, fuse.nfs4) and `<base>/mnt/atlas/scratch space`
  (rw, a space in the path and the source). Tests may add more with `mount_lab.mount(...)`.
- `frozen_mount`: a third mount of that node whose daemon is SIGSTOPped before anything touches it: hung.
- `probe_state_dir`: a state directory for the probes' pid files, owned by the lab user, removed afterwards.

Nothing is skipped: where a part cannot run, the tests that use it fail and say why. Teardown kills the FUSE
daemons, unmounts, and fails the test if a probe process of the lab user outlives its mount.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.availability import lab_unavailable
from tests.lab.common import LAB_USER, LabError
from tests.lab.fusefs import FuseMount
from tests.lab.nfs import NfsServer
from tests.lab.node import LabNode
from tests.lab.processes import user_processes
from tests.lab.sshd import SshLab

PROBE_EXIT_TIMEOUT_S = 5.0


def probe_processes(path: str, user: str = LAB_USER) -> list[int]:
    """Live processes of user whose command line names path: mount probes and the shells waiting on them."""
    found = []
    for pid in user_processes(user):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if path.encode() in argv:
            found.append(pid)
    return found


def stat_probes(path: str, user: str = LAB_USER) -> list[int]:
    """Only the `stat -f -- path` processes themselves: what a hung mount leaves behind."""
    found = []
    for pid in probe_processes(path, user):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if argv[:3] == [b"stat", b"-f", b"--"]:
            found.append(pid)
    return found


def wait_no_probes(path: str, timeout: float = PROBE_EXIT_TIMEOUT_S) -> list[int]:
    """Poll until no process of the lab user names path; what is left at the deadline."""
    deadline = time.monotonic() + timeout
    while (left := probe_processes(path)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


class MountLab:
    """A lab node with a mount namespace of its own and the FUSE mounts in it."""

    def __init__(self, node: LabNode, base: Path) -> None:
        self.node = node
        self.base = base  # world-readable: the lab user walks to the mount points through it
        self._mounts: list[FuseMount] = []
        self.models = self.mount("models", fsname="127.0.0.1:/export/models", read_only=True)
        self.scratch = self.mount("scratch space", fsname="127.0.0.1:/export/scratch space")

    def path(self, name: str) -> str:
        return str(self.base / "mnt" / "atlas" / name)

    def mount(self, name: str, *, fsname: str, read_only: bool = False, subtype: str = "nfs4") -> FuseMount:
        mount = FuseMount(
            self.node,
            self.path(name),
            fsname=fsname,
            subtype=subtype,
            read_only=read_only,
            log_path=self.base / f"fuse-{name.replace(' ', '_')}.log",
        )
        self._mounts.append(mount)
        return mount

    def release(self, mount: FuseMount) -> None:
        """Kill and unmount one mount; fail when a probe of it outlives it."""
        mount.close()
        left = wait_no_probes(mount.mountpoint)
        if left:
            raise LabError(f"probe processes of {mount.mountpoint} outlived the mount: {left}")

    def close(self) -> None:
        errors = []
        for mount in reversed(self._mounts):
            try:
                self.release(mount)
            except Exception as exc:  # keep going: every other mount must still go
                errors.append(str(exc))
        if errors:
            raise LabError("; ".join(errors))


@pytest.fixture(scope="session")
def nfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NfsServer]:
    """A real NFS server (nfs-ganesha) on 127.0.0.1:2049, exporting /export/models."""
    try:
        server = NfsServer(tmp_path_factory.mktemp("nfs-server"))
        server.start()
    except LabError as exc:
        lab_unavailable("the NFS server lab", exc)
    with server:
        yield server


@pytest.fixture(scope="session")
def mount_lab(ssh_lab: SshLab) -> Iterator[MountLab]:
    """A node in its own mount namespace with an ro and an rw FUSE mount that pass for NFS."""
    base = Path(tempfile.mkdtemp(prefix="opsconsole-mount-lab-"))
    os.chmod(base, 0o755)
    node = ssh_lab.start_node("nfs1", gpu_capture=None, mount_namespace=True)
    try:
        try:
            lab = MountLab(node, base)
        except LabError as exc:
            lab_unavailable("the FUSE mount lab", exc)
        try:
            yield lab
        finally:
            lab.close()
    finally:
        node.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def frozen_mount(mount_lab: MountLab) -> Iterator[FuseMount]:
    """A mount of mount_lab's node whose FUSE daemon is stopped: every statfs of it blocks."""
    mount = mount_lab.mount("frozen", fsname="127.0.0.1:/export/frozen", read_only=True)
    try:
        mount.freeze()  # before anything touches it: requests stay queued, their callers killable
        yield mount
    finally:
        mount_lab.release(mount)


@pytest.fixture
def probe_state_dir(mount_lab: MountLab) -> Iterator[str]:
    """Where the node keeps probe pid files: a fresh directory of the lab user's, mode 0700."""
    path = tempfile.mkdtemp(prefix="state-", dir=mount_lab.base)
    user = pwd.getpwnam(LAB_USER)
    os.chown(path, user.pw_uid, user.pw_gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)
