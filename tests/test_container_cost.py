"""Containers' own cost from their cgroup files through the kept basics shell: the real lab dockerd, and
cgroup v2's files in a tree laid out as the kernel does (the lab machine runs cgroup v1)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.collectors.basics import STREAM_SCRIPT
from console.collectors.cgroups import (
    CGROUP_FUNCTION,
    cgroup_request,
    local_cgroup_line,
    parse_cgroup_line,
    with_cpu_pct,
)
from console.collectors.docker import close_docker_clients, collect_docker
from console.collectors.docker_model import apply_inspect, parse_container
from console.inventory.model import DockerSettings
from console.model.docker import ContainerCost, ContainerInfo
from console.streams.basics_shell import BasicsStream
from console.streams.docker_events import DockerWatcher
from console.transport import SSHTransport
from tests.lab.docker_fixtures import IMAGE, DockerLab
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab
from widgets.node_tables import container_cells

ID = "ab" * 32


def cpu_usage_ns(pid: int, container_id: str) -> int:
    """The container's CPU time, read by the test straight from its cgroup v1 cpuacct file."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpuacct" in controllers.split(",") and container_id in path:
            return int(Path(f"/sys/fs/cgroup/cpuacct{path}/cpuacct.usage").read_text())
    raise AssertionError("no cpuacct cgroup for the container")


MIB = 1024 * 1024


async def test_a_container_under_cpu_and_memory_limits_costs_what_its_cgroup_says(
    docker_lab: DockerLab, ssh_lab: SshLab, plain_node: LabNode
) -> None:
    name = f"burn-{os.getpid()}"
    container_id = docker_lab.run_container(
        name, "--cpus", "0.5", "-m", "64m", IMAGE, "sh", "-c", "while :; do :; done"
    )
    node = lab_node_model(ssh_lab, plain_node, docker=DockerSettings(socket=docker_lab.socket))
    transport = SSHTransport(node)
    watcher = DockerWatcher(transport, node)
    stream = BasicsStream(transport, disks=())  # the containers come from the node's watcher
    try:
        listed = await watcher.first(10)
        first = await stream.read()
        pid = docker_lab.main.inspect(name)["State"]["Pid"]
        usage, started = cpu_usage_ns(pid, container_id), time.monotonic()
        await asyncio.sleep(2.0)
        truth = (cpu_usage_ns(pid, container_id) - usage) / 1e9 / (time.monotonic() - started) * 100
        second = await stream.read()
    finally:
        await stream.close()
        await watcher.close()
        await close_docker_clients(transport)
        await transport.close()
        docker_lab.remove(name)
    assert listed is not None
    assert listed.error is None
    burner = listed.container(name)
    assert burner is not None
    assert burner.pid == pid
    before, cost = first.container(container_id), second.container(container_id)
    assert before is not None
    assert before.cpu_pct is None  # one read: no delta yet
    assert cost is not None
    assert cost.cgroup == "v1"  # what this lab's kernel runs (hybrid: the unified tree has no controllers)
    assert cost.cpu_limit == pytest.approx(0.5)
    assert cost.cpu_pct is not None
    # What the cgroup's own counter says over the same seconds, and never above the quota. On a busy
    # 2-core machine the container can get less than its half core, so "near 50" is asserted only as
    # near the truth and below the limit.
    assert cost.cpu_pct == pytest.approx(truth, abs=8.0)
    assert 15.0 < cost.cpu_pct <= 50.0 + 8.0
    assert cost.mem_limit_bytes == 64 * MIB
    assert not cost.mem_unlimited
    assert cost.mem_used_bytes is not None
    assert 0 < cost.mem_used_bytes < 64 * MIB
    web = second.container(listed.container("web").id)  # type: ignore[union-attr]
    assert web is not None
    assert web.mem_unlimited
    assert web.mem_limit_bytes is None
    assert web.cpu_unlimited
    assert stream.starts == 1


