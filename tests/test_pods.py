"""Pods are not hosts: `kind` in the inventory, the pod probe (run by a real shell here), and the Docker
rules' pod branch (one skipped line on a pod, a host's missing Docker still critical)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import console.sections  # noqa: F401  (registers the sections: their commands go into the allow-list)
from console.checks.docker_rules import evaluate_docker
from console.checks.model import Status
from console.collectors.basics import parse_report
from console.collectors.docker_model import DockerSnapshot, EngineInfo
from console.inventory import InventoryError, load_inventory
from console.inventory.locate import bundled_inventory
from console.inventory.model import DockerSettings, Node, ServiceSpec
from console.model.gpu import GpuProcess
from console.model.tunnels import planned_tunnels
from console.pods import (
    NO_DOCKER,
    POD_PROBE,
    PodSigns,
    detect,
    no_docker,
    own_processes,
    parse_pod_probe,
    pod_reason,
)
from console.transport.local import LocalTransport
from console.transport.readonly import is_read_only

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
MISSING = "no Docker socket at /var/run/docker.sock (is dockerd running?)"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the inventory's `kind` -------------------------------------------------------------------------------


def test_kind_from_defaults_group_and_node(tmp_path: Path) -> None:
    inventory = load_inventory(
        write(
            tmp_path,
            """
version: 1
defaults: {kind: host}
groups:
  pods: {kind: pod}
nodes:
  head: {host: 10.0.0.1, groups: [pods]}
  worker: {host: 10.0.0.2, groups: [pods], kind: host}
  box: {host: 10.0.0.3}
  asks: {host: 10.0.0.4, kind: null}
