"""pytest fixtures of the real Slurm lab (tests/lab/slurm.py); a test module imports them by name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab.availability import lab_unavailable
from tests.lab.common import LabError
from tests.lab.slurm import SlurmLab, available
from tests.lab.sshd import SshLab


@pytest.fixture(scope="module")
def slurm_lab(ssh_lab: SshLab) -> Iterator[SlurmLab]:
    """munged, slurmctld and three slurmd nodes, in the scenario (job on a GPU, one pending, h1 draining,
    h2 drained); a module's tests may change it (actions), so it is made once per module."""
    why = available()
    if why is not None:
        lab_unavailable("the Slurm lab", why)
    try:
        lab = SlurmLab(ssh_lab)
    except LabError as exc:
        lab_unavailable("the Slurm lab", exc)
    with lab:
        lab.jobs = lab.scenario()
        yield lab
