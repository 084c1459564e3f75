"""The Kubernetes and CRI-O sections without a node: the inventory keys, the parsers on the stand-ins' JSON
(tests/fixtures/kubernetes, tests/fixtures/crio: written from the Kubernetes core/v1, GPU Operator
ClusterPolicy and CRI definitions, in the shapes kubectl and crictl print; no API server or CRI-O runs here)
and on hostile JSON, the rules, and the read-only allow-list with extreme inventory values."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

import console.sections  # noqa: F401  registers the sections (and their read-only commands)
from console.checks.cri_rules import evaluate_cri
from console.checks.k8s_rules import evaluate_kubernetes, planned_kubernetes
from console.checks.model import Status
from console.collectors import cri, kubernetes_parse
from console.collectors.kubernetes import PODS_SELECTOR, POLICIES, kube_command, label_keys
from console.inventory import InventoryError, load_inventory
from console.inventory.kubernetes import kubernetes_of
from console.model.cri import CriSnapshot
from console.model.kubernetes import KubernetesSettings, KubernetesSnapshot
from console.transport.readonly import is_read_only

FIXTURES = Path(__file__).parent / "fixtures"
KUBE = FIXTURES / "kubernetes"
CRIO = FIXTURES / "crio"

CLUSTER = """version: 1
kubernetes:
  via: bastion
  pool_label: inferno.circle
  expect: {taints: ["inferno/gpu=true:NoSchedule"], labels: ["nvidia.com/gpu.present=true", inferno.circle]}
nodes:
  bastion: {host: 10.0.99.2}
  inferno-host-compute-1: {host: 10.0.99.41, gpus: {count: 4}, containers: {runtime: cri-o}}
  l40s-1: {host: 10.0.99.42, gpus: {count: 1}, kubernetes: {k8s_name: inferno-host-l40s-1}}
  l40s-2: {host: inferno-host-l40s-2, gpus: {count: 1}}