async def test_restarts_exit_code_and_health_from_the_watchers_inspect_data(
    docker_lab: DockerLab, ssh_lab: SshLab, plain_node: LabNode
) -> None:
    node = lab_node_model(
        ssh_lab, plain_node, docker=DockerSettings(socket=docker_lab.socket, containers=("done",))
    )
    transport = SSHTransport(node)
    deadline = time.monotonic() + 15
    try:
        while True:  # `crash` loops: catch it between two runs, when its last exit code stands
            snapshot = await collect_docker(transport, node)
            crash = snapshot.container("crash")
            if crash is None or crash.state != "running" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
    finally:
        await close_docker_clients(transport)
        await transport.close()
    done, web, sick = (snapshot.container(name) for name in ("done", "web", "sick"))
    assert done is not None
    assert done.exit_code == 3
    assert done.pid is None
    assert crash is not None
    assert crash.exit_code == 1
    assert crash.restart_count is not None
    assert crash.restart_count >= 1
    assert web is not None
    assert (web.health, web.exit_code) == ("healthy", None)
    assert web.pid is not None
    assert sick is not None
    assert sick.health == "unhealthy"


@pytest.mark.parametrize(
    ("status", "state", "code"),
    [
        ("Exited (3) 5 minutes ago", "exited", 3),
        ("Restarting (1) 2 seconds ago", "restarting", 1),
        ("Exited (137) About a minute ago", "exited", 137),
        ("Up 5 minutes", "running", None),
        ("Exited (3) x", "running", None),
        ("Created", "created", None),
    ],
)
def test_exit_code_from_the_list_without_an_inspect(status: str, state: str, code: int | None) -> None:
    container = parse_container({"Id": ID, "Names": ["/x"], "State": state, "Status": status})
    assert container.exit_code == code


def test_inspect_gives_the_pid_of_a_running_container_only() -> None:
    base = ContainerInfo(ID, "x", "img", "running", "Up")
    running = apply_inspect(base, {"State": {"Status": "running", "Pid": 4242, "ExitCode": 0}})
    assert (running.pid, running.exit_code) == (4242, None)
    exited = apply_inspect(base, {"State": {"Status": "exited", "Pid": 0, "ExitCode": 2}})
    assert (exited.pid, exited.exit_code) == (None, 2)
    odd = apply_inspect(base, {"State": {"Status": "running", "Pid": "4242", "ExitCode": True}})
    assert odd.pid is None


def test_only_hex_ids_and_pids_reach_the_shell() -> None:
    good = ContainerInfo(ID, "a", "i", "running", "Up", pid=7)
    hostile = ContainerInfo("x; reboot", "b", "i", "running", "Up", pid=8)
    no_pid = ContainerInfo("cd" * 32, "c", "i", "exited", "Exited (0)")
    assert cgroup_request([good, hostile, no_pid]) == f" {ID}:7"


