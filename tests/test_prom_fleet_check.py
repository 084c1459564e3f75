"""`opsconsole --check` on a fleet read from Prometheus: a real Prometheus scraping the synthetic fleet
exporter (tests/lab/fleet_exporter.py); the inventory lists no node at all."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab.fleet_exporter import node_name
from tests.lab.prom_fleet import PromFleetLab
from tests.lab.prom_fleet_fixtures import PROM_FLEET_NODES

NODES = PROM_FLEET_NODES


@pytest.fixture
def lab(prom_fleet_lab: PromFleetLab) -> PromFleetLab:
    return prom_fleet_lab


def _check(lab: PromFleetLab, tmp_path: Path, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    inventory = tmp_path / "fleet.yaml"
    inventory.write_text(
        f'version: 1\nname: prom-fleet\nprometheus: {{url: "{lab.url}"}}\n'
        "fleet: {source: prometheus, rate_window: 5s}\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "console",
            "-i",
            str(inventory),
            "--check",
            "--format",
            "json",
            "--timeout",
            "30",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stderr == ""  # silent when well, whatever the verdict
    return done.returncode, json.loads(done.stdout)


def test_every_discovered_node_is_judged_from_its_series(lab: PromFleetLab, tmp_path: Path) -> None:
    code, report = _check(lab, tmp_path)
    results = report["results"]
    by = {(r["node"], r["check"]): r for r in results}
    fleet = by[("prom-fleet", "fleet.prometheus")]
    assert fleet["status"] == "ok"
    for i in range(NODES - 1):
        temperature = by[(node_name(i), "gpu.temperature")]
        assert temperature["status"] == "ok", temperature
        assert f"{40 + i % 50 + 3:g} °C" in temperature["summary"]
        assert by[(node_name(i), "gpu.present")]["status"] == "ok"
        # what needs SSH is skipped with the reason, never unknown
        assert by[(node_name(i), "ssh.reachable")]["status"] == "skipped"
        assert "needs the node over SSH" in by[(node_name(i), "ssh.reachable")]["summary"]
    # the frozen node's series are older than 3 scrape intervals: unknown, saying so
    frozen = by[(node_name(NODES - 1), "gpu.temperature")]
    assert frozen["status"] == "unknown"
    assert "stale" in frozen["summary"]
    assert code == 3  # the worst counted status is the stale node's unknown
    # the monitoring checks come with any Prometheus
    assert by[("prom-fleet", "monitoring.prometheus")]["status"] in ("ok", "warning")


def test_only_selects_among_discovered_nodes_checks(lab: PromFleetLab, tmp_path: Path) -> None:
    code, report = _check(lab, tmp_path, "--only", "gpu.present")
    assert {r["check"] for r in report["results"]} == {"gpu.present"}
    unknown = {r["node"] for r in report["results"] if r["status"] == "unknown"}
    assert unknown == {node_name(NODES - 1)}  # the stale one; every other node's GPUs are present
    assert code == 3
    assert {r["node"] for r in report["results"]} >= {node_name(i) for i in range(NODES)}
