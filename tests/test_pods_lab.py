"""Pods over real SSH: a lab sshd node that is a container (a marker file in its own mount namespace, no
Docker socket, no systemd) gives a clean `--check` with `kind: pod` and with detection; `kind: host` on the
same node keeps the missing Docker critical."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.collectors.basics import collect_basics
from console.streams.basics_shell import BasicsStream
from console.transport import SSHTransport
from tests.lab.daemon import ns_exec
from tests.lab.models import lab_node_model
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


# --- a pod's own cgroup limits in its basics ---------------------------------------------------------------

V1 = Path("/sys/fs/cgroup")
LIMIT_BYTES = 512 * 1024 * 1024


def machine_mem_kib() -> int:
    return int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])


@pytest.fixture
def limited_pod(ssh_lab: SshLab) -> Iterator[LabNode]:
    """A lab node put in cgroup v1 groups of its own (512 MiB, half a CPU) that its mount namespace sees as
    /sys/fs/cgroup/{memory,cpu,cpuacct}, as Docker's v1 bind mounts show a container its own groups."""
    if not (V1 / "memory" / "memory.limit_in_bytes").exists():
        pytest.skip("no cgroup v1 memory hierarchy here (v2: test_a_cgroup_v2_pod_reads_its_limits)")
    node = ssh_lab.start_node("pod-limited", gpu_capture=None, mount_namespace=True)
    groups: list[Path] = []
    try:
        for controller in ("memory", "cpu", "cpuacct"):
            group = (V1 / controller).resolve() / f"opsconsole-pod-{node.port}"
            if group not in groups:
                group.mkdir()
                groups.append(group)
            (group / "cgroup.procs").write_text(str(node.process.pid))
        memory, cpu = ((V1 / name).resolve() / f"opsconsole-pod-{node.port}" for name in ("memory", "cpu"))
        (memory / "memory.limit_in_bytes").write_text(str(LIMIT_BYTES))
        (cpu / "cpu.cfs_period_us").write_text("100000")
        (cpu / "cpu.cfs_quota_us").write_text("50000")
        for controller in ("memory", "cpu", "cpuacct"):
            group = (V1 / controller).resolve() / f"opsconsole-pod-{node.port}"
            done = ns_exec(
                node.process.pid, ["mount", "--bind", str(group), str((V1 / controller).resolve())]
            )
            assert done.returncode == 0, done.stderr
        yield node
    finally:
        node.stop()
        for group in groups:
            for _ in range(50):  # the node's processes leave their groups as they are reaped
                try:
                    group.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


async def test_a_pods_basics_are_its_own_cgroup_limits(ssh_lab: SshLab, limited_pod: LabNode) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, limited_pod, kind="pod"))
    stream = BasicsStream(transport, disks=())
    try:
        first = await stream.read()
        await asyncio.sleep(0.5)
        second = await stream.read()
    finally:
        await stream.close()
        await transport.close()
    assert machine_mem_kib() > LIMIT_BYTES // 1024  # else the test says nothing
    assert second.error is None
    assert second.mem_total_kib == LIMIT_BYTES // 1024
    assert second.mem_available_kib is not None
    assert 0 < second.mem_available_kib < LIMIT_BYTES // 1024  # the pod's shells use some of it
    assert second.cpus == 1  # half a CPU's quota, rounded up
    assert first.cpu_ticks is not None
    assert second.cpu_ticks is not None
    assert second.cpu_ticks[1] - first.cpu_ticks[1] < 100  # half a CPU's ticks over ~0.5 s, not the host's
    assert second.cpu_pct is not None
    assert 0 <= second.cpu_pct <= 100  # of the pod's quota


async def test_a_host_shell_keeps_the_machines_figures(ssh_lab: SshLab, plain_node: LabNode) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, plain_node))
    try:
        basics = await collect_basics(transport, disks=())
    finally:
        await transport.close()
    assert basics.mem_total_kib == machine_mem_kib()


V2_FILES = {
    "cgroup.controllers": "cpuset cpu io memory pids",
    "memory.max": "268435456",
    "memory.current": "73400320",
    "cpu.max": "150000 100000",
    "cpu.stat": "usage_usec 4000000\nuser_usec 3000000\nsystem_usec 1000000",
    "memory.stat": "anon 20971520\nfile 52428800\nactive_file 31457280\ninactive_file 20971520",
}


@pytest.fixture
def v2_pod(ssh_lab: SshLab) -> Iterator[LabNode]:
    """A lab node whose /sys/fs/cgroup is a cgroup v2 container's own view, its files as a pod's kernel
    writes them (256 MiB, 1.5 CPUs of quota): the shell's v2 branch on a machine that mounts v1."""
    node = ssh_lab.start_node("pod-v2", gpu_capture=None, mount_namespace=True)
    writes = "; ".join(f"printf '%s\\n' '{text}' > /sys/fs/cgroup/{name}" for name, text in V2_FILES.items())
    script = f"mount -t tmpfs -o size=1m pod-cgroup /sys/fs/cgroup && {writes}"
    done = ns_exec(node.process.pid, ["sh", "-c", script])
    assert done.returncode == 0, done.stderr
    yield node
    node.stop()


async def test_a_cgroup_v2_pod_reads_its_limits(ssh_lab: SshLab, v2_pod: LabNode) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, v2_pod, kind="pod"))
    try:
        basics = await collect_basics(transport, disks=())
    finally:
        await transport.close()
    assert basics.error is None
    assert basics.mem_total_kib == 262144
    assert basics.mem_available_kib == 262144 - (73400320 - 20971520) // 1024
    assert basics.cpus == 2  # 1.5, rounded up
    assert basics.cpu_ticks is not None
    assert basics.cpu_ticks[0] == 400  # 4 s of CPU time in ticks