""",
        )
    )
    kinds = {node.name: node.kind for node in inventory.nodes}
    assert kinds == {"head": "pod", "worker": "host", "box": "host", "asks": None}
    assert Node("n", "h").kind is None  # unset: the node is asked where it matters


def test_a_wrong_kind_is_reported_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nnodes:\n  a:\n    host: 10.0.0.1\n    kind: container\n")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert (caught.value.line, caught.value.key) == (5, "nodes.a.kind")
    assert "one of host, pod" in caught.value.message


# --- the probe ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "container", "described"),
    [
        ("marker /.dockerenv\ninit sleep\n", True, "/.dockerenv, PID 1 is sleep, no systemd"),
        ("marker /run/.containerenv\ninit systemd\nsystemd\n", True, "/run/.containerenv"),
        ("init bash\n", True, "PID 1 is bash, no systemd"),  # a pod whose runtime leaves no marker
        ("init systemd\nsystemd\n", False, ""),  # a host
        ("init init\n", False, "no systemd"),  # a host with SysV init
        ("init runit\n", False, "no systemd"),
        ("init \n", False, "no systemd"),  # PID 1 not readable: not enough to call it a pod
        ("marker /etc/passwd\ninit systemd\nsystemd\n", False, ""),  # only the runtimes' markers count
    ],
)
def test_pod_signs(output: str, container: bool, described: str) -> None:
    signs = parse_pod_probe(output)
    assert signs.container is container
    assert signs.describe() == described


def test_a_hostile_pid_1_name_is_one_clean_line() -> None:
    signs = parse_pod_probe("init \x1b[31mevil\x07\n")
    assert signs.init is not None
    assert "\x1b" not in signs.init
    assert "\x07" not in signs.init
    assert signs.container


def this_machine() -> PodSigns:
    markers = tuple(path for path in ("/.dockerenv", "/run/.containerenv") if os.path.exists(path))
    init = Path("/proc/1/comm").read_text(encoding="utf-8").strip()
    return PodSigns(markers, init, os.path.isdir("/run/systemd/system"))


async def test_the_probe_in_a_real_shell_sees_what_this_machine_is() -> None:
    signs = await detect(LocalTransport("here"))
    assert signs == this_machine()


def test_the_probe_is_on_the_read_only_allow_list() -> None:
    assert is_read_only(POD_PROBE)


async def test_kind_wins_over_the_probe() -> None:
    transport = LocalTransport("here")
    assert await pod_reason(transport, Node("n", "h", kind="pod")) == "kind: pod"
    assert await pod_reason(transport, Node("n", "h", kind="host")) is None


# --- the Docker rules' pod branch --------------------------------------------------------------------------


def pod_node(**fields: object) -> Node:
    return Node("pod1", "10.0.0.1", docker=DockerSettings(), **fields)  # type: ignore[arg-type]


def test_a_pod_without_docker_is_one_skipped_line() -> None:
    snapshot = DockerSnapshot("pod1", NOW, None, error=MISSING, pod="kind: pod")
    results = evaluate_docker(pod_node(kind="pod"), snapshot)
    assert [(r.check, r.status, r.summary) for r in results] == [
        ("docker.engine", Status.SKIPPED, f"{NO_DOCKER} (kind: pod)")
    ]
    assert results[0].fix is None


def test_a_host_that_lost_its_docker_is_still_critical() -> None:
    snapshot = DockerSnapshot("gpu1", NOW, None, error=MISSING)  # pod: None, the collector found a host
    results = evaluate_docker(pod_node(kind="host"), snapshot)
    assert results[0].check == "docker.engine"
    assert results[0].status is Status.CRITICAL
    assert len(results) == 3  # the engine's two other checks skipped with the cause


def test_a_pod_whose_inventory_names_containers_still_fails_without_docker() -> None:
    snapshot = DockerSnapshot("pod1", NOW, None, error=MISSING, pod="kind: pod")
    named = Node("pod1", "h", kind="pod", docker=DockerSettings(containers=("trainer",)))
    assert evaluate_docker(named, snapshot)[0].status is Status.CRITICAL
    service = Node("pod1", "h", kind="pod", docker=DockerSettings(), services=(ServiceSpec("ui", 80, "ui"),))
    assert evaluate_docker(service, snapshot)[0].status is Status.CRITICAL
    assert no_docker(named, snapshot) is None


def test_a_docker_that_answered_is_judged_as_everywhere() -> None:
    engine = EngineInfo("27.0.1", "1.46", ("runc",), "runc", False, (), False)
    snapshot = DockerSnapshot("pod1", NOW, engine, error="Docker API error 500: boom", pod="kind: pod")
    assert no_docker(pod_node(kind="pod"), snapshot) is None
    assert evaluate_docker(pod_node(kind="pod"), snapshot)[0].status is Status.CRITICAL


def test_pod_signs_default_is_a_host() -> None:
    assert not PodSigns().container


# --- the bundled split-plane inventory ---------------------------------------------------------------------


def test_runpod_describes_the_split_plane_end_to_end() -> None:
    inventory = load_inventory(bundled_inventory("runpod"))
    pods = inventory.nodes
    assert {node.kind for node in pods} == {"pod"}
    assert {node.ssh.user for node in pods} == {"root"}
    assert all(node.ssh.port not in (None, 22) for node in pods)  # each pod on its own mapped port
    gpus = {node.name: node.gpus for node in pods if node.gpus is not None}
    assert {(g.source, g.exporter_port) for g in gpus.values()} == {("prometheus", 9400)}
    head = inventory.node("pod-head")
    assert head.gpus is None
    assert {node.slurm.via if node.slurm else None for node in pods} == {"pod-head"}
    dcgm = {spec.node for spec in planned_tunnels(inventory) if spec.scrape and spec.remote_port == 9400}
    assert dcgm == set(gpus)
    assert inventory.prometheus is not None
    assert inventory.prometheus.url == "http://127.0.0.1:9090"
    assert inventory.prometheus.via is None  # the local Prometheus, not one on a pod


def test_runpod_is_listed_with_its_first_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "console", "inventory", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (entry,) = [line for line in done.stdout.splitlines() if line.split()[:1] == ["runpod"]]
    assert "split plane" in entry
    assert "pods" in entry


# --- a container's own limits in the basics report ---------------------------------------------------------

REPORT = "@@basics -|0.10 0.20 0.30 1/100 42|1000.00 900.00|cpu 10 0 10 80 0 0 0 0 0 0|0 0|6.1.0|pod|0-63|"
MEMINFO = " MemTotal:1048576 MemAvailable:524288 SwapTotal:0 SwapFree:0"


@pytest.mark.parametrize(
    ("words", "total", "available", "cpus", "ticks"),
    [
        # cgroup v2: 256 MiB limit, 200 MiB used of which 100 MiB inactive page cache, 4 CPUs of quota
        (
            " CgMax:268435456 CgCur:209715200 CgQuota:400000 CgPeriod:100000 CgUsec:5000000"
            " CgInactive:104857600",
            262144,
            262144 - 102400,
            4,
            (500, 400000),
        ),
        # no memory limit ("max"), no CPU quota: the machine's figures, its CPU time against every CPU
        (" CgMax:max CgCur:1 CgQuota:max CgPeriod:100000 CgUsec:50000", 1048576, 524288, 64, (5, 6400000)),
        # a limit above the machine's memory binds nothing; v1's quota -1 is none
        (
            " CgMax:9223372036854771712 CgCur:5 CgQuota:-1 CgPeriod:100000 CgNsec:70000000",
            1048576,
            524288,
            64,
            (7, 6400000),
        ),
        # v1 with a quota of 1.5 CPUs and its CPU time in ns
        (" CgMax:x CgQuota:150000 CgPeriod:100000 CgNsec:3000000000", 1048576, 524288, 2, (300, 150000)),
        # more used than the limit (a moment over it): nothing available, never negative
        (" CgMax:1048576 CgCur:2097152", 1024, 0, 64, (20, 100)),  # no CPU time read: /proc/stat's
    ],
)
def test_own_limits_replace_the_machines_figures(
    words: str, total: int, available: int, cpus: int, ticks: tuple[int, int]
) -> None:
    basics = parse_report("pod", REPORT + MEMINFO + words, taken_at=NOW)
    assert (basics.mem_total_kib, basics.mem_available_kib, basics.cpus) == (total, available, cpus)
    assert basics.cpu_ticks == ticks


@pytest.mark.parametrize(
    ("uptime", "words"),
    [
        ("1000.00", " CgQuota:1" + "0" * 400 + " CgPeriod:1 CgUsec:5"),  # int / int past a float
        ("1e307", " CgQuota:150000 CgPeriod:100000 CgUsec:5"),  # its CPUs' time since boot past a float
    ],
)
def test_cgroup_numbers_past_a_float_are_not_an_exception(uptime: str, words: str) -> None:
    """A container's cgroup files and /proc/uptime are the node's text: figures too large to mean anything
    are unknown, never an OverflowError out of the basics."""
    report = REPORT.replace("|1000.00 900.00|", f"|{uptime} 900.00|")
    basics = parse_report("pod", report + MEMINFO + words, taken_at=NOW)
    assert basics.error is None
    assert basics.mem_total_kib == 1048576


def test_a_pods_gpu_processes_are_not_mapped_to_containers() -> None:
    processes = (GpuProcess(7, "python", 1024.0, "GPU-1", container_id="ab" * 32),)
    assert own_processes(Node("pod1", "h", kind="pod"), processes)[0].container_id is None
    assert own_processes(Node("gpu1", "h"), processes) == processes  # a host's containers stay mapped
