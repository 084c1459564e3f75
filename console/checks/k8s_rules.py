"""Rules for a Kubernetes (or OpenShift) cluster, judged on the inventory's `kubernetes.via` node.

Check ids (targets: the inventory node):
- `k8s.node`: the node is not in the cluster, or its Ready condition is False or Unknown → critical (with
  the condition's message); an expected taint or label (`kubernetes.expect`) missing, or the node cordoned
  → warning; otherwise ok with its pool and kubelet. The via node itself may only read the cluster (ok).
- `k8s.gpus`: the node's allocatable `nvidia.com/gpu` against the GPUs it has: the via node's own live GPU
  read where the member is the via node, else the inventory's `gpus.count` (which `gpu.count` holds the
  node's own nvidia-smi to; the Kubernetes screen sets the live count beside it). Time-slicing
  (`nvidia.com/gpu.replicas` > 1) multiplies the count. None allocatable on a node with GPUs → critical
  (the device plugin is not advertising them); fewer → warning (a GPU marked unhealthy); more → warning.
  More requested by pods than allocatable → warning.
- `k8s.gpu_operator` (no target): the ClusterPolicy's `status.state` ready → ok, notReady → critical, none
  (no ClusterPolicy, or no such resource type: the GPU Operator is not installed) → critical where
  `kubernetes.gpu_operator` is true; a pod of the operator's namespace not Running → critical (Pending,
  CrashLoopBackOff, ImagePullBackOff: its reason), Running but not ready → warning.
"""

from __future__ import annotations

from collections.abc import Mapping

from console.checks.model import CheckResult, Perf, Status
from console.inventory.kubernetes import kubernetes_of
from console.inventory.model import Node
from console.model.gpu import GpuSnapshot
from console.model.kubernetes import (
    K8sMember,
    K8sNode,
    K8sPod,
    KubernetesSettings,
    KubernetesSnapshot,
    parse_label,
    parse_taint,
)

