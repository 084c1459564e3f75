"""The Kubernetes screen (`K` from the fleet, and the palette) on deterministic data: the bundled inferno
inventory, the cluster as the kubectl stand-in's JSON says (tests/fixtures/kubernetes: written from the
Kubernetes and GPU Operator API definitions, no API server runs here), GPU reads built here."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.pilot import Pilot

from console.collectors import cri, kubernetes_parse
from console.demo.sources import RecordedSource
from console.inventory.loader import load_inventory
from console.model.cri import CriSnapshot
from console.model.gpu import GpuProcess, GpuReading, GpuSnapshot
from console.model.kubernetes import KubernetesSnapshot
from console.model.node import NodeSnapshot
from console.session import ConsoleSession
from screens.app import OpsConsoleApp
from screens.kubernetes import KubernetesScreen
from widgets.cri_tables import CriContainersTable
from widgets.gpu_tables import ProcessTable
from widgets.k8s_tables import K8sNodeTable, K8sPodTable
from widgets.node_tables import ContainersTable

ROOT = Path(__file__).resolve().parent.parent
INFERNO = ROOT / "inventories" / "inferno.yaml"
KUBE = ROOT / "tests" / "fixtures" / "kubernetes"
CRIO = ROOT / "tests" / "fixtures" / "crio"
AT = datetime(2026, 12, 6, 11, 40, 30, tzinfo=UTC)
NARROW, WIDE = (80, 24), (160, 48)


def cluster() -> KubernetesSnapshot:
    nodes, _ = kubernetes_parse.parse_nodes((KUBE / "nodes.json").read_text())
    pods, _ = kubernetes_parse.parse_pods((KUBE / "pods.json").read_text(), "gpu-operator")
    policies = kubernetes_parse.parse_policies((KUBE / "clusterpolicies.json").read_text())
    return KubernetesSnapshot("bastion", AT, nodes, pods, policies)


def gpus(node: str, model: str, count: int) -> GpuSnapshot:
    readings = tuple(GpuReading(i, f"GPU-{node}-{i}", model, driver="580.95.05") for i in range(count))
    return GpuSnapshot(node, AT, "nvidia-smi", "ok", readings)


def snapshots() -> dict[str, NodeSnapshot]:
    pro = "NVIDIA RTX PRO 6000 Blackwell Server Edition"
    return {
        "bastion": NodeSnapshot(
            "bastion",
            AT,
            True,
            gpu=GpuSnapshot("bastion", AT, "nvidia-smi", "no_tooling"),
            kubernetes=cluster(),
        ),
        # One of the four GPUs has fallen off the bus: the node reports 3, the cluster still allocates 4.
        "inferno-host-compute-1": NodeSnapshot(
            "inferno-host-compute-1", AT, True, gpu=gpus("inferno-host-compute-1", pro, 3)
        ),
        "inferno-host-l40s-1": NodeSnapshot(
            "inferno-host-l40s-1", AT, True, gpu=gpus("inferno-host-l40s-1", "NVIDIA L40S", 1)
        ),
        "inferno-host-l40s-2": NodeSnapshot("inferno-host-l40s-2", AT, False, error="connect timed out"),
    }


def app(shots: dict[str, NodeSnapshot] | None = None) -> OpsConsoleApp:
    source = RecordedSource(shots if shots is not None else snapshots())
    session = ConsoleSession(load_inventory(INFERNO), source, clock=lambda: AT)
    return OpsConsoleApp(session, cursor_blink=False, batch_window_s=0)


async def settle(pilot: Pilot[None]) -> None:
    await pilot.app.settled()
    await pilot.pause()
    await pilot.app.settled()
    await pilot.pause()


async def open_screen(pilot: Pilot[None]) -> None:
    await settle(pilot)
    await pilot.press("K")
    await settle(pilot)


@pytest.mark.parametrize("size", [NARROW, WIDE], ids=["80x24", "160x48"])
def test_kubernetes_screen(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app(), terminal_size=size, run_before=open_screen)


async def test_k_opens_pools_with_gpus_beside_the_nodes_own_count() -> None:
    async with app().run_test(size=WIDE) as pilot:
        await open_screen(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, KubernetesScreen)
        table = screen.query_one(K8sNodeTable)
        assert list(table.rows)[:2] == ["pool|inferno.circle=1", "node|inferno-host-l40s-2"]
        compute = table.cells("node|inferno-host-compute-1")
        assert (compute["alloc"].plain, compute["requested"].plain, compute["reported"].plain) == (
            "4",
            "3",
            "3",
        )
        assert compute["status"].plain == "▲ warn"  # allocatable 4, the node reports 3
        assert compute["taints"].plain == "inferno/gpu=true:NoSchedule"
        down = table.cells("node|inferno-host-l40s-2")
        assert down["ready"].plain == "Unknown"
        assert down["status"].plain == "✖ crit"
        assert table.cells("pool|(no pool)")["node"].plain.startswith("▾ (no pool) · 1/1 Ready")
        pods = screen.query_one(K8sPodTable)
        assert pods.cells("pod|gpu-operator/nvidia-dcgm-exporter-x8b2n")["phase"].plain == "CrashLoopBackOff"
        assert pods.cells("pod|inference/whisper-large-6b8d7c9f5-p4m6x")["node"].plain == "(unscheduled)"
        await pilot.press("escape")
        assert not isinstance(pilot.app.screen, KubernetesScreen)


async def test_an_unreadable_cluster_says_why() -> None:
    shots = snapshots()
    failed = KubernetesSnapshot(
        "bastion", AT, error='kubectl get nodes: exit 1: error: context "x" does not exist'
    )
    shots["bastion"] = replace(shots["bastion"], kubernetes=failed)
    async with app(shots).run_test(size=WIDE) as pilot:
        await open_screen(pilot)
        summary = pilot.app.screen.query_one("#k8s-summary")
        assert 'context "x" does not exist' in str(summary.render())


async def test_palette_lists_kubernetes() -> None:
    async with app().run_test(size=WIDE) as pilot:
        await settle(pilot)
        from screens.commands import ConsoleCommands

        provider = ConsoleCommands(pilot.app.screen, None)  # type: ignore[arg-type]
        names = [name for name, _, _ in provider._commands()]
        assert "Kubernetes" in names
        assert "Kubernetes (K)" in names  # the fleet's binding, listed with its key


def crio_snapshots() -> dict[str, NodeSnapshot]:
    """compute-1 as a CRI-O node: crictl's containers (the stand-in's JSON) and a GPU process whose cgroup
    named the vllm container (crio-<id>.scope)."""
    pods = cri.parse_pods((CRIO / "pods.json").read_text())
    containers, _ = cri.parse_containers((CRIO / "ps.json").read_text(), pods)
    vllm = next(c for c in containers if c.name == "vllm")
    shots = snapshots()
    node = shots["inferno-host-compute-1"]
    assert node.gpu is not None
    first = node.gpu.gpus[0]
    process = GpuProcess(4242, "python3", 70_000.0, first.uuid, container_id=vllm.id)
    gpu = replace(node.gpu, processes=(process,))
    shots["inferno-host-compute-1"] = replace(node, gpu=gpu, cri=CriSnapshot(node.node, AT, containers, pods))
    return shots


async def open_containers(pilot: Pilot[None]) -> None:
    await settle(pilot)
    pilot.app.open_node("inferno-host-compute-1", tab="containers")  # type: ignore[attr-defined]
    await settle(pilot)


def test_crio_containers_tab(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app(crio_snapshots()), terminal_size=WIDE, run_before=open_containers)


async def test_a_crio_node_lists_crictl_containers_and_maps_gpu_processes_to_pods() -> None:
    async with app(crio_snapshots()).run_test(size=WIDE) as pilot:
        await open_containers(pilot)
        screen = pilot.app.screen
        table = screen.query_one(CriContainersTable)
        assert table.display
        assert not screen.query_one(ContainersTable).display
        rows = {cells["name"].plain: cells for cells in (table.cells(key) for key in table.rows)}
        assert set(rows) == {"vllm", "comfyui", "nvidia-device-plugin", "nvidia-dcgm-exporter", "rclone"}
        assert rows["rclone"]["state"].plain == "✖ exited"
        assert rows["rclone"]["restarts"].style == "bold red"  # 7 restarts: past crit (5)
        assert rows["comfyui"]["restarts"].plain == "1"
        assert rows["vllm"]["namespace"].plain == "inference"
        processes = screen.query_one(ProcessTable)
        owner = processes.cells(next(iter(processes.rows)))["container"].plain
        assert owner == "inference/vllm-llama-70b-5f7c9d8b6-2kq4w/vllm"