"""


def snapshot() -> KubernetesSnapshot:
    nodes, _ = kubernetes_parse.parse_nodes((KUBE / "nodes.json").read_text())
    pods, _ = kubernetes_parse.parse_pods((KUBE / "pods.json").read_text(), "gpu-operator")
    policies = kubernetes_parse.parse_policies((KUBE / "clusterpolicies.json").read_text())
    return KubernetesSnapshot("bastion", datetime.now(UTC), nodes, pods, policies)


def results(
    tmp_path: Path, snap: KubernetesSnapshot, text: str = CLUSTER
) -> dict[tuple[str, str | None], tuple[Status, str]]:
    path = tmp_path / "k8s.yaml"
    path.write_text(text)
    via = load_inventory(path).node("bastion")
    return {(r.check, r.target): (r.status, r.summary) for r in evaluate_kubernetes(via, snap)}


def test_the_top_level_key_reaches_every_node_and_the_via_node_learns_its_members(tmp_path: Path) -> None:
    path = tmp_path / "k8s.yaml"
    path.write_text(CLUSTER)
    inventory = load_inventory(path)
    via = kubernetes_of(inventory.node("bastion"))
    assert via is not None
    assert [(m.name, m.k8s_name, m.gpus) for m in via.members] == [
        ("bastion", None, None),
        ("inferno-host-compute-1", None, 4),
        ("l40s-1", "inferno-host-l40s-1", 1),
        ("l40s-2", None, 1),
    ]
    l40s = kubernetes_of(inventory.node("l40s-1"))
    assert l40s is not None
    assert (l40s.via, l40s.pool_label, l40s.k8s_name, l40s.members) == (
        "bastion",
        "inferno.circle",
        "inferno-host-l40s-1",
        (),
    )
    assert planned_kubernetes(inventory.node("l40s-1")) == ()
    assert ("k8s.gpu_operator", None) in planned_kubernetes(inventory.node("bastion"))


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("kubernetes: {via: nowhere}", "kubernetes.via: 'nowhere' is not a node of this inventory"),
        ("kubernetes: {via: a, context: '-x'}", "kubernetes.context: is not a kubeconfig context name"),
        ("kubernetes: {via: a, context: 'a b'}", "kubernetes.context: is not a kubeconfig context name"),
        ("kubernetes: {via: a, command: helm}", "kubernetes.command: expected one of kubectl, oc"),
        (
            "kubernetes: {via: a, expect: {taints: [gpu]}}",
            "kubernetes.expect.taints[0]: must be key=value:Effect",
        ),
        (
            "kubernetes: {via: a, expect: {labels: ['a=$(x)']}}",
            "kubernetes.expect.labels[0]: must be key=value",
        ),
    ],
)
def test_bad_values_are_refused_with_their_line(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "k8s.yaml"
    path.write_text(f"version: 1\n{line}\nnodes:\n  a: {{host: a}}\n")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert any(problem in str(error) for error in caught.value.errors), caught.value.errors
    assert str(caught.value.errors[0]).startswith(f"{path}:2: ")


def test_the_rules_on_the_recorded_cluster(tmp_path: Path) -> None:
    got = results(tmp_path, snapshot())
    assert got[("k8s.node", "bastion")] == (Status.OK, "reads the cluster; not a node of it")
    assert got[("k8s.node", "inferno-host-compute-1")] == (
        Status.OK,
        "inferno-host-compute-1 Ready, pool 2, kubelet v1.30.6",
    )
    assert got[("k8s.node", "l40s-2")] == (
        Status.CRITICAL,
        "inferno-host-l40s-2 Ready Unknown: Kubelet stopped posting node status.",
    )
    # 2 + 1 GPUs asked by running pods; the pending one is not scheduled
    assert got[("k8s.gpus", "inferno-host-compute-1")] == (
        Status.OK,
        "4 allocatable, 3 requested, the inventory says 4",
    )
    assert got[("k8s.gpus", "l40s-1")] == (Status.OK, "1 allocatable, 1 requested, the inventory says 1")
    status, summary = got[("k8s.gpu_operator", None)]
    assert status is Status.CRITICAL
    assert summary == (
        "ClusterPolicy cluster-policy notReady, 6 pods in gpu-operator; not running: "
        "nvidia-dcgm-exporter-x8b2n CrashLoopBackOff, nvidia-device-plugin-daemonset-zz8kd Unknown"
    )


def test_a_missing_taint_or_label_is_a_warning_and_a_missing_node_critical(tmp_path: Path) -> None:
    snap = snapshot()
    compute = snap.k8s_node("inferno-host-compute-1")
    assert compute is not None
    bare = replace(compute, taints=(), labels=tuple(kv for kv in compute.labels if kv[0] != "inferno.circle"))
    nodes = tuple(bare if n is compute else n for n in snap.nodes if n.name != "inferno-host-l40s-1")
    got = results(tmp_path, replace(snap, nodes=nodes))
    assert got[("k8s.node", "inferno-host-compute-1")] == (
        Status.WARNING,
        "inferno-host-compute-1 Ready; missing taint inferno/gpu=true:NoSchedule, label inferno.circle",
    )
    assert got[("k8s.node", "l40s-1")][0] is Status.CRITICAL
    assert got[("k8s.gpus", "l40s-1")][0] is Status.SKIPPED


def test_gpus_allocatable_against_the_count(tmp_path: Path) -> None:
    snap = snapshot()
    compute = snap.k8s_node("inferno-host-compute-1")
    assert compute is not None

    def with_node(**changes: object) -> KubernetesSnapshot:
        changed = replace(compute, **changes)  # type: ignore[arg-type]
        return replace(snap, nodes=tuple(changed if n is compute else n for n in snap.nodes))

    key = ("k8s.gpus", "inferno-host-compute-1")
    assert results(tmp_path, with_node(allocatable_gpus=None))[key] == (
        Status.CRITICAL,
        "no nvidia.com/gpu allocatable; the inventory says 4: is the device plugin running?",
    )
    assert results(tmp_path, with_node(allocatable_gpus=3))[key] == (
        Status.WARNING,
        "3 allocatable, 3 requested; the inventory says 4",
    )
    sliced = with_node(allocatable_gpus=16, labels=(*compute.labels, ("nvidia.com/gpu.replicas", "4")))
    assert results(tmp_path, sliced)[key] == (
        Status.OK,
        "16 allocatable, 3 requested, the inventory says 4 (4 × 4 replicas)",
    )


def test_an_unreadable_cluster_makes_every_planned_result_unknown(tmp_path: Path) -> None:
    got = results(
        tmp_path, KubernetesSnapshot("bastion", datetime.now(UTC), error="kubectl: not found on the via node")
    )
    assert {status for status, _ in got.values()} == {Status.UNKNOWN}
    assert len(got) == 9  # 4 nodes, 4 GPU counts, the operator


def test_no_gpu_operator_is_critical(tmp_path: Path) -> None:
    got = results(tmp_path, replace(snapshot(), policies=(), policy_missing=True))
    assert got[("k8s.gpu_operator", None)] == (
        Status.CRITICAL,
        "no ClusterPolicy resource type: the GPU Operator is not installed",
    )


def test_hostile_json_is_cleaned_and_capped() -> None:
    evil = {
        "items": [
            {
                "metadata": {"name": "n\x1b]0;pwned\x07", "labels": {"a": "b\nc", "x": ["list"]}},
                "spec": {"taints": "no"},
            },
            {"metadata": {"name": 7}, "status": {"allocatable": {"nvidia.com/gpu": "1e9"}}},
            {"metadata": "nope"},
            "not an object",
        ]
    }
    nodes, left = kubernetes_parse.parse_nodes(json.dumps(evil))
    assert left == 0
    assert [n.name for n in nodes] == ["n\\x1b]0;pwned\\x07", "7"]
    assert nodes[0].labels == (("a", "b\\nc"),)
    assert nodes[1].allocatable_gpus is None
    with pytest.raises(kubernetes_parse.KubeParseError):
        kubernetes_parse.parse_nodes("[1, 2]")
    many = {"items": [{"metadata": {"name": f"n{i}"}} for i in range(kubernetes_parse.MAX_NODES + 3)]}
    assert kubernetes_parse.parse_nodes(json.dumps(many))[1] == 3


def test_the_commands_are_registered_reads_for_any_valid_context_and_timeout() -> None:
    reads = (
        ("get", "nodes", "-o", "json"),
        ("get", "pods", "-A", "-o", "json", PODS_SELECTOR),
        ("get", POLICIES, "-o", "json"),
    )
    for command in ("kubectl", "oc"):
        for context in (None, "inferno-admin", "default/api-ocp-inferno-lan:6443/kube:admin", "a" * 253):
            for timeout in (0.001, 5, 86400.5, 1e300):
                settings = KubernetesSettings("a", command, context)  # type: ignore[arg-type]
                for read in reads:
                    assert is_read_only(kube_command(settings, timeout, *read)), (command, context, timeout)
    assert not is_read_only("kubectl --context 'a;reboot' --request-timeout=4s get nodes -o json")
    assert not is_read_only("kubectl --request-timeout=4s delete nodes x")
    assert not is_read_only("kubectl --request-timeout=4s get nodes -o json; reboot")


def test_crictl_json_keeps_the_newest_attempt_with_its_restart_count() -> None:
    pods = cri.parse_pods((CRIO / "pods.json").read_text())
    containers, left = cri.parse_containers((CRIO / "ps.json").read_text(), pods)
    assert left == 0
    rows = [(c.namespace, c.pod, c.name, c.state, c.restarts) for c in containers]
    assert rows == [
        ("gpu-operator", "nvidia-dcgm-exporter-lm5zs", "nvidia-dcgm-exporter", "running", 0),
        ("gpu-operator", "nvidia-device-plugin-daemonset-4hx2m", "nvidia-device-plugin", "running", 0),
        ("inference", "vllm-llama-70b-5f7c9d8b6-2kq4w", "vllm", "running", 0),
        ("studio", "comfyui-0", "comfyui", "running", 1),
        ("studio", "model-sync-28931040-9xk2p", "rclone", "exited", 7),
    ]
    assert containers[2].created_at == datetime(2026, 12, 6, 10, 0, 5, 123457, UTC)
    assert cri.parse_containers('{"containers": [{"id": "../../etc", "metadata": {"name": "x"}}]}')[0] == ()
    assert cri.parse_containers("{}")[0] == ()


@pytest.mark.parametrize("stamp", ["1e400", "-1e400", '"NaN"'])
def test_crictl_times_past_an_int_are_unknown(stamp: str) -> None:
    """json.loads reads 1e400 as inf (parse_constant sees only the words NaN/Infinity): int() of it raises."""
    pods = cri.parse_pods(
        '{"items": [{"id": "p1", "metadata": {"name": "p", "namespace": "n"}, "state": "SANDBOX_READY",'
        f' "createdAt": {stamp}}}]}}'
    )
    assert [(pod.name, pod.created_at) for pod in pods] == [("p", None)]


def test_the_container_checks_on_a_crio_node(tmp_path: Path) -> None:
    path = tmp_path / "crio.yaml"
    path.write_text(
        "version: 1\nnodes:\n"
        "  n: {host: n, containers: {runtime: cri-o, watch: [vllm, inference/missing/x]}}\n"
    )
    node = load_inventory(path).nodes[0]
    pods = cri.parse_pods((CRIO / "pods.json").read_text())
    containers, _ = cri.parse_containers((CRIO / "ps.json").read_text(), pods)
    got = {
        (r.check, r.target): (r.status, r.summary)
        for r in evaluate_cri(node, CriSnapshot("n", datetime.now(UTC), containers, pods))
    }
    assert got == {
        ("crio.runtime", None): (Status.OK, "CRI-O: 4/5 containers running, 6 pods"),
        ("container.running", "vllm"): (Status.OK, "running in inference/vllm-llama-70b-5f7c9d8b6-2kq4w"),
        ("container.restarts", "vllm"): (Status.OK, "0 restarts (warn 1, crit 5)"),
        ("container.running", "inference/missing/x"): (
            Status.CRITICAL,
            "no container named inference/missing/x",
        ),
        ("container.restarts", "inference/missing/x"): (Status.UNKNOWN, "no such container"),
        ("container.restarts", "studio/comfyui-0/comfyui"): (Status.WARNING, "1 restart (warn 1, crit 5)"),
        ("container.restarts", "studio/model-sync-28931040-9xk2p/rclone"): (
            Status.CRITICAL,
            "restart loop: exited after 7 restarts (warn 1, crit 5)",
        ),
    }
    failed = evaluate_cri(node, CriSnapshot("n", datetime.now(UTC), error="crictl: not found on the node"))
    assert [(r.check, r.status) for r in failed] == [
        ("crio.runtime", Status.CRITICAL),
        ("container.running", Status.SKIPPED),
        ("container.restarts", Status.SKIPPED),
        ("container.running", Status.SKIPPED),
        ("container.restarts", Status.SKIPPED),
    ]


def test_the_bundled_inferno_inventory_describes_its_cluster() -> None:
    inventory = load_inventory(Path(__file__).resolve().parents[1] / "inventories" / "inferno.yaml")
    via = kubernetes_of(inventory.node("bastion"))
    assert via is not None
    assert (via.via, via.context, via.pool_label) == ("bastion", "inferno-admin", "inferno.circle")
    assert via.expect is not None
    assert via.expect.taints == ("inferno/gpu=true:NoSchedule",)
    assert [m.name for m in via.members] == [node.name for node in inventory.nodes]
    runtimes = {node.name: getattr(node.settings("containers"), "runtime", None) for node in inventory.nodes}
    assert runtimes == {
        "bastion": None,
        "inferno-host-compute-1": "cri-o",
        "inferno-host-l40s-1": "cri-o",
        "inferno-host-l40s-2": "cri-o",
    }


def test_a_gpu_process_in_a_crio_pod_names_its_container() -> None:
    from console.collectors.gpu_processes import container_id_from_cgroup

    pods = cri.parse_pods((CRIO / "pods.json").read_text())
    containers, _ = cri.parse_containers((CRIO / "ps.json").read_text(), pods)
    vllm = next(c for c in containers if c.name == "vllm")
    # cgroup v2 under kubelet's systemd driver, as a CRI-O container's process sees it
    cgroup = (
        "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1f0e2d3c_4b5a_4697_8877_665544332211"
        f".slice/crio-{vllm.id}.scope\n"
    )
    found = CriSnapshot("n", datetime.now(UTC), containers, pods).by_id(
        container_id_from_cgroup(cgroup) or ""
    )
    assert found is vllm


def test_the_compact_pod_lines_are_cleaned_and_summed() -> None:
    text = (
        "inference\tvllm-0\tnode-a\tRunning\t2 1\t\n"
        "batch\tno-gpu\tnode-a\tRunning\t\t\n"
        "ml\tlimits-only\tnode-b\tPending\t\t4\n"
        "gpu-operator\tdp-\x1b[31mred\tnode-a\tRunning\t\t\n"
        "short\tline\n"
    )
    pods, left = kubernetes_parse.parse_compact_pods(text, "gpu-operator")
    assert left == 0
    assert [(p.namespace, p.name, p.node, p.phase, p.gpus) for p in pods] == [
        ("inference", "vllm-0", "node-a", "Running", 3),
        ("ml", "limits-only", "node-b", "Pending", 4),
        ("gpu-operator", "dp-\\x1b[31mred", "node-a", "Running", 0),
    ]


def test_the_labels_asked_for_survive_a_node_with_hundreds_of_feature_labels(tmp_path: Path) -> None:
    nodes = json.loads((KUBE / "nodes.json").read_text())
    for node in nodes["items"]:
        labels = node["metadata"]["labels"]
        flood = {f"feature.node.kubernetes.io/cpu-cpuid.X{i:03d}": "true" for i in range(300)}
        node["metadata"]["labels"] = dict(sorted({**flood, **labels}.items()))  # kubectl prints them sorted
    path = tmp_path / "k8s.yaml"
    path.write_text(CLUSTER)
    via = load_inventory(path).node("bastion")
    settings = kubernetes_of(via)
    assert settings is not None
    parsed, _ = kubernetes_parse.parse_nodes(json.dumps(nodes), label_keys(settings))
    compute = next(n for n in parsed if n.name == "inferno-host-compute-1")
    assert compute.label("inferno.circle") == "2"
    assert compute.label("kubernetes.io/hostname") == "inferno-host-compute-1"
    assert compute.label("nvidia.com/gpu.present") == "true"
    assert len(compute.labels) < 100
    got = results(tmp_path, replace(snapshot(), nodes=parsed))
    assert got[("k8s.node", "inferno-host-compute-1")][0] is Status.OK
