"""Constants of the real-sshd lab and the error it raises when it cannot be set up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

SSHD = "/usr/sbin/sshd"  # sshd re-executes itself, so it must be started by absolute path
LAB_USER = "opsconsole-lab"
LAB_HOME = "/var/lib/opsconsole-lab"
LAB_HOST = "127.0.0.1"

GpuCapture = Literal["idle", "load"]
GPU_CAPTURES: tuple[GpuCapture, ...] = ("idle", "load")

_LAB_DIR = Path(__file__).resolve().parent
REPLAY_SCRIPT = _LAB_DIR / "nvidia-smi"
CAPTURE_DIR = _LAB_DIR.parent / "fixtures" / "gpu" / "h100-80gb-hbm3"

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
_PORT_RETRIES = 5
_POLL_S = 0.01
_PR_SET_PDEATHSIG = 1


class LabError(RuntimeError):
    """The lab could not be set up (no sshd, not root, sshd did not come up, ...)."""
