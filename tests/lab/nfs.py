"""A REAL NFS server on 127.0.0.1 for the mount tests: Debian's nfs-ganesha (VFS backend) with rpcbind.

ganesha serves NFSv3 and v4 over TCP on 127.0.0.1:2049, exporting a temp directory (pseudo path
/export/models); `rpcinfo -T tcp 127.0.0.1 nfs` and `showmount -e 127.0.0.1` answer. It needs rpcbind even
for v4: we start `rpcbind -f` (never `-h 127.0.0.1`: it crashes) unless one already answers on port 111, and
stop only the one we started. `NFSv4 { Graceless = true; }`, or opens fail for 90 s after a start.
This kernel cannot mount NFS, so the mounts the node sees are FUSE (tests/lab/fusefs.py); the server is what
`nfs.server` checks: up → reachable, stopped → unreachable (connection refused).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from tests.lab.common import LabError
from tests.lab.processes import _kill_parent_death_signal

GANESHA = "/usr/bin/ganesha.nfsd"
RPCBIND = "/usr/sbin/rpcbind"
RPCINFO = "/usr/sbin/rpcinfo"
SHOWMOUNT = "/usr/sbin/showmount"
NFS_PORT = 2049
RPCBIND_PORT = 111
READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0

_CONFIG = """\
NFS_CORE_PARAM {{
    Bind_addr = {host};
    Protocols = 3, 4;
    Enable_NLM = false;
    Enable_RQUOTA = false;
}}
NFSv4 {{
    Graceless = true;
    RecoveryBackend = fs;
    RecoveryRoot = {recovery};
}}
EXPORT {{
    Export_Id = 1;
    Path = {export};
    Pseudo = {pseudo};
    Access_Type = RO;
    Squash = No_Root_Squash;
    SecType = sys;
    Protocols = 3, 4;
    Transports = TCP;
    FSAL {{ Name = VFS; }}
}}
"""


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _who_listens(port: int) -> str:
    result = subprocess.run(
        ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=5, check=False
    )
    return " ".join(result.stdout.split())[:300] or "unknown process"


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)


class NfsServer:
    """ganesha.nfsd (+ rpcbind when none runs) on 127.0.0.1. start()/stop() any number of times; close()."""

    def __init__(
        self, base_dir: str | os.PathLike[str], *, host: str = "127.0.0.1", pseudo: str = "/export/models"
    ):
        for tool in (GANESHA, RPCBIND, RPCINFO, SHOWMOUNT):
            if not os.access(tool, os.X_OK):
                raise LabError(
                    f"{tool} not found: the NFS lab needs nfs-ganesha, nfs-ganesha-vfs, rpcbind, nfs-common"
                )
        self.host = host
        self.pseudo = pseudo
        self.base_dir = Path(base_dir).resolve()  # ganesha wants absolute paths
        self.export_dir = self.base_dir / "export"
        self.export_dir.mkdir(parents=True, exist_ok=True)
        (self.export_dir / "README").write_text("served by the lab's nfs-ganesha\n", encoding="utf-8")
        (self.base_dir / "recovery").mkdir(exist_ok=True)
        self.config_path = self.base_dir / "ganesha.conf"
        self.config_path.write_text(
            _CONFIG.format(
                host=host, recovery=self.base_dir / "recovery", export=self.export_dir, pseudo=pseudo
            ),
            encoding="utf-8",
        )
        self.log_path = self.base_dir / "ganesha.log"
        self._ganesha: subprocess.Popen[bytes] | None = None
        self._rpcbind: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> NfsServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._ganesha is not None and self._ganesha.poll() is None

    @property
    def source(self) -> str:
        """What a client would mount: `127.0.0.1:/export/models` (NFSv4 pseudo path)."""
        return f"{self.host}:{self.pseudo}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        except OSError:
            return ""

    def _ensure_rpcbind(self) -> None:
        if _listening("127.0.0.1", RPCBIND_PORT):
            return  # one already runs (ours from before, or the machine's): ganesha registers with it
        with open(self.base_dir / "rpcbind.log", "ab") as log:
            self._rpcbind = subprocess.Popen(
                [RPCBIND, "-f"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=_kill_parent_death_signal,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _listening("127.0.0.1", RPCBIND_PORT):
            if self._rpcbind.poll() is not None or time.monotonic() > deadline:
                raise LabError(f"rpcbind did not come up (exit {self._rpcbind.poll()})")
            time.sleep(0.01)

    def start(self) -> None:
        """Start ganesha; return once rpcinfo and showmount see the export."""
        if self.running:
            return
        if _listening(self.host, NFS_PORT):
            raise LabError(
                f"port {NFS_PORT} on {self.host} is taken, ganesha cannot bind it: {_who_listens(NFS_PORT)}"
            )
        self._ensure_rpcbind()
        with open(self.log_path, "ab") as log:
            self._ganesha = subprocess.Popen(
                [
                    GANESHA,
                    "-F",
                    "-f",
                    str(self.config_path),
                    "-L",
                    str(self.log_path),
                    "-N",
                    "NIV_EVENT",
                    "-p",
                    str(self.base_dir / "ganesha.pid"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=_kill_parent_death_signal,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = ""
        while True:
            if self._ganesha.poll() is not None:
                raise LabError(f"ganesha exited {self._ganesha.returncode}:\n{self.log()}")
            rpcinfo = _run([RPCINFO, "-T", "tcp", self.host, "nfs"])
            if rpcinfo.returncode == 0:
                exports = _run([SHOWMOUNT, "-e", "--no-headers", self.host])
                if str(self.export_dir) in exports.stdout.split():
                    return
                last = exports.stdout + exports.stderr
            else:
                last = rpcinfo.stdout + rpcinfo.stderr
            if time.monotonic() > deadline:
                self.stop()
                raise LabError(f"ganesha not ready in {READY_TIMEOUT_S:g}s ({last.strip()}):\n{self.log()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop ganesha (SIGTERM, then SIGKILL); return once port 2049 refuses connections."""
        process, self._ganesha = self._ganesha, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_S)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _listening(self.host, NFS_PORT):
            if time.monotonic() > deadline:
                raise LabError(
                    f"port {NFS_PORT} still answers after ganesha stopped: {_who_listens(NFS_PORT)}"
                )
            time.sleep(0.01)

    def close(self) -> None:
        """Stop ganesha and the rpcbind we started; the caller removes base_dir."""
        try:
            self.stop()
        finally:
            rpcbind, self._rpcbind = self._rpcbind, None
            if rpcbind is not None and rpcbind.poll() is None:
                rpcbind.terminate()
                try:
                    rpcbind.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    rpcbind.kill()
                    rpcbind.wait(timeout=STOP_TIMEOUT_S)
