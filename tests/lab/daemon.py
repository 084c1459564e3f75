"""One sshd process of the real-sshd lab: its config, its nvidia-smi replay, starting it, waiting for it."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tests.lab.common import _POLL_S, CAPTURE_DIR, LAB_HOST, REPLAY_SCRIPT, SSHD, START_TIMEOUT_S
from tests.lab.network import read_banner
from tests.lab.processes import _kill_parent_death_signal

if TYPE_CHECKING:
    from tests.lab.node import LabNode


def install_replay(public_node_dir: Path, capture: str) -> None:
    """Put the nvidia-smi replay, set to capture, into public_node_dir/bin, readable by the test user."""
    data_dir = public_node_dir / "nvidia-smi-replay"
    shutil.copytree(CAPTURE_DIR, data_dir)
    (data_dir / "capture").write_text(capture + "\n", encoding="utf-8")
    target = public_node_dir / "bin" / "nvidia-smi"
    shutil.copyfile(REPLAY_SCRIPT, target)
    os.chmod(target, 0o755)
    for root, _dirs, files in os.walk(data_dir):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def sshd_config(
    port: int, host_key: Path, pid_file: Path, bin_dir: Path, *, authorized_keys: Path, user: str
) -> str:
    """The sshd_config of one lab node: key login for user only, bin_dir first on PATH."""
    return "\n".join(
        [
            f"ListenAddress {LAB_HOST}:{port}",
            f"HostKey {host_key}",
            f"PidFile {pid_file}",
            f"AuthorizedKeysFile {authorized_keys}",
            "StrictModes no",
            "UsePAM no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "HostbasedAuthentication no",
            "PermitRootLogin no",
            f"AllowUsers {user}",
            "MaxStartups 100",
            "MaxSessions 64",
            "AllowTcpForwarding yes",  # lets a lab node act as a ProxyJump host
            "X11Forwarding no",
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            "LogLevel INFO",
            "Subsystem sftp internal-sftp",
            f"SetEnv PATH={bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "",
        ]
    )


UNSHARE_MOUNT = ("unshare", "--mount", "--propagation", "private", "--")


def spawn_sshd(
    config_path: Path, log_path: Path, *, mount_namespace: bool = False
) -> subprocess.Popen[bytes]:
    """Start `sshd -D -e -f config_path` in a session of its own, logging to log_path.

    With mount_namespace, sshd runs in a private mount namespace of its own (unshare execs it, so the pid is
    sshd's): what is mounted there with ns_exec() only this node's sessions see.
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    prefix = list(UNSHARE_MOUNT) if mount_namespace else []
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [*prefix, SSHD, "-D", "-e", "-f", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # a Ctrl-C at the terminal reaches pytest, which then closes the lab
            # Parent-death signal is tied to the starting *thread*: only safe from the main thread.
            preexec_fn=_kill_parent_death_signal if in_main_thread else None,
        )


def wait_ready(node: LabNode) -> str:
    """Poll until the port sends an SSH banner: "ready", or why not."""
    deadline = time.monotonic() + START_TIMEOUT_S
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if not node.running:
            return f"sshd exited with status {node.process.returncode}"
        try:
            banner = read_banner(node.port, timeout=max(0.1, min(1.0, deadline - time.monotonic())))
        except OSError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        else:
            if banner.startswith(b"SSH-"):
                return "ready"
            last_error = f"unexpected banner {banner!r}"
        time.sleep(_POLL_S)
    return f"no SSH banner within {START_TIMEOUT_S:.0f} s (last: {last_error})"


def ns_argv(pid: int, argv: Sequence[str]) -> list[str]:
    """argv run inside the mount namespace of process pid (a node's sshd started with mount_namespace)."""
    return ["nsenter", "--target", str(pid), "--mount", "--", *argv]


def ns_exec(pid: int, argv: Sequence[str], *, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    """Run argv inside the mount namespace of process pid, as root; never waits past timeout."""
    return subprocess.run(
        ns_argv(pid, argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def sshd_config_at(
    address: str,
    port: int,
    host_key: Path,
    pid_file: Path,
    bin_dir: Path,
    *,
    authorized_keys: Path,
    user: str,
    max_sessions: int | None = None,
) -> str:
    """sshd_config() listening on address:port; MaxSessions as given (None: sshd's default, 10)."""
    lines = []
    for line in sshd_config(
        port, host_key, pid_file, bin_dir, authorized_keys=authorized_keys, user=user
    ).splitlines():
        if line.startswith("ListenAddress "):
            line = f"ListenAddress {address}:{port}"
        elif line.startswith("MaxSessions "):
            if max_sessions is None:
                continue
            line = f"MaxSessions {max_sessions}"
        lines.append(line)
    return "\n".join(lines) + "\n"
