"""A lab of REAL OpenSSH sshd servers on 127.0.0.1 for integration tests.

Every node is one `sshd -D` of its own (own port, own fresh ed25519 host key) that lets exactly one dedicated,
unprivileged test user in with one throwaway client key. The user's login shell is /bin/sh, so a command costs
no shell start-up files. A node with GPU tooling has the `nvidia-smi` replay (tests/lab/nvidia-smi, real H100
captures) first on its PATH; a node without it answers `nvidia-smi` with "not found" (exit 127), as a box
without the driver does.

Needs root (to create the test user and to run sshd); the lab fails, never skips, when it cannot run.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import asyncssh

from tests.lab.common import (
    _PORT_RETRIES,
    CAPTURE_DIR,
    GPU_CAPTURES,
    LAB_HOME,
    LAB_HOST,
    LAB_USER,
    REPLAY_SCRIPT,
    SSHD,
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    GpuCapture,
    LabError,
)
from tests.lab.daemon import install_replay, spawn_sshd, sshd_config, wait_ready
from tests.lab.inventory import inventory_yaml
from tests.lab.keys import _write_atomic, _write_private, public_key_line, write_known_hosts
from tests.lab.network import _free_port, _SilentListener, read_banner
from tests.lab.node import LabNode
from tests.lab.processes import (
    descendant_levels,
    descendants,
    ensure_lab_user,
    kill_tree_below,
    user_processes,
)

__all__ = [
    "CAPTURE_DIR",
    "GPU_CAPTURES",
    "LAB_HOME",
    "LAB_HOST",
    "LAB_USER",
    "REPLAY_SCRIPT",
    "SSHD",
    "START_TIMEOUT_S",
    "STOP_TIMEOUT_S",
    "GpuCapture",
    "LabError",
    "LabNode",
    "SshLab",
    "descendant_levels",
    "descendants",
    "ensure_lab_user",
    "kill_tree_below",
    "public_key_line",
    "read_banner",
    "user_processes",
]


class SshLab:
    """Real sshd servers on 127.0.0.1 for one test session. Use as a context manager or call close()."""

    def __init__(self, base_dir: str | os.PathLike[str]) -> None:
        if not os.access(SSHD, os.X_OK):
            raise LabError(f"{SSHD} not found: the SSH lab needs it (apt-get install openssh-server)")
        self.user_entry = ensure_lab_user()
        self.user: str = LAB_USER
        self.home: str = self.user_entry.pw_dir
        self.base_dir = Path(base_dir).resolve()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        # Root-only things (client key, sshd configs, host keys, logs) stay under base_dir. What the test user
        # must read (authorized_keys, the replay and its captures) goes to a world-readable directory outside
        # /root and outside pytest's 0700 temp root.
        self.public_dir = Path(tempfile.mkdtemp(prefix="opsconsole-lab-"))
        os.chmod(self.public_dir, 0o755)
        self._nodes: list[LabNode] = []
        self._listeners: list[_SilentListener] = []
        self._reserved: list[socket.socket] = []
        self._names: set[str] = set()
        self._closed = False
        self._lock = threading.Lock()
        atexit.register(self.close)
        try:
            Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)  # sshd's privsep directory
            client_key = asyncssh.generate_private_key("ssh-ed25519", comment="opsconsole-lab client")
            self.client_key_path: Path = self.base_dir / "client_ed25519"
            _write_private(self.client_key_path, client_key.export_private_key("openssh"))
            self.client_public_line: str = public_key_line(client_key)
            _write_atomic(self.base_dir / "client_ed25519.pub", self.client_public_line + "\n")
            self.authorized_keys_path: Path = self.public_dir / "authorized_keys"
            _write_atomic(self.authorized_keys_path, self.client_public_line + "\n")
            self.known_hosts_path: Path = self.base_dir / "known_hosts"
            _write_atomic(self.known_hosts_path, "")
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> SshLab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def nodes(self) -> tuple[LabNode, ...]:
        """The nodes started and not stopped yet."""
        return tuple(node for node in self._nodes if node.running)

    def start_node(
        self, name: str, *, gpu_capture: GpuCapture | None = "idle", mount_namespace: bool = False
    ) -> LabNode:
        """Start one sshd on a free 127.0.0.1 port; return once it sends its SSH banner.

        mount_namespace: run this sshd in a private mount namespace of its own, so that what is mounted
        there (tests/lab/daemon.py: ns_exec(node.process.pid, argv)) only this node sees.
        """
        if self._closed:
            raise LabError("the SSH lab is closed")
        if gpu_capture is not None and gpu_capture not in GPU_CAPTURES:
            raise ValueError(f"gpu_capture must be one of {GPU_CAPTURES} or None, not {gpu_capture!r}")
        with self._lock:
            slug, copies = name, 1
            while slug in self._names:  # the same name twice: keep the node directories apart
                copies += 1
                slug = f"{name}-{copies}"
            self._names.add(slug)
        node_dir = self.base_dir / "nodes" / slug
        node_dir.mkdir(parents=True)
        public_node_dir = self.public_dir / "nodes" / slug
        bin_dir = public_node_dir / "bin"
        bin_dir.mkdir(parents=True)
        for path in (self.public_dir / "nodes", public_node_dir, bin_dir):
            os.chmod(path, 0o755)
        if gpu_capture is not None:
            install_replay(public_node_dir, gpu_capture)

        host_key = asyncssh.generate_private_key("ssh-ed25519", comment=f"opsconsole-lab {name}")
        host_key_path = node_dir / "ssh_host_ed25519_key"
        _write_private(host_key_path, host_key.export_private_key("openssh"))
        log_path = node_dir / "sshd.log"

        failures: list[str] = []
        for _ in range(_PORT_RETRIES):
            port = _free_port()
            config_path = node_dir / "sshd_config"
            config_path.write_text(
                sshd_config(
                    port,
                    host_key_path,
                    node_dir / "sshd.pid",
                    bin_dir,
                    authorized_keys=self.authorized_keys_path,
                    user=self.user,
                ),
                encoding="utf-8",
            )
            process = spawn_sshd(config_path, log_path, mount_namespace=mount_namespace)
            node = LabNode(
                name=name,
                host=LAB_HOST,
                port=port,
                user=self.user,
                host_key_public_line=public_key_line(host_key),
                bin_dir=bin_dir,
                log_path=log_path,
                process=process,
                gpu_capture=gpu_capture,
            )
            with self._lock:
                self._nodes.append(node)  # from here on close() knows it, whatever happens next
            outcome = wait_ready(node)
            if outcome == "ready":
                node._on_stop.append(self._forget)
                self._rewrite_known_hosts()
                return node
            node.stop()
            log = node.log()
            failures.append(f"port {port}: {outcome}\n{log}")
            if "Address already in use" not in log:
                break  # not a port collision: retrying will not help
        raise LabError(f"sshd for lab node {name!r} did not come up:\n" + "\n".join(failures))

    def _forget(self, node: LabNode) -> None:
        if not self._closed:
            self._rewrite_known_hosts()

    def ssh_options(self, node: LabNode, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for asyncssh.connect() that log in to node: `connect(**lab.ssh_options(n))`."""
        options: dict[str, Any] = {
            "host": node.host,
            "port": node.port,
            "username": node.user,
            "client_keys": [str(self.client_key_path)],
            "known_hosts": str(self.known_hosts_path),
            "agent_path": None,
            "config": [],  # no ~/.ssh/config, whatever HOME says
        }
        options.update(overrides)
        return options

    def _rewrite_known_hosts(self) -> None:
        with self._lock:
            lines = [node.known_hosts_line() for node in self._nodes if node.running]
            _write_atomic(self.known_hosts_path, "".join(line + "\n" for line in lines))

    def write_known_hosts(
        self,
        path: str | os.PathLike[str],
        nodes: Iterable[LabNode],
        *,
        wrong_for: Iterable[LabNode | str] = (),
    ) -> Path:
        """Write a known_hosts for nodes; those in wrong_for (nodes or names) get a fresh, wrong key."""
        return write_known_hosts(path, nodes, wrong_for=wrong_for)

    def silent_port(self) -> int:
        """A port that accepts TCP connections and never sends anything (sshd hung before its banner)."""
        listener = _SilentListener()
        self._listeners.append(listener)
        return listener.port

    def dead_port(self) -> int:
        """A port where nothing listens: connecting is refused. It stays reserved until the lab closes."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((LAB_HOST, 0))  # bound but not listening: the kernel answers RST, and nobody else gets it
        self._reserved.append(sock)
        port: int = sock.getsockname()[1]
        return port

    def inventory_yaml(
        self,
        nodes: Sequence[LabNode],
        *,
        name: str = "lab",
        extra_nodes: str = "",
        gpus: Mapping[str, Mapping[str, object]] | None = None,
        known_hosts: str | os.PathLike[str] | None = None,
        connect_timeout: float = 5,
        refresh: float = 1,
    ) -> str:
        """A version-1 opsconsole inventory; extra_nodes is raw YAML, already indented, put under nodes:."""
        return inventory_yaml(
            nodes,
            user=self.user,
            identity_file=self.client_key_path,
            known_hosts=known_hosts if known_hosts is not None else self.known_hosts_path,
            name=name,
            extra_nodes=extra_nodes,
            gpus=gpus,
            connect_timeout=connect_timeout,
            refresh=refresh,
        )

    def close(self) -> None:
        """Stop every sshd and listener this lab started and remove its directories; idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        errors: list[str] = []
        for node in getattr(self, "_nodes", []):
            try:
                node.stop()
            except Exception as exc:  # keep going: every other process must still go
                errors.append(f"{node.name}: {exc}")
        for listener in getattr(self, "_listeners", []):
            listener.close()
        for sock in getattr(self, "_reserved", []):
            sock.close()
        shutil.rmtree(self.public_dir, ignore_errors=True)  # base_dir (logs, keys) belongs to the caller
        if errors:
            raise LabError("could not stop every lab node: " + "; ".join(errors))
