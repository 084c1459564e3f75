"""The split plane for real: a pod's DCGM exporter bound to the pod's own loopback (its own network
namespace), a real Prometheus scraping it through `opsconsole tunnels up` via file_sd; the SSH connection
is killed on the pod's side, the tunnel comes back and the series go on."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.netns import NetnsFleet
from tests.lab.sshd import SshLab
from tests.lab.tunnels_lab import EXPORTER_PORT, SplitPlane, wait_for


@pytest.fixture
def plane(ssh_lab: SshLab, tmp_path: Path) -> Iterator[SplitPlane]:
    with NetnsFleet(ssh_lab, 1, gpu_capture=None) as fleet:
        made = SplitPlane(fleet, tmp_path)
        try:
            made.start()
            yield made
        finally:
            made.close()


def _inventory(plane: SplitPlane, path: Path) -> Path:
    fleet, host = plane.fleet, plane.host
    path.write_text(
        f"""\
version: 1
name: split
defaults:
  ssh: {{user: {fleet.lab.user}, identity_file: {fleet.lab.client_key_path},
        known_hosts: {fleet.known_hosts_path}, connect_timeout: 5, keepalive_interval: 2}}
nodes:
  pod1: {{host: {host.host}, gpus: {{count: 2, source: prometheus}}}}
""",
        encoding="utf-8",
    )
    return path


def _samples_since(plane: SplitPlane, since: float) -> list[float]:
    """Timestamps of the pod's GPU 0 utilisation samples taken after `since` (Unix seconds)."""
    result = plane.api("/api/v1/query", query='DCGM_FI_DEV_GPU_UTIL{gpu="0",instance="pod1:9400"}[60s]')
    return [float(t) for series in result["result"] for t, _ in series["values"] if float(t) > since]


def test_prometheus_scrapes_through_a_tunnel_that_survives_a_dropped_connection(
    plane: SplitPlane, tmp_path: Path
) -> None:
    inventory = _inventory(plane, tmp_path / "split.yaml")
    # The exporter answers only on the pod's loopback: the workstation cannot reach it without SSH.
    with plane.fleet.enter(), pytest.raises(ConnectionRefusedError):
        socket.create_connection((plane.host.host, EXPORTER_PORT), timeout=5).close()

    plane.start_tunnels(inventory)
    wait_for("a sample scraped through the tunnel", lambda: _samples_since(plane, 0), 30)
    targets = plane.api("/api/v1/targets")["activeTargets"]
    assert [
        (t["labels"]["instance"], t["labels"]["node"], t["labels"]["tunnel"], t["health"]) for t in targets
    ] == [("pod1:9400", "pod1", "pod1/dcgm", "up")]
    assert targets[0]["scrapeUrl"].startswith("http://127.0.0.1:")
    # The state file follows the traffic within a second: wait for the scrape's bytes to show.
    status = wait_for(
        "bytes counted", lambda: (s := plane.status(inventory))["tunnels"][0]["bytes_in"] and s, 15
    )
    assert status["running"] is True
    (row,) = status["tunnels"]
    assert (row["name"], row["state"], row["remote"], row["local"]) == (
        "pod1/dcgm", "up", "127.0.0.1:9400", targets[0]["scrapeUrl"][len("http://"):].split("/")[0],
    )  # fmt: skip
    assert row["bytes_out"] > 0
    assert plane.up_stderr.read_text() == ""  # silent while well

    # Drop the SSH connection from the pod's side: kill the sshd process that serves it.
    served = plane.connection_pids()
    assert served, "no sshd child serves the tunnels' connection"
    dropped_at = time.time()
    for pid in served:
        os.kill(pid, signal.SIGKILL)
    wait_for(
        "the tunnel seen leaving up",
        lambda: "connection lost" in plane.up_stderr.read_text(),
        15,
    )
    wait_for("the tunnel up again", lambda: "is up again" in plane.up_stderr.read_text(), 30)
    assert set(plane.connection_pids()).isdisjoint(served)  # a new connection, not the old one
    # The series continue: samples taken after the drop, through the new connection.
    after = wait_for("samples after the drop", lambda: _samples_since(plane, dropped_at + 1), 30)
    assert after
    health = wait_for(
        "the target healthy",
        lambda: [t["health"] for t in plane.api("/api/v1/targets")["activeTargets"]] == ["up"],
        15,
    )
    assert health

    code, stderr = plane.stop_tunnels()
    assert code == 0
    lines = stderr.splitlines()
    assert lines[0].startswith("opsconsole: tunnel pod1/dcgm connecting: pod1: connection lost")
    assert lines[-1] == "opsconsole: tunnel pod1/dcgm is up again"
    assert plane.status(inventory)["running"] is False  # its state file went with it
