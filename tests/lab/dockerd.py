"""REAL Docker Engines for the docker lab: `dockerd` processes, each in a network namespace of its own.

Each daemon runs under `unshare --net`, so its docker0 bridge, its 172.17.0.0/16 address and the ports it
publishes (127.0.0.1:18080, 0.0.0.0:18081, the TCP API on 2375) exist only inside a namespace this lab created
and never on the machine itself; two labs (or two sessions) never fight over docker0. Its unix sockets live in
a 0755 directory outside /root and pytest's 0700 temp root, group-owned by the lab user's group (`--group`),
so the lab's SSH user reaches them through sshd exactly as an operator's user reaches /var/run/docker.sock.

Teardown is thorough even after a crash: SIGTERM (SIGKILL after a deadline), then every leftover process
whose command line names this daemon's directories (containerd, shims) with its children, then every mount
below those directories, deepest first, then the directories.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.lab.common import LabError
from tests.lab.processes import _kill_parent_death_signal, _signal, kill_tree_below

DOCKERD = "/usr/sbin/dockerd"
BUSYBOX = "/bin/busybox"  # busybox-static: runs in an image with nothing else in it
APPLETS = ("sh", "httpd", "sleep", "echo", "cat", "true", "false", "wget", "ls", "ps", "env", "id")
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
_POLL_S = 0.02


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def docker_cli() -> str:
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise LabError("the docker CLI is missing (apt-get install docker.io)")


class Dockerd:
    """One real dockerd: `start()`, `wait_ready()`, then `api()`/`cli()`; `stop()` undoes everything."""

    def __init__(
        self,
        name: str,
        *,
        state_dir: Path,
        public_dir: Path,
        group: str,
        config: dict[str, Any] | None = None,
        hosts: tuple[str, ...] | None = None,
    ) -> None:
        self.name = name
        self.state_dir = state_dir  # root only: data root, logs
        self.public_dir = public_dir  # 0755: the sockets, daemon.json, the exec root (short paths)
        self.group = group
        self.socket = public_dir / "docker.sock"
        self.data_root = state_dir / "data"
        self.exec_root = public_dir / "exec"
        self.pid_file = public_dir / "dockerd.pid"
        # 0644 like /etc/docker/daemon.json: the collector reads it on the node, as the SSH user.
        self.config_file = public_dir / "daemon.json"
        self.log_path = state_dir / "dockerd.log"
        # Without a key path dockerd 20.10 writes its trust key to /etc/docker/key.json: keep it ours.
        self.config = {"deprecated-key-path": str(state_dir / "key.json"), **(config or {})}
        # Hosts go on the command line unless the config names them (dockerd refuses both at once).
        self.hosts = (
            hosts if hosts is not None else (() if "hosts" in self.config else (f"unix://{self.socket}",))
        )
        self.process: subprocess.Popen[bytes] | None = None
        self._stopped = False

    @property
    def pid(self) -> int:
        if self.process is None:
            raise LabError(f"dockerd {self.name} was never started")
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self) -> list[str]:
        command = [DOCKERD, "--config-file", str(self.config_file)]
        for host in self.hosts:
            command += ["--host", host]
        command += [
            "--data-root", str(self.data_root),
            "--exec-root", str(self.exec_root),
            "--pidfile", str(self.pid_file),
            "--group", self.group,
            "--iptables=false",  # docker-proxy publishes; no rules, and in our own namespace anyway
            "--ip-masq=false",
            "--shutdown-timeout", "2",
        ]  # fmt: skip
        return command

    def start(self) -> None:
        for path in (self.state_dir, self.data_root):
            path.mkdir(parents=True, exist_ok=True)
        # Its own tmpfs: dockerd would otherwise bind-mount the data root onto itself (a mount that
        # os.path.ismount cannot see, which confuses other tests reading the live mountinfo), and no layer
        # ever touches the disk.
        mount = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=512m,mode=0711", "opsconsole-docker", str(self.data_root)],
            capture_output=True,
            text=True,
            check=False,
        )
        if mount.returncode != 0:
            raise LabError(f"cannot mount a tmpfs for dockerd {self.name}: {mount.stderr.strip()}")
        self.public_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.public_dir, 0o755)
        self.config_file.write_text(json.dumps(self.config, indent=2) + "\n", encoding="utf-8")
        os.chmod(self.config_file, 0o644)
        # Loopback must be up inside the new namespace: docker-proxy binds 127.0.0.1 there.
        script = 'ip link set lo up && exec "$@"'
        in_main_thread = threading.current_thread() is threading.main_thread()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                ["unshare", "--net", "--", "sh", "-c", script, "dockerd", *self.command()],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=_kill_parent_death_signal if in_main_thread else None,
            )

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return ""

    def wait_ready(self) -> None:
        """Poll `GET /_ping` on the unix socket until it answers OK (dockerd is ready in about 0.3 s)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no attempt"
        while time.monotonic() < deadline:
            if not self.running:
                code = self.process.returncode if self.process is not None else None
                raise LabError(f"dockerd {self.name} exited ({code}):\n{self.log()}")
            try:
                status, body = self.request("GET", "/_ping", timeout=1.0)
                if status == 200 and body == b"OK":
                    return
                last = f"HTTP {status}"
            except OSError as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(_POLL_S)
        raise LabError(f"dockerd {self.name} not ready within {READY_TIMEOUT_S:.0f}s ({last}):\n{self.log()}")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        timeout: float = 10.0,
        socket_path: str | None = None,
    ) -> tuple[int, bytes]:
        connection = _UnixHTTPConnection(socket_path or str(self.socket), timeout)
        try:
            payload = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"} if payload is not None else {}
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """One Engine API call over the unix socket; raises LabError on an HTTP error."""
        status, data = self.request(method, path, body)
        if status >= 400:
            raise LabError(f"dockerd {self.name}: {method} {path} -> HTTP {status}: {data[:300]!r}")
        return json.loads(data) if data else None

    def inspect(self, container: str) -> dict[str, Any]:
        result: dict[str, Any] = self.api("GET", f"/containers/{container}/json")
        return result

    def cli(self, *args: str, stdin: bytes | None = None, timeout: float = 60.0) -> str:
        """Run the docker CLI against this daemon's unix socket (never TCP)."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DOCKER_CONFIG": str(self.state_dir / "cli")}
        result = subprocess.run(
            [docker_cli(), "-H", f"unix://{self.socket}", *args],
            input=stdin,
            capture_output=True,
            timeout=timeout,
            env=env,
            check=False,
        )
        if result.returncode != 0:
            raise LabError(f"docker {' '.join(args)} failed ({result.returncode}): {result.stderr.decode()}")
        return result.stdout.decode()

    def import_busybox(self, image: str) -> None:
        """`docker import` an image whose rootfs is busybox-static plus applet links and a web root."""
        rootfs = self.state_dir / "rootfs"
        for sub in ("bin", "www", "tmp", "etc", "proc", "sys", "dev"):
            (rootfs / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
        for applet in APPLETS:
            link = rootfs / "bin" / applet
            if not link.is_symlink():
                link.symlink_to("busybox")
        (rootfs / "www" / "index.html").write_text("opsconsole lab\n", encoding="utf-8")
        tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True)
        self.cli("import", "-", image, stdin=tar.stdout)

    def stop(self) -> None:
        """Stop dockerd and everything it left behind: processes, mounts, directories. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        errors: list[str] = []
        if self.process is not None and self.running:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                kill_tree_below(self.process.pid)
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)
        roots = (str(self.data_root), str(self.exec_root))
        for pid in _processes_naming(roots):  # containerd and shims a killed dockerd orphaned
            kill_tree_below(pid)
            _signal(pid, signal.SIGKILL)
        for mount_point in _mounts_below(roots):
            result = subprocess.run(
                ["umount", "-l", mount_point], capture_output=True, text=True, check=False
            )
            if result.returncode != 0 and mount_point in _mounts_below(roots):
                errors.append(f"umount {mount_point}: {result.stderr.strip()}")
        for path in (self.public_dir, self.data_root):
            shutil.rmtree(path, ignore_errors=True)
        if errors:
            raise LabError(f"dockerd {self.name} teardown: " + "; ".join(errors))


def _processes_naming(roots: tuple[str, ...]) -> list[int]:
    found: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                cmdline = fh.read().decode("utf-8", "replace")
            if any(root in cmdline for root in roots):
                found.append(int(entry.name))
    return found


def _mounts_below(roots: tuple[str, ...]) -> list[str]:
    """Mount points under any of roots, deepest first (mountinfo escapes spaces as \\040)."""
    points: list[str] = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            fields = line.split()
            if len(fields) < 5:
                continue
            point = fields[4].replace("\\040", " ")
            if any(point == root or point.startswith(root + "/") for root in roots):
                points.append(point)
    return sorted(set(points), key=lambda point: point.count("/"), reverse=True)
