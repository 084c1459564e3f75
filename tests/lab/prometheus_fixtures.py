"""pytest fixtures of the Prometheus lab (loaded by tests/conftest.py through `pytest_plugins`).

One real Prometheus per session: its ~5.5 s wait for the first sample is paid by the first test that
asks for it, never again. Like the SSH lab it never skips: where it cannot start, its tests fail and say why.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab.availability import lab_unavailable
from tests.lab.common import LabError
from tests.lab.prometheus import PrometheusLab


@pytest.fixture(scope="session")
def prometheus_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusLab]:
    """Prometheus on 127.0.0.1 scraping the lab exporter (DCGM: gpu1, simulator: sim1) and a dead port."""
    try:
        lab = PrometheusLab(tmp_path_factory.mktemp("prometheus-lab"))
        lab.start()
    except LabError as exc:
        lab_unavailable("the Prometheus lab", exc)
    try:
        yield lab
    finally:
        lab.stop()