def v2_tree(root: Path, where: str) -> None:
    """A cgroup v2 mount's files for one container, in the kernel's formats."""
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    group = root / where.lstrip("/")
    group.mkdir(parents=True)
    (group / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    (group / "cpu.max").write_text("50000 100000\n")
    (group / "memory.current").write_text("73400320\n")
    (group / "memory.max").write_text("134217728\n")
    stat = "anon 52428800\nfile 20971520\nactive_anon 0\ninactive_anon 52428800\nactive_file 10485760\n"
    (group / "memory.stat").write_text(stat + "inactive_file 10485760\nslab 1024\n")


def run_shell(root: Path, request: str) -> list[str]:
    script = STREAM_SCRIPT.replace("G=/sys/fs/cgroup\n", f"G={root}\n", 1)
    assert script != STREAM_SCRIPT
    result = subprocess.run(["dash", "-c", script], input=request, capture_output=True, text=True, check=True)
    assert result.stderr == ""
    return [line for line in result.stdout.splitlines() if line.startswith("@@cgroup")]


@pytest.mark.parametrize("where", [f"/system.slice/docker-{ID}.scope", f"/docker/{ID}"])
def test_cgroup_v2_files_read_by_the_shell_and_in_process_alike(tmp_path: Path, where: str) -> None:
    v2_tree(tmp_path, where)
    (line,) = run_shell(tmp_path, f"1 {ID}:999999999\n")  # no such pid: Docker's default places
    assert line == f"@@cgroup 1|{ID}|2|2500000|50000|100000|73400320|134217728|10485760"
    assert local_cgroup_line("1", ID, 999999999, root=str(tmp_path)) == line
    cost = parse_cgroup_line(line.removeprefix("@@cgroup "))
    assert cost == ContainerCost(
        ID,
        cgroup="v2",
        cpu_usage_ns=2_500_000_000,
        cpu_limit=0.5,
        mem_used_bytes=73400320 - 10485760,  # less the inactive file cache, as docker stats
        mem_limit_bytes=128 * MIB,
    )


def test_cgroup_v2_without_limits_says_unlimited(tmp_path: Path) -> None:
    v2_tree(tmp_path, f"/docker/{ID}")
    (tmp_path / "docker" / ID / "cpu.max").write_text("max 100000\n")
    (tmp_path / "docker" / ID / "memory.max").write_text("max\n")
    (line,) = run_shell(tmp_path, f"1 {ID}:999999999\n")
    cost = parse_cgroup_line(line.removeprefix("@@cgroup "))
    assert cost is not None
    assert (cost.cpu_unlimited, cost.cpu_limit, cost.mem_unlimited, cost.mem_limit_bytes) == (
        True,
        None,
        True,
        None,
    )


def test_a_container_without_a_cgroup_is_unknown_not_zero(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory\n")
    (line,) = run_shell(tmp_path, f"1 {ID}:999999999\n")
    cost = parse_cgroup_line(line.removeprefix("@@cgroup "))
    assert cost == ContainerCost(ID)
    assert (cost.cpu_usage_ns, cost.mem_used_bytes, cost.mem_limit_bytes) == (None, None, None)


def test_unreadable_cgroup_values_are_unknown() -> None:
    cost = parse_cgroup_line(f"1|{ID}|2|nan|-5|0|x|||")
    assert cost is not None
    assert (cost.cpu_usage_ns, cost.cpu_limit, cost.mem_used_bytes, cost.mem_limit_bytes) == (
        None,
        None,
        None,
        None,
    )
    assert parse_cgroup_line("1|not-an-id|2|1|1|1|1|1|1") is None


def test_container_cpu_percent_needs_two_reads_and_a_steady_counter() -> None:
    then = (ContainerCost(ID, "v2", cpu_usage_ns=1_000_000_000),)
    now = (ContainerCost(ID, "v2", cpu_usage_ns=2_000_000_000),)
    assert with_cpu_pct(now, then, 2.0)[0].cpu_pct == pytest.approx(50.0)
    assert with_cpu_pct(now, (), 2.0)[0].cpu_pct is None
    assert with_cpu_pct(then, now, 2.0)[0].cpu_pct is None  # restarted: its counter began again
    assert with_cpu_pct(now, then, None)[0].cpu_pct is None


def test_the_shell_function_is_part_of_the_kept_shell() -> None:
    assert CGROUP_FUNCTION in STREAM_SCRIPT


def test_containers_table_cells_show_cost_limits_and_exit_code() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    running = ContainerInfo(ID, "burn", "img", "running", "Up", started_at=now, pid=7)
    cost = ContainerCost(
        ID, "v1", cpu_pct=49.6, cpu_limit=0.5, mem_used_bytes=3 * MIB, mem_limit_bytes=64 * MIB
    )
    cells = container_cells(running, now, cost=cost)
    assert (cells["cpu"].plain, cells["mem"].plain, cells["exit"].plain) == ("50%/0.5", "3.0M/64M", "–")
    first = container_cells(
        running, now, cost=ContainerCost(ID, "v1", mem_used_bytes=3 * MIB, mem_unlimited=True)
    )
    assert (first["cpu"].plain, first["mem"].plain) == ("–", "3.0M")  # no rate yet, no limit set
    exited = ContainerInfo("cd" * 32, "done", "img", "exited", "Exited (3) 1 minute ago", exit_code=3)
    cells = container_cells(exited, now)
    assert (cells["cpu"].plain, cells["mem"].plain, cells["exit"].plain) == ("–", "–", "3")
