"""LabNode: one running sshd of the real-sshd lab, which a test can freeze, thaw and stop."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.lab.common import STOP_TIMEOUT_S, GpuCapture, LabError
from tests.lab.processes import _signal, descendants, kill_tree_below


@dataclass(eq=False)
class LabNode:
    """One running sshd of the lab."""

    name: str
    host: str
    port: int
    user: str
    host_key_public_line: str  # "ssh-ed25519 AAAA..."
    bin_dir: Path  # first on the node's PATH; holds the nvidia-smi replay when the node has GPU tooling
    log_path: Path  # sshd's stderr (-e)
    process: subprocess.Popen[bytes]
    gpu_capture: GpuCapture | None = None
    _frozen: list[int] = field(default_factory=list, repr=False)
    _on_stop: list[Callable[[LabNode], None]] = field(default_factory=list, repr=False)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    @property
    def frozen(self) -> bool:
        return bool(self._frozen)

    def known_hosts_line(self) -> str:
        return f"[{self.host}]:{self.port} {self.host_key_public_line}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def freeze(self) -> None:
        """SIGSTOP the sshd and everything under it (open sessions too): a hung node.

        New TCP connections still complete in the kernel's backlog but never see a banner; open connections go
        silent. Idempotent; undo with thaw().
        """
        if not self.running:
            raise LabError(f"lab node {self.name} is not running")
        if self.process.pid not in self._frozen and _signal(self.process.pid, signal.SIGSTOP):
            self._frozen.append(self.process.pid)
        # Top-down, until no new descendant shows up: a stopped parent cannot fork any more.
        while True:
            new = [pid for pid in descendants(self.process.pid) if pid not in self._frozen]
            if not new:
                break
            for pid in new:
                _signal(pid, signal.SIGSTOP)
                self._frozen.append(pid)  # even when already gone, so that the loop ends

    def thaw(self) -> None:
        """SIGCONT whatever freeze() stopped."""
        for pid in self._frozen:
            _signal(pid, signal.SIGCONT)
        self._frozen.clear()

    def stop(self) -> None:
        """Terminate the sshd and its open sessions and wait for it; idempotent."""
        for pid in [self.process.pid, *self._frozen]:
            _signal(pid, signal.SIGCONT)
        self._frozen.clear()
        if self.running:
            # Open sessions first (the per-connection sshds and the test user's commands: no graceful exit
            # needed), while this sshd still runs to reap them; then the sshd itself.
            kill_tree_below(self.process.pid)
            self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)
        callbacks, self._on_stop[:] = list(self._on_stop), []
        for callback in callbacks:
            callback(self)
