"""`--check` over the whole lab: services probed through SSH, the fleet's Prometheus through a tunnel."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab.docker_fixtures import DockerLab
from tests.lab.fusefs import FuseMount
from tests.lab.http_services import LabHttpServer
from tests.lab.nfs import NfsServer
from tests.lab.nfs_fixtures import MountLab
from tests.lab.prometheus import PrometheusLab
from tests.lab.sshd import LabNode, SshLab

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def web() -> Iterator[LabHttpServer]:
    with LabHttpServer() as server:
        yield server


@pytest.fixture(scope="module")
def exposed() -> Iterator[LabHttpServer]:
    # Bound to every interface, as a mis-published service would be; only ever probed on 127.0.0.1.
    with LabHttpServer(bind="0.0.0.0") as server:
        yield server


def run_check(inventory: Path, *args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "console", "-i", str(inventory), "--check", "--format", "json", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stderr == "", done.stderr
    return done.returncode, json.loads(done.stdout)


def by_key(report: dict[str, Any]) -> dict[tuple[str, str, str | None], dict[str, Any]]:
    return {(r["node"], r["check"], r["target"]): r for r in report["results"]}


def test_services_and_prometheus_in_one_check_run(
    ssh_lab: SshLab,
    gpu_node: LabNode,
    prometheus_lab: PrometheusLab,
    web: LabHttpServer,
    exposed: LabHttpServer,
    tmp_path: Path,
) -> None:
    text = ssh_lab.inventory_yaml([gpu_node])
    text = text.replace("nodes:\n", f"prometheus: {{url: '{prometheus_lab.url}', via: gpu1}}\nnodes:\n", 1)
    text += (
        "    services:\n"
        f"      - {{name: comfy, port: {web.port}, bind: 127.0.0.1, http: {{path: /, expect: 200}}}}\n"
        f"      - {{name: webui, port: {exposed.port}, bind: 127.0.0.1, http: {{scheme: https}}}}\n"
    )
    inventory = tmp_path / "lab.yaml"
    inventory.write_text(text)
    code, report = run_check(inventory)
    results = by_key(report)
    assert results[("gpu1", "service.http", "comfy")]["status"] == "ok"
    assert results[("gpu1", "service.bind", "comfy")]["status"] == "ok"
    assert results[("gpu1", "service.bind", "webui")]["status"] == "critical"  # listens on 0.0.0.0
    mismatch = results[("gpu1", "service.tls_mismatch", "webui")]
    assert mismatch["status"] == "critical"
    assert mismatch["fix"] == f"troubleshoot tls-mismatch (use http://127.0.0.1:{exposed.port}/)"
    # The fleet's Prometheus, reached through gpu1's SSH connection: one target down, one alert firing.
    down = [r for r in report["results"] if r["check"] == "prometheus.targets" and r["status"] == "critical"]
    assert len(down) == 1
    assert down[0]["node"] == "gpu1"
    alerts = [r for r in report["results"] if r["check"] == "prometheus.alerts"]
    assert any(r["status"] == "critical" and r["target"] == "LabAlwaysFiring" for r in alerts)
    assert code == 2

    only_gpu = run_check(inventory, "--only", "gpu.*", "--only", "ssh.*")[1]
    assert {r["check"].split(".")[0] for r in only_gpu["results"]} == {"gpu", "ssh"}


def test_gpu_pane_from_prometheus(
    ssh_lab: SshLab, plain_node: LabNode, prometheus_lab: PrometheusLab, tmp_path: Path
) -> None:
    # plain1 has no nvidia-smi at all: its GPUs come from the DCGM series the lab exporter publishes for gpu1.
    text = ssh_lab.inventory_yaml(
        [plain_node], gpus={"plain1": {"count": 2, "model": "H100", "source": "prometheus"}}
    )
    text = text.replace("nodes:\n", f"prometheus: {{url: '{prometheus_lab.url}'}}\nnodes:\n", 1)
    text = text.replace("  plain1:\n", "  gpu1:\n", 1)  # the exporter labels its series Hostname=gpu1
    inventory = tmp_path / "lab.yaml"
    inventory.write_text(text.replace("plain1", "gpu1"))
    _, report = run_check(inventory, "--node", "gpu1")
    results = by_key(report)
    assert results[("gpu1", "gpu.count", None)]["status"] == "ok"
    assert results[("gpu1", "gpu.model", None)]["status"] == "ok"
    assert results[("gpu1", "gpu.temperature", None)]["summary"].startswith("hottest GPU")


def test_a_hung_mount_does_not_hold_up_the_run(
    ssh_lab: SshLab,
    gpu_node: LabNode,
    mount_lab: MountLab,
    frozen_mount: FuseMount,
    nfs_server: NfsServer,
    tmp_path: Path,
) -> None:
    # nfs1's FUSE mounts pass for NFS in its own mount namespace; one has its daemon frozen: a hung mount.
    text = ssh_lab.inventory_yaml([gpu_node, mount_lab.node])
    text += (
        "    mounts:\n"
        f"      - {{path: '{mount_lab.models.mountpoint}', source: '127.0.0.1:/export/models', mode: ro}}\n"
        f"      - {{path: '{frozen_mount.mountpoint}', mode: ro, timeout: 2}}\n"
        "      - {path: /mnt/nowhere, fstype: nfs4}\n"
    )
    inventory = tmp_path / "lab.yaml"
    inventory.write_text(text)
    code, report = run_check(inventory, "--timeout", "20")
    results = by_key(report)
    frozen = results[("nfs1", "nfs.responsive", frozen_mount.mountpoint)]
    assert frozen["status"] == "critical", frozen
    assert frozen["summary"].startswith("hung")
    assert results[("nfs1", "nfs.responsive", mount_lab.models.mountpoint)]["status"] == "ok"
    assert results[("nfs1", "nfs.mode", mount_lab.models.mountpoint)]["status"] == "ok"
    assert results[("nfs1", "nfs.mounted", "/mnt/nowhere")]["status"] == "critical"
    assert results[("nfs1", "nfs.server", "127.0.0.1")]["status"] == "ok"  # the real ganesha answers on 2049
    assert results[("gpu1", "gpu.present", None)]["status"] == "ok"  # the other node is complete
    assert report["duration_s"] < 20  # bounded by the mount's own 2 s deadline, not the run's timeout
    assert code == 2


def test_docker_through_the_ssh_connection(
    ssh_lab: SshLab, gpu_node: LabNode, docker_lab: DockerLab, tmp_path: Path
) -> None:
    # The real dockerd's socket, forwarded over gpu1's SSH connection; containers publish in their own netns.
    text = ssh_lab.inventory_yaml([gpu_node], gpus={"gpu1": {"count": 1}})
    text += (
        f"    docker: {{socket: '{docker_lab.socket}', containers: [web, done, crash]}}\n"
        "    services:\n"
        "      - {name: public, container: public, port: 18081, bind: 127.0.0.1}\n"
    )
    inventory = tmp_path / "lab.yaml"
    inventory.write_text(text)
    code, report = run_check(inventory)
    results = by_key(report)
    assert results[("gpu1", "docker.engine", None)]["status"] == "ok"
    assert results[("gpu1", "docker.tcp_api", None)]["status"] == "ok"
    # GPUs expected, but this daemon has no nvidia runtime.
    assert results[("gpu1", "docker.nvidia_runtime", None)]["status"] == "critical"
    assert results[("gpu1", "container.running", "web")]["status"] == "ok"
    assert results[("gpu1", "container.running", "done")]["status"] == "critical"
    # `crash` exits at once under --restart always: caught while restarting it is a loop (critical), caught
    # between restarts its growing count is judged against the thresholds (warn 1, crit 5).
    crash = results[("gpu1", "container.restarts", "crash")]
    assert crash["status"] in ("warning", "critical"), crash
    assert "restart" in crash["summary"]
    assert results[("gpu1", "container.health", "sick")]["status"] == "critical"
    # Docker publishes `public` on 0.0.0.0 although the inventory wants 127.0.0.1.
    bind = results[("gpu1", "service.bind", "public")]
    assert bind["status"] == "critical"
    assert "127.0.0.1:18081" in (bind["fix"] or "")
    assert code == 2


def test_stack_detector_runs_under_the_read_only_handle(
    ssh_lab: SshLab, gpu_node: LabNode, docker_lab: DockerLab, tmp_path: Path
) -> None:
    # --check wraps every transport read-only: the AI stack detector's reads must be registered as such.
    root = tmp_path / "node"
    text = ssh_lab.inventory_yaml([gpu_node])
    text += (
        f"    docker: {{socket: '{docker_lab.socket}'}}\n"
        f"    ai_stack: {{nvme_root: '{root}/nvme', ssd_root: '{root}/ssd', project_dir: '{root}/proj'}}\n"
    )
    inventory = tmp_path / "lab.yaml"
    inventory.write_text(text)
    _, report = run_check(inventory)
    assert "errors" not in report
    stack = by_key(report)[("gpu1", "stack.comfy_mnt", "comfy")]
    assert stack["status"] == "critical"
    assert stack["summary"].startswith("AI stack not brought up")
    assert stack["fix"].startswith("troubleshoot comfy-mnt-ownership")


def test_a_frozen_dockerd_costs_the_docker_section_only(
    ssh_lab: SshLab, gpu_node: LabNode, docker_lab: DockerLab, tmp_path: Path
) -> None:
    # The real dockerd, stopped with SIGSTOP: its socket accepts and nothing answers. gpu1's SSH and GPU
    # results answered in time and must stand; only Docker's checks say it timed out.
    text = ssh_lab.inventory_yaml([gpu_node], gpus={"gpu1": {"count": 1}})
    text += f"    docker: {{socket: '{docker_lab.tcp_socket}'}}\n"
    inventory = tmp_path / "lab.yaml"
    inventory.write_text(text)
    frozen = docker_lab.tcp.pid
    os.kill(frozen, signal.SIGSTOP)
    try:
        started = time.monotonic()
        code, report = run_check(inventory, "--timeout", "4")
        elapsed = time.monotonic() - started
    finally:
        os.kill(frozen, signal.SIGCONT)
    results = by_key(report)
    assert elapsed < 4 + 3, report
    assert results[("gpu1", "ssh.reachable", None)]["status"] == "ok"
    assert results[("gpu1", "gpu.count", None)]["status"] == "ok", results[("gpu1", "gpu.count", None)]
    gpu = [r for (_, check, _), r in results.items() if check.startswith("gpu.")]
    assert all("timed out" not in r["summary"] for r in gpu), gpu
    engine = results[("gpu1", "docker.engine", None)]
    assert engine["status"] in ("critical", "unknown"), engine
    assert "timed out after" in engine["summary"], engine
    assert code == 2
