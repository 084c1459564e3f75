"""pytest fixtures of the Prometheus fleet lab (loaded by tests/conftest.py through `pytest_plugins`).

One real Prometheus scraping the synthetic fleet exporter (tests/lab/fleet_exporter.py) per session, shared
by the collector, `--check` and TUI tests: its start (first samples, two rate samples per node, the alert) is
paid once. The last node is frozen (stale), node 2 has a firing alert.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab.availability import lab_unavailable
from tests.lab.common import LabError
from tests.lab.prom_fleet import PromFleetLab

PROM_FLEET_NODES = 12


@pytest.fixture(scope="session")
def prom_fleet_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromFleetLab]:
    try:
        lab = PromFleetLab(tmp_path_factory.mktemp("prom-fleet"), PROM_FLEET_NODES)
        lab.start()
    except LabError as exc:
        lab_unavailable("the Prometheus fleet lab", exc)
    try:
        yield lab
    finally:
        lab.stop()