NODE = "k8s.node"
GPUS = "k8s.gpus"
OPERATOR = "k8s.gpu_operator"
SHOWN = 3
# A waiting container's reasons that mean the pod is failing though its phase says Running.
FAILING = frozenset(
    {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerError", "RunContainerError"}
)


def wanted_kubernetes(node: Node) -> bool:
    settings = kubernetes_of(node)
    return settings is not None and settings.via == node.name and bool(settings.members)


def planned_kubernetes(node: Node) -> tuple[tuple[str, str | None], ...]:
    if not wanted_kubernetes(node):
        return ()
    settings = kubernetes_of(node)
    assert settings is not None
    members = settings.members
    planned: list[tuple[str, str | None]] = [(NODE, member.name) for member in members]
    planned += [(GPUS, member.name) for member in members]
    if settings.gpu_operator:
        planned.append((OPERATOR, None))
    return tuple(planned)


def evaluate_kubernetes(
    node: Node,
    snapshot: KubernetesSnapshot | None,
    gpu: GpuSnapshot | None = None,
    live: Mapping[str, int] | None = None,
) -> tuple[CheckResult, ...]:
    """The cluster's results on its via node. `gpu`: the via node's own GPU read; `live`: other members'
    GPU counts from their own reads, where the caller has them (the TUI does; `--check` judges one node's
    snapshot at a time, so there the inventory's count stands in for them)."""
    settings = kubernetes_of(node)
    if settings is None or not wanted_kubernetes(node):
        return ()
    if snapshot is None or snapshot.error is not None:
        summary = snapshot.error if snapshot is not None and snapshot.error else "no Kubernetes data"
        return tuple(
            CheckResult(node.name, check, Status.UNKNOWN, summary, target=target)
            for check, target in planned_kubernetes(node)
        )
    results = [_node(node, settings, member, snapshot) for member in settings.members]
    counts = dict(live or {})
    if gpu is not None and gpu.status == "ok":
        counts[node.name] = len(gpu.gpus)
    for member in settings.members:
        count = counts.get(member.name, member.gpus)
        results.append(_gpus(node, member, snapshot, count, live=member.name in counts))
    if settings.gpu_operator:
        results.append(_operator(node, settings, snapshot))
    return tuple(results)


def missing_expected(settings: KubernetesSettings, found: K8sNode) -> list[str]:
    """The expected taints and labels the node does not carry, as the inventory spells them."""
    expect = settings.expect
    if expect is None:
        return []
    taints = {(t.key, t.value or None, t.effect) for t in found.taints}
    missing = []
    for text in expect.taints:
        taint = parse_taint(text)
        if taint is not None and (taint.key, taint.value or None, taint.effect) not in taints:
            missing.append(f"taint {text}")
    for text in expect.labels:
        key, value = parse_label(text)
        have = found.label(key)
        if have is None or (value is not None and have != value):
            missing.append(f"label {text}" + (f" (is {key}={have})" if have is not None else ""))
    return missing


def _node(
    node: Node, settings: KubernetesSettings, member: K8sMember, snap: KubernetesSnapshot
) -> CheckResult:
    def result(status: Status, summary: str, fix: str | None = None) -> CheckResult:
        return CheckResult(node.name, NODE, status, summary, member.name, fix)

    found = snap.member_node(member)
    if found is None and member.name == node.name and member.k8s_name is None:
        return result(Status.OK, "reads the cluster; not a node of it")  # a bastion holding the kubeconfig
    if found is None:
        name = member.k8s_name or member.name
        return result(Status.CRITICAL, f"no node {name} in the cluster (kubernetes.k8s_name?)")
    if found.ready is not True:
        state = "NotReady" if found.ready is False else "Ready Unknown"
        why = f": {found.ready_reason}" if found.ready_reason else ""
        return result(Status.CRITICAL, f"{found.name} {state}{why}", f"kubectl describe node {found.name}")
    pool = found.label(settings.pool_label) if settings.pool_label else None
    where = f"{found.name} Ready" + (f", pool {pool}" if pool else "")
    missing = missing_expected(settings, found)
    if missing:
        return result(Status.WARNING, f"{where}; missing {', '.join(missing)}")
    if found.unschedulable:
        return result(Status.WARNING, f"{where}; cordoned", f"kubectl uncordon {found.name}")
    return result(Status.OK, where + (f", kubelet {found.kubelet}" if found.kubelet else ""))


def _gpus(
    node: Node, member: K8sMember, snap: KubernetesSnapshot, count: int | None, *, live: bool
) -> CheckResult:
    found = snap.member_node(member)
    if found is None:
        return CheckResult(
            node.name, GPUS, Status.SKIPPED, "not a node of the cluster (see k8s.node)", member.name
        )
    allocatable = found.allocatable_gpus
    requested = snap.requested_gpus(found.name)
    replicas_label = found.label("nvidia.com/gpu.replicas")
    replicas = (
        int(replicas_label) if replicas_label and replicas_label.isdigit() and int(replicas_label) > 0 else 1
    )
    perf = (Perf("allocatable", float(allocatable or 0)), Perf("requested", float(requested)))
    said = "the node reports" if live else "the inventory says"
    shown = f"{allocatable if allocatable is not None else 'no'} allocatable, {requested} requested"

    def result(status: Status, summary: str) -> CheckResult:
        return CheckResult(node.name, GPUS, status, summary, member.name, None, perf)

    if count is None:
        return result(Status.OK, f"{shown} (no GPU count to compare: gpus.count)")
    expected = count * replicas
    times = f" ({count} × {replicas} replicas)" if replicas > 1 else ""
    if count > 0 and not allocatable:
        return result(
            Status.CRITICAL,
            f"no nvidia.com/gpu allocatable; {said} {count}: is the device plugin running?",
        )
    if allocatable is not None and allocatable != expected:
        return result(Status.WARNING, f"{shown}; {said} {expected}{times}")
    if allocatable is not None and requested > allocatable:
        return result(Status.WARNING, f"{shown}: more requested than allocatable")
    return result(Status.OK, f"{shown}, {said} {count}{times}")


def _operator(node: Node, settings: KubernetesSettings, snap: KubernetesSnapshot) -> CheckResult:
    def result(status: Status, summary: str) -> CheckResult:
        return CheckResult(node.name, OPERATOR, status, summary)

    pods = [pod for pod in snap.pods if pod.namespace == settings.operator_namespace]
    down = [pod for pod in pods if pod.phase != "Running" or pod.reason in FAILING]
    unready = [pod for pod in pods if pod not in down and pod.ready is False]

    def names(chosen: list[K8sPod]) -> str:
        shown = [f"{p.name} {p.reason or p.phase or '?'}" for p in chosen[:SHOWN]]
        return ", ".join(shown) + (f" (+{len(chosen) - SHOWN})" if len(chosen) > SHOWN else "")

    if snap.policy_missing:
        return result(Status.CRITICAL, "no ClusterPolicy resource type: the GPU Operator is not installed")
    if snap.policies is None:
        return result(Status.UNKNOWN, snap.policy_error or "ClusterPolicy not read")
    if not snap.policies:
        return result(Status.CRITICAL, "no ClusterPolicy: the GPU Operator is not deployed")
    policy = snap.policies[0]
    state = policy.state or "no state"
    status = (
        Status.OK
        if policy.state == "ready"
        else Status.CRITICAL
        if policy.state == "notReady"
        else Status.WARNING
    )
    summary = f"ClusterPolicy {policy.name} {state}, {len(pods)} pods in {settings.operator_namespace}"
    if snap.pods_error is not None:
        return result(max(status, Status.UNKNOWN, key=_rank), f"{summary}; {snap.pods_error}")
    if down:
        return result(Status.CRITICAL, f"{summary}; not running: {names(down)}")
    if unready:
        return result(max(status, Status.WARNING, key=_rank), f"{summary}; not ready: {names(unready)}")
    return result(status, summary)


def _rank(status: Status) -> int:
    return {Status.OK: 0, Status.UNKNOWN: 1, Status.WARNING: 2, Status.CRITICAL: 3}.get(status, 0)
