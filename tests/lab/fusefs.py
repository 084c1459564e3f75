"""A FUSE filesystem that looks like an NFS mount to the node; SIGSTOP its daemon and the mount is truly hung.

The daemon (libfuse2 through fusepy) runs as root inside a lab node's private mount namespace (the node's
sshd started with `mount_namespace=True`), mounted with `fsname=<host:/export>` and `subtype=nfs4`, so that
node's /proc/self/mountinfo shows `fuse.nfs4 host:/export` and no other node sees it. `allow_other` lets the
lab user's sessions stat it.

Frozen with SIGSTOP, every statfs of the mount waits in the kernel for an answer that does not come: what a
hard NFS mount whose server died does. The requests stay queued, unread, so the callers stay killable and
SIGKILLing the daemon (which aborts the connection: the callers get ENOTCONN) ends them. Freeze before
anything touches the mount, never while a request is being served (LAB-NOTES: a request the daemon read and
then froze on can pin its caller in D state).

    python -m tests.lab.fusefs MOUNTPOINT --fsname 127.0.0.1:/export/models [--subtype nfs4] [--ro]
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from console.collectors.mountinfo import MountEntry, parse_mountinfo, visible_mounts
from tests.lab.common import _PR_SET_PDEATHSIG, LabError
from tests.lab.daemon import ns_argv, ns_exec
from tests.lab.node import LabNode

REPO_ROOT = Path(__file__).resolve().parents[2]
README = b"A lab export that stands in for an NFS dataset.\n"
READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL the daemon when the thread that started it dies (pytest killed hard)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def in_private_mount_namespace(pid: int) -> bool:
    """Whether process pid lives in a mount namespace other than ours."""
    return os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")


def namespace_mounts(pid: int) -> dict[str, MountEntry]:
    """Mount point → mount, as process pid (a node's sshd) sees them."""
    with open(f"/proc/{pid}/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
        return visible_mounts(parse_mountinfo(fh.read()))


def _thread_states(pid: int) -> list[str]:
    states = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/stat", encoding="ascii", errors="replace") as fh:
                states.append(fh.read().rsplit(")", 1)[-1].split()[0])
        except OSError:
            continue
    return states


class FuseMount:
    """One FUSE daemon mounted in a lab node's mount namespace. close() unmounts it; idempotent."""

    def __init__(
        self,
        node: LabNode,
        mountpoint: str | os.PathLike[str],
        *,
        fsname: str,
        subtype: str = "nfs4",
        read_only: bool = False,
        log_path: str | os.PathLike[str],
    ) -> None:
        if not node.running:
            raise LabError(f"lab node {node.name} is not running")
        if not in_private_mount_namespace(node.process.pid):
            raise LabError(
                f"lab node {node.name} has no private mount namespace (start_node(mount_namespace=True))"
            )
        if "," in fsname:
            raise ValueError("a FUSE fsname cannot hold a comma")
        self.node = node
        self.ns_pid = node.process.pid
        self.mountpoint = str(mountpoint)
        self.fsname = fsname
        self.subtype = subtype
        self.read_only = read_only
        self.log_path = Path(log_path)
        self._closed = False
        Path(self.mountpoint).mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(self.mountpoint, 0o755)
        argv = [sys.executable, "-m", "tests.lab.fusefs", self.mountpoint, "--fsname", fsname]
        argv += ["--subtype", subtype] + (["--ro"] if read_only else [])
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}  # entering the namespace resets the cwd to /
        # SIGKILL, not SIGTERM, when pytest dies: a stopped daemon would never act on a SIGTERM.
        # A parent-death signal is tied to the thread that starts the child: only safe from the main thread.
        in_main_thread = threading.current_thread() is threading.main_thread()
        with open(self.log_path, "ab") as log:
            # nsenter execs the daemon, so this pid is the FUSE daemon's, the one freeze() stops.
            self.process = subprocess.Popen(
                ns_argv(self.ns_pid, argv),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=_die_with_parent if in_main_thread else None,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int:
        return self.process.pid

    def entry(self) -> MountEntry | None:
        """The mount as the node sees it, None when it is not mounted (or the node is gone)."""
        try:
            return namespace_mounts(self.ns_pid).get(self.mountpoint)
        except OSError:
            return None

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while (entry := self.entry()) is None or entry.fstype != f"fuse.{self.subtype}":
            if self.process.poll() is not None:
                raise LabError(
                    f"FUSE daemon for {self.mountpoint} exited {self.process.returncode}: {self.log()}"
                )
            if time.monotonic() > deadline:
                raise LabError(
                    f"FUSE mount {self.mountpoint} did not appear in {READY_TIMEOUT_S:g}s: {self.log()}"
                )
            time.sleep(0.01)
        # The daemon has answered INIT and serves requests: a statfs comes back.
        left = max(0.5, deadline - time.monotonic())
        result = ns_exec(self.ns_pid, ["stat", "-f", "--", self.mountpoint], timeout=left)
        if result.returncode != 0:
            raise LabError(
                f"statfs of the fresh FUSE mount {self.mountpoint} failed: {result.stderr.strip()}"
            )

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        except OSError:
            return ""

    def freeze(self) -> None:
        """SIGSTOP the daemon, and return once every thread of it has stopped: the mount hangs."""
        os.kill(self.pid, signal.SIGSTOP)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while not all(state == "T" for state in _thread_states(self.pid)):
            if time.monotonic() > deadline:
                raise LabError(f"FUSE daemon {self.pid} did not stop: {_thread_states(self.pid)}")
            time.sleep(0.005)

    def thaw(self) -> None:
        """SIGCONT the daemon: the queued requests are answered."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGCONT)

    def close(self) -> None:
        """SIGKILL the daemon (its queued callers get ENOTCONN), then `umount -l` in the namespace."""
        if self._closed:
            return
        self._closed = True
        if self.process.poll() is None:
            self.process.kill()  # a stopped process dies of SIGKILL too
        self.process.wait(timeout=STOP_TIMEOUT_S)
        if self.node.running and self.entry() is not None:
            result = ns_exec(self.ns_pid, ["umount", "-l", "--", self.mountpoint], timeout=STOP_TIMEOUT_S)
            if result.returncode != 0 and self.entry() is not None:
                raise LabError(f"umount -l {self.mountpoint} failed: {result.stderr.strip()}")


def _filesystem(read_only: bool) -> Any:
    # fusepy loads libfuse2 on import: only the daemon imports it, never pytest's collection.
    from fuse import FuseOSError, Operations  # type: ignore[import-untyped]

    class ExportFs(Operations):  # type: ignore[misc]
        """One directory holding one README; statfs answers with a plausible export."""

        use_ns = True

        def getattr(self, path: str, fh: int | None = None) -> dict[str, int]:
            now = time.time_ns()
            if path == "/":
                mode = stat.S_IFDIR | (0o555 if read_only else 0o755)
                return {"st_mode": mode, "st_nlink": 2, "st_atime": now, "st_mtime": now, "st_ctime": now}
            if path == "/README":
                attrs = {"st_mode": stat.S_IFREG | 0o444, "st_nlink": 1, "st_size": len(README)}
                return attrs | {"st_atime": now, "st_mtime": now, "st_ctime": now}
            raise FuseOSError(errno.ENOENT)

        def readdir(self, path: str, fh: int) -> list[str]:
            return [".", "..", "README"]

        def open(self, path: str, flags: int) -> int:
            return 0

        def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
            return README[offset : offset + size]

        def statfs(self, path: str) -> dict[str, int]:
            blocks = 1 << 28  # 1 TiB of 4 KiB blocks
            return {
                "f_bsize": 4096,
                "f_frsize": 4096,
                "f_blocks": blocks,
                "f_bfree": blocks // 3,
                "f_bavail": blocks // 3,
                "f_files": 1 << 20,
                "f_ffree": 1 << 19,
                "f_namemax": 255,
            }

    return ExportFs()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mountpoint")
    parser.add_argument("--fsname", required=True)
    parser.add_argument("--subtype", default="nfs4")
    parser.add_argument("--ro", action="store_true")
    args = parser.parse_args(argv)
    from fuse import FUSE  # type: ignore[import-untyped]

    options: dict[str, Any] = {"fsname": args.fsname, "subtype": args.subtype, "allow_other": True}
    if args.ro:
        options["ro"] = True
    FUSE(_filesystem(args.ro), args.mountpoint, foreground=True, **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
