"""Pods over real SSH: a lab sshd node that is a container (a marker file in its own mount namespace, no
Docker socket, no systemd) gives a clean `--check` with `kind: pod` and with detection; `kind: host` on the
same node keeps the missing Docker critical."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab.daemon import ns_exec
from tests.lab.sshd import LabNode, SshLab

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pod(ssh_lab: SshLab) -> Iterator[LabNode]:
    """A lab node whose /run is its own: Podman's /run/.containerenv, no /run/systemd, no docker.sock."""
    node = ssh_lab.start_node("pod1", gpu_capture=None, mount_namespace=True)
    script = (
        "mount -t tmpfs -o mode=0755,size=1m pod-run /run && mkdir -m 0755 /run/sshd "
        "&& : > /run/.containerenv"
    )
    done = ns_exec(node.process.pid, ["sh", "-c", script])
    assert done.returncode == 0, done.stderr
    yield node
    node.stop()


def check(
    ssh_lab: SshLab, pod: LabNode, tmp_path: Path, kind: str | None
) -> tuple[int, list[dict[str, Any]]]:
    text = ssh_lab.inventory_yaml([pod])
    # As a fleet would: Docker watched everywhere by default, the pods' group says what they are.
    text = text.replace("defaults:\n", "defaults:\n  docker: {}\n", 1)
    if kind is not None:
        text += f"    kind: {kind}\n"
    path = tmp_path / "pods.yaml"
    path.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "console", "-i", str(path), "--check", "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stderr == "", done.stderr
    return done.returncode, json.loads(done.stdout)["results"]


def docker_lines(results: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (r["check"], r["status"], r["summary"])
        for r in results
        if r["check"].startswith(("docker.", "container."))
    ]


def test_a_pod_marked_in_the_inventory_checks_clean(ssh_lab: SshLab, pod: LabNode, tmp_path: Path) -> None:
    code, results = check(ssh_lab, pod, tmp_path, "pod")
    assert code == 0, results
    assert docker_lines(results) == [("docker.engine", "skipped", "no Docker on this node (kind: pod)")]


def test_a_pod_is_told_from_the_node_when_kind_is_unset(
    ssh_lab: SshLab, pod: LabNode, tmp_path: Path
) -> None:
    code, results = check(ssh_lab, pod, tmp_path, None)
    assert code == 0, results
    ((check_id, status, summary),) = docker_lines(results)
    assert (check_id, status) == ("docker.engine", "skipped")
    assert summary.startswith("no Docker on this node (a container: ")
    assert "/run/.containerenv" in summary
    assert "no systemd" in summary


def test_a_host_that_has_no_docker_is_still_critical(ssh_lab: SshLab, pod: LabNode, tmp_path: Path) -> None:
    code, results = check(ssh_lab, pod, tmp_path, "host")
    assert code == 2, results
    engine = next(r for r in results if r["check"] == "docker.engine")
    assert engine["status"] == "critical"
    assert engine["summary"].startswith("no Docker socket at /var/run/docker.sock")
