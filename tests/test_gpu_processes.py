"""GPU processes: the real compute-apps capture, cgroup paths as runtimes write them, the replay over SSH."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.collectors.gpu import collect_gpus
from console.collectors.gpu_processes import container_id_from_cgroup, parse_apps_output, parse_compute_apps
from console.transport import SSHTransport
from tests.lab.models import lab_node_model
from tests.lab.sshd import SshLab

H100 = Path(__file__).parent / "fixtures" / "gpu" / "h100-80gb-hbm3"
ID = "4f1c2d3e" * 8


def test_real_compute_apps_capture() -> None:
    lines = (H100 / "load-compute-apps.csv").read_text().splitlines()
    (process,) = parse_compute_apps("\n".join(lines))  # the header line is skipped, units tolerated
    assert (process.pid, process.name, process.used_memory_mib) == (618, "python3", 21610)
    assert process.gpu_uuid == "GPU-862d267a-20ce-32e4-f9da-22573272ba66"


def test_no_processes() -> None:
    assert parse_compute_apps("") == ()
    assert parse_compute_apps("No running processes found\n") == ()


@pytest.mark.parametrize(
    "cgroup",
    [
        f"0::/system.slice/docker-{ID}.scope\n",  # cgroup v2, systemd driver
        f"0::/docker/{ID}\n",  # cgroup v2, cgroupfs driver
        f"12:memory:/docker/{ID}\n11:cpu,cpuacct:/docker/{ID}\n",  # cgroup v1
        f"0::/kubepods.slice/kubepods-burstable.slice/cri-containerd-{ID}.scope\n",
        f"0::/machine.slice/libpod-{ID}.scope/container\n",  # podman
    ],
)
def test_container_id_from_cgroup(cgroup: str) -> None:
    assert container_id_from_cgroup(cgroup) == ID


@pytest.mark.parametrize("cgroup", ["0::/user.slice/user-0.slice/session-3.scope\n", "0::/\n", ""])
def test_host_processes_have_no_container(cgroup: str) -> None:
    assert container_id_from_cgroup(cgroup) is None


def test_apps_output_joins_processes_and_cgroups() -> None:
    text = (
        "618, python3, 21610, GPU-a\n700, ollama, 4000, GPU-b\n"
        f"@@cgroup 618\n0::/system.slice/docker-{ID}.scope\n@@cgroup 700\n0::/user.slice\n"
    )
    first, second = parse_apps_output(text)
    assert (first.pid, first.container_id) == (618, ID)
    assert (second.pid, second.container_id) == (700, None)


async def test_processes_come_back_in_the_same_round_trip_over_ssh(ssh_lab: SshLab) -> None:
    # The node's nvidia-smi replays the real H100 load captures (no GPU on test machines).
    node = ssh_lab.start_node("loaded", gpu_capture="load")
    transport = SSHTransport(lab_node_model(ssh_lab, node))
    try:
        snapshot = await collect_gpus(transport)
    finally:
        await transport.close()
        node.stop()
    assert snapshot.status == "ok"
    assert snapshot.gpus[0].util_gpu_pct == 100
    (process,) = snapshot.processes
    assert (process.pid, process.name, process.used_memory_mib) == (618, "python3", 21610)
