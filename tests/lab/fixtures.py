"""pytest fixtures of the real-sshd lab (loaded by tests/conftest.py through `pytest_plugins`).

Where the lab cannot run (no sshd, not root) its tests fail in CI and are skipped elsewhere
(tests/lab/availability.py).
Tests may start more nodes with `ssh_lab.start_node(...)`; they should `stop()` them (the lab stops whatever
is left when the session ends).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab.availability import lab_unavailable
from tests.lab.sshd import LabError, LabNode, SshLab


@pytest.fixture(scope="session")
def ssh_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshLab]:
    """Real OpenSSH servers on 127.0.0.1 for the whole session, torn down at its end."""
    try:
        lab = SshLab(tmp_path_factory.mktemp("ssh-lab"))
    except LabError as exc:
        lab_unavailable("the real-sshd lab", exc)
    with lab:
        yield lab


@pytest.fixture(scope="session")
def gpu_node(ssh_lab: SshLab) -> Iterator[LabNode]:
    """A node whose `nvidia-smi` replays the idle H100 capture."""
    node = ssh_lab.start_node("gpu1", gpu_capture="idle")
    yield node
    node.stop()


@pytest.fixture(scope="session")
def plain_node(ssh_lab: SshLab) -> Iterator[LabNode]:
    """A node without GPU tooling: `nvidia-smi` is not found (exit 127)."""
    node = ssh_lab.start_node("plain1", gpu_capture=None)
    yield node
    node.stop()
