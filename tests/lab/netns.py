"""N real sshd hosts, each in a network namespace of its own, on a private bridge inside a hub namespace.

    hub namespace: br0 10.222.0.1/16 ── vI (veth) ── host namespace I: eth0 10.222.x.y/16, sshd on :22

Addresses 10.222.x.y exist only inside the namespaces made here; nothing is routed to or from the machine's
own network. A client reaches the hosts from inside the hub: `with fleet.enter():` moves the calling thread
there (sockets it opens stay there); a subprocess started inside inherits it (OpenSSH, ansible).

Every host's sshd runs, as the lab's non-root user logs in, inside ONE pid namespace whose init (a tiny
Python reaper, pid 1 there) also answers `spawned()`: the namespace's last allocated pid, so the number of
processes the hosts started between two readings is exact, short-lived ones included (process accounting
without the kernel's acct). Killing that init makes the kernel kill every process of the hosts at once.

Credentials come from an SshLab (its user, client key and authorized_keys); the nvidia-smi replay is
installed once for all hosts, with its no-fork switch on by default (no `sleep` process per row).
`close()` (also at exit) kills the namespace's processes and deletes every namespace; idempotent.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncssh

from console.inventory.model import Node, SSHSettings
from tests.lab.common import SSHD, LabError
from tests.lab.daemon import install_replay, sshd_config_at
from tests.lab.keys import _write_atomic, _write_private, public_key_line
from tests.lab.sshd import SshLab

CLONE_NEWNET = 0x40000000
SUBNET = "10.222"
HUB_ADDRESS = f"{SUBNET}.0.1"
READY_TIMEOUT_S = 60.0
_counter = itertools.count()

# pid 1 of the hosts' pid namespace: reaps orphans; answers each stdin line with the namespace's last pid.
INIT = r"""
import os, sys, threading, time
def reap():
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            time.sleep(0.05)
threading.Thread(target=reap, daemon=True).start()
print("ready", flush=True)
for _ in sys.stdin:
    with open("/proc/sys/kernel/ns_last_pid") as f:
        print(f.read().strip(), flush=True)
"""


def address(index: int) -> str:
    """Host `index` (0-based): 10.222.0.2, 10.222.0.3, ...; 10.222.0.1 is the hub's bridge."""
    number = index + 2
    return f"{SUBNET}.{number // 256}.{number % 256}"


@dataclass(frozen=True, slots=True)
class NetnsHost:
    name: str
    netns: str
    host: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]  # nsenter, parent of this host's sshd


