"""Kubernetes and CRI-O through `opsconsole --check` over real SSH and the read-only wrapper.

No kube-apiserver or CRI-O can run on these machines: the lab node's `kubectl`, `oc` and `crictl` are
RECORDED STAND-INS (tests/lab/kubectl, tests/lab/crictl) printing JSON written from the Kubernetes core/v1,
GPU Operator ClusterPolicy and CRI definitions (tests/fixtures/kubernetes, tests/fixtures/crio). The sshd,
the allow-list, the collectors, the parsers, the rules and the CLI are real; the via node's GPU count comes
from its nvidia-smi replay (a real H100 capture: 1 GPU).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from console.transport.bounded import MAX_OUTPUT_BYTES
from tests.lab.kube_standins import kube_standins
from tests.lab.sshd import LabNode, SshLab
from tests.test_check_lab import by_key, run_check

TOP = (
    "kubernetes:\n"
    "  via: gpu1\n"
    "  context: {context}\n"
    "  pool_label: inferno.circle\n"
    '  expect: {{taints: ["inferno/gpu=true:NoSchedule"], labels: [inferno.circle]}}\n'
)


def cluster_inventory(ssh_lab: SshLab, gpu_node: LabNode, plain_node: LabNode, context: str) -> str:
    text = ssh_lab.inventory_yaml([gpu_node, plain_node], gpus={"gpu1": {"count": 4}})
    text = text.replace("nodes:\n", TOP.format(context=context) + "nodes:\n", 1)
    text = text.replace(
        "  gpu1:\n",
        "  gpu1:\n    kubernetes: {k8s_name: inferno-host-compute-1}\n    containers: {runtime: cri-o}\n",
    )
    return text.replace("  plain1:\n", "  plain1:\n    kubernetes: {k8s_name: inferno-host-l40s-2}\n")


def test_the_cluster_and_the_crio_node_in_one_check_run(
    ssh_lab: SshLab, gpu_node: LabNode, plain_node: LabNode, tmp_path: Path
) -> None:
    inventory = tmp_path / "k8s.yaml"
    inventory.write_text(cluster_inventory(ssh_lab, gpu_node, plain_node, "inferno-admin"))
    with kube_standins(gpu_node, context="inferno-admin"):
        code, report = run_check(inventory, "--timeout", "15")  # asserts a silent stderr
    results = by_key(report)
    node = results[("gpu1", "k8s.node", "gpu1")]
    assert (node["status"], node["summary"]) == (
        "ok",
        "inferno-host-compute-1 Ready, pool 2, kubelet v1.30.6",
    )
    down = results[("gpu1", "k8s.node", "plain1")]
    assert down["status"] == "critical"
    assert down["summary"] == "inferno-host-l40s-2 Ready Unknown: Kubelet stopped posting node status."
    # The via node's own live GPU read (1 GPU in the capture) against the 4 the cluster allocates.
    gpus = results[("gpu1", "k8s.gpus", "gpu1")]
    assert (gpus["status"], gpus["summary"]) == ("warning", "4 allocatable, 3 requested; the node reports 1")
    assert gpus["perfdata"] == {"allocatable": 4.0, "requested": 3.0}
    operator = results[("gpu1", "k8s.gpu_operator", None)]
    assert operator["status"] == "critical"
    assert operator["summary"].startswith("ClusterPolicy cluster-policy notReady, 6 pods in gpu-operator")
    crio = results[("gpu1", "crio.runtime", None)]
    assert (crio["status"], crio["summary"]) == ("ok", "CRI-O: 4/5 containers running, 6 pods")
    loop = results[("gpu1", "container.restarts", "studio/model-sync-28931040-9xk2p/rclone")]
    assert loop["status"] == "critical"
    # plain1 is a member without docker: runtime auto, and it has no crictl.
    plain = results[("plain1", "crio.runtime", None)]
    assert (plain["status"], plain["summary"]) == ("skipped", "not a CRI-O node: no crictl on the node")
    assert ("plain1", "k8s.node", "plain1") not in results  # only the via node reads the cluster
    assert code == 2


def test_a_wrong_context_leaves_every_cluster_result_unknown(
    ssh_lab: SshLab, gpu_node: LabNode, plain_node: LabNode, tmp_path: Path
) -> None:
    inventory = tmp_path / "k8s.yaml"
    inventory.write_text(cluster_inventory(ssh_lab, gpu_node, plain_node, "someone-else"))
    with kube_standins(gpu_node, context="inferno-admin", crio=None):
        _code, report = run_check(inventory, "--timeout", "15")
    cluster = [r for r in report["results"] if r["check"].startswith("k8s.")]
    assert len(cluster) == 5
    assert {r["status"] for r in cluster} == {"unknown"}
    assert cluster[0]["summary"] == (
        'kubectl get nodes: exit 1: error: context "someone-else" does not exist'
    )
    crio = by_key(report)[("gpu1", "crio.runtime", None)]
    assert (crio["status"], crio["summary"]) == ("critical", "crictl: not found on the node")


def test_a_kubectl_that_never_answers_is_bounded_by_the_timeout(
    ssh_lab: SshLab, gpu_node: LabNode, plain_node: LabNode, tmp_path: Path
) -> None:
    inventory = tmp_path / "k8s.yaml"
    inventory.write_text(cluster_inventory(ssh_lab, gpu_node, plain_node, "inferno-admin"))
    with kube_standins(gpu_node, context="inferno-admin") as data:
        (data / "delay").write_text("60")  # the API server never answers
        started = time.monotonic()
        _code, report = run_check(inventory, "--timeout", "6")
        took = time.monotonic() - started
    assert took < 6 + 5
    cluster = [r for r in report["results"] if r["check"].startswith("k8s.")]
    assert len(cluster) == 5
    assert {r["status"] for r in cluster} == {"unknown"}
    assert "timed out" in cluster[0]["summary"]


def test_a_pod_list_past_the_cap_is_read_in_the_compact_form(
    ssh_lab: SshLab, gpu_node: LabNode, plain_node: LabNode, tmp_path: Path
) -> None:
    """3,000 more pods (no GPUs, 2 KB of annotations each): the PodList JSON passes the transport's 4 MiB,
    so the pods are read again one line each and the operator's namespace as JSON; the sums stand."""
    inventory = tmp_path / "k8s.yaml"
    inventory.write_text(cluster_inventory(ssh_lab, gpu_node, plain_node, "inferno-admin"))
    with kube_standins(gpu_node, context="inferno-admin", crio=None) as data:
        pods = json.loads((data / "pods.json").read_text())
        filler = pods["items"][0]  # coredns: no GPU
        for number in range(3000):
            pod = json.loads(json.dumps(filler))
            pod["metadata"].update(name=f"batch-{number:05d}", namespace="batch")
            pod["metadata"]["annotations"] = {"inferno/notes": "x" * 2000}
            pods["items"].append(pod)
        (data / "pods.json").write_text(json.dumps(pods))
        assert (data / "pods.json").stat().st_size > MAX_OUTPUT_BYTES
        _code, report = run_check(inventory, "--timeout", "20")
    results = by_key(report)
    gpus = results[("gpu1", "k8s.gpus", "gpu1")]
    assert gpus["summary"] == "4 allocatable, 3 requested; the node reports 1"
    operator = results[("gpu1", "k8s.gpu_operator", None)]
    assert operator["summary"].startswith("ClusterPolicy cluster-policy notReady, 6 pods in gpu-operator")
    assert "nvidia-dcgm-exporter-x8b2n CrashLoopBackOff" in operator["summary"]  # the operator's JSON detail