def _ip_batch(lines: list[str], netns: str | None = None) -> None:
    argv = ["ip", *(["-n", netns] if netns else []), "-batch", "-"]
    done = subprocess.run(argv, input="\n".join(lines) + "\n", capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed: {done.stderr.strip()[:500]}")


class NetnsFleet:
    """`count` sshd hosts in network namespaces; use as a context manager or call close()."""

    def __init__(
        self,
        lab: SshLab,
        count: int,
        *,
        gpu_capture: str | None = "idle",
        nofork: bool = True,
        max_sessions: int | None = None,
    ) -> None:
        if count < 1 or count > 60000:
            raise ValueError("count must be between 1 and 60000")
        self.lab = lab
        self.prefix = f"ocl{os.getpid()}x{next(_counter)}"
        self.hub = f"{self.prefix}-hub"
        self.dir = Path(tempfile.mkdtemp(prefix=f"opsconsole-netns-{self.prefix}-"))
        self.public_dir = Path(tempfile.mkdtemp(prefix="opsconsole-netns-public-"))
        os.chmod(self.public_dir, 0o755)
        self.known_hosts_path = self.dir / "known_hosts"
        self.hosts: list[NetnsHost] = []
        self._namespaces: list[str] = []
        self._init: subprocess.Popen[str] | None = None
        self._closed = False
        atexit.register(self.close)
        try:
            self.bin_dir = self.public_dir / "bin"
            self.bin_dir.mkdir()
            os.chmod(self.bin_dir, 0o755)
            if gpu_capture is not None:
                install_replay(self.public_dir, gpu_capture)
                if nofork:
                    _write_atomic(self.public_dir / "nvidia-smi-replay" / "nofork", "1\n")
            self._make_network(count)
            self._start_init()
            self._start_sshds(count, max_sessions)
            self._wait_ready()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> NetnsFleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- setup ---------------------------------------------------------------------------------------------

    def _make_network(self, count: int) -> None:
        names = [f"{self.prefix}-{index}" for index in range(count)]
        self._namespaces = [self.hub, *names]
        root = [f"netns add {name}" for name in self._namespaces]
        root += [
            f"link add v{index} netns {self.hub} type veth peer name eth0 netns {name}"
            for index, name in enumerate(names)
        ]
        _ip_batch(root)
        hub = [
            "link set lo up",
            "link add br0 type bridge",
            f"addr add {HUB_ADDRESS}/16 dev br0",
            "link set br0 up",
        ]
        hub += [f"link set v{index} master br0 up" for index in range(count)]
        _ip_batch(hub, self.hub)
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(
                pool.map(
                    lambda item: _ip_batch(
                        ["link set lo up", f"addr add {address(item[0])}/16 dev eth0", "link set eth0 up"],
                        item[1],
                    ),
                    enumerate(names),
                )
            )

    def _start_init(self) -> None:
        with open(
            self.dir / "init.log", "ab"
        ) as log:  # unshare complains when init is SIGKILLed: keep it here
            self._init = subprocess.Popen(
                ["unshare", "--pid", "--fork", "--kill-child", "--", sys.executable, "-c", INIT],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )
        assert self._init.stdout is not None
        if self._init.stdout.readline().strip() != "ready":
            raise LabError("the hosts' pid namespace init did not start")
        deadline = time.monotonic() + 5.0
        while not self._init_pid() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._init_pid():
            raise LabError("cannot find the pid namespace's init process")

    def _init_pid(self) -> int | None:
        """The init's pid as seen from here (the child of `unshare`)."""
        assert self._init is not None
        try:
            children = Path(f"/proc/{self._init.pid}/task/{self._init.pid}/children").read_text().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    def _start_sshds(self, count: int, max_sessions: int | None) -> None:
        init_pid = self._init_pid()
        lines = []
        for index in range(count):
            name, host = f"h{index}", address(index)
            node_dir = self.dir / name
            node_dir.mkdir()
            key = asyncssh.generate_private_key("ssh-ed25519", comment=f"opsconsole-netns {name}")
            key_path = node_dir / "ssh_host_ed25519_key"
            _write_private(key_path, key.export_private_key("openssh"))
            lines.append(f"{host} {public_key_line(key)}")
            config = node_dir / "sshd_config"
            config.write_text(
                sshd_config_at(
                    host,
                    22,
                    key_path,
                    node_dir / "sshd.pid",
                    self.bin_dir,
                    authorized_keys=self.lab.authorized_keys_path,
                    user=self.lab.user,
                    max_sessions=max_sessions,
                ),
                encoding="utf-8",
            )
            log_path = node_dir / "sshd.log"
            netns = f"{self.prefix}-{index}"
            with open(log_path, "ab") as log:
                process = subprocess.Popen(
                    ["nsenter", f"--target={init_pid}", "--pid", f"--net=/run/netns/{netns}", "--",
                     SSHD, "-D", "-e", "-f", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )  # fmt: skip
            self.hosts.append(NetnsHost(name, netns, host, 22, log_path, process))
        _write_atomic(self.known_hosts_path, "".join(line + "\n" for line in lines))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        pending = list(self.hosts)
        while pending:
            for host in list(pending):
                log = host.log_path.read_text(errors="replace") if host.log_path.exists() else ""
                if "Server listening on" in log:
                    pending.remove(host)
                elif host.process.poll() is not None:
                    raise LabError(f"sshd of {host.name} ({host.host}) exited: {log[-2000:]}")
            if pending and time.monotonic() > deadline:
                raise LabError(f"{len(pending)} netns sshd not listening within {READY_TIMEOUT_S:.0f}s")
            if pending:
                time.sleep(0.02)

    # --- use -----------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def enter(self) -> Iterator[None]:
        """Run the calling thread inside the hub namespace for the duration (sockets it opens stay there)."""
        libc = ctypes.CDLL(None, use_errno=True)
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        hub = os.open(f"/run/netns/{self.hub}", os.O_RDONLY)
        try:
            if libc.setns(hub, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into the hub namespace failed")
            try:
                yield
            finally:
                if libc.setns(own, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back to our own namespace failed")
        finally:
            os.close(own)
            os.close(hub)

    def hub_argv(self, argv: list[str]) -> list[str]:
        """argv run inside the hub namespace (for a subprocess started from outside it)."""
        return ["nsenter", f"--net=/run/netns/{self.hub}", "--", *argv]

    def spawned(self) -> int:
        """The hosts' pid namespace's last pid: subtract two readings for processes started between them."""
        if self._init is None or self._init.stdin is None or self._init.stdout is None:
            raise LabError("the fleet is closed")
        self._init.stdin.write("\n")
        self._init.stdin.flush()
        return int(self._init.stdout.readline())

    def node_model(self, host: NetnsHost, *, ssh: dict[str, Any] | None = None, **fields: Any) -> Node:
        settings = SSHSettings(
            user=self.lab.user,
            port=22,
            identity_file=str(self.lab.client_key_path),
            known_hosts=str(self.known_hosts_path),
            connect_timeout=10,
            command_timeout=10,
        )
        return Node(host.name, host.host, ssh=replace(settings, **(ssh or {})), **fields)

    def inventory_yaml(self, *, name: str = "netns", refresh: float = 2, connect_timeout: float = 20) -> str:
        ssh = (
            f"{{user: {self.lab.user}, identity_file: {self.lab.client_key_path}, "
            f"known_hosts: {self.known_hosts_path}, connect_timeout: {connect_timeout}}}"
        )
        lines = [
            "version: 1",
            f"name: {name}",
            "defaults:",
            f"  ssh: {ssh}",
            f"  refresh: {refresh}",
            "nodes:",
        ]
        for host in self.hosts:
            lines += [f"  {host.name}:", f"    host: {host.host}", "    gpus: {count: 1}"]
        return "\n".join(lines) + "\n"

    def sshd_pids(self) -> list[int]:
        """Each host's sshd (the nsenter's child), as seen from here."""
        pids = []
        for host in self.hosts:
            with contextlib.suppress(OSError):
                pids += [
                    int(pid)
                    for pid in Path(f"/proc/{host.process.pid}/task/{host.process.pid}/children")
                    .read_text()
                    .split()
                ]
        return pids

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        errors = []
        init_pid = self._init_pid() if self._init is not None else None
        if init_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(init_pid, signal.SIGKILL)  # the kernel kills every process of the namespace
        for process in [*(host.process for host in self.hosts), *([self._init] if self._init else [])]:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._init is not None:
            for stream in (self._init.stdin, self._init.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        if self._namespaces:
            existing = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
            gone = [f"netns del {name}" for name in self._namespaces if name in existing]
            try:
                if gone:
                    _ip_batch(gone)
            except LabError as exc:
                errors.append(str(exc))
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.public_dir, ignore_errors=True)
        if errors:
            raise LabError("; ".join(errors))
