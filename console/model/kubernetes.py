"""The Kubernetes section's settings and snapshot: what `kubectl` (or `oc`) on the `kubernetes.via` node said.

Settings: `kubernetes: {via: NODE, command: kubectl|oc, context: ..., pool_label: ..., expect: {taints: [...],
labels: [...]}}` at the top level, in defaults, per group or per node (a node's keys over the top level's); a
node's name in Kubernetes is `kubernetes: {k8s_name: ...}` where it is neither its inventory name nor host.

All text here came from the cluster (so, from the nodes) and was cleaned where it entered (console.text);
counts the cluster did not report are None, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

KubeCommand = Literal["kubectl", "oc"]
GPU_RESOURCE = "nvidia.com/gpu"


@dataclass(frozen=True, slots=True)
class K8sExpect:
    """What every member node must carry: taints as `key=value:Effect` (or `key:Effect`), labels as
    `key=value` (or `key`: present, any value)."""

    taints: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class K8sMember:
    """An inventory node in the cluster: inventory name, its name in Kubernetes when set, its host, and the
    GPUs the inventory says it has (gpus.count; None when not said)."""

    name: str
    k8s_name: str | None
    host: str
    gpus: int | None = None


@dataclass(frozen=True, slots=True)
class KubernetesSettings:
    """via: the inventory node whose kubectl (and kubeconfig) reads the cluster; never copied here.
    command: `kubectl` or `oc` (OpenShift). context: a kubeconfig context (None: its current one).
    pool_label: the node label that names a node's pool (`inferno.circle`).
    expect: taints and labels every member must carry (missing: a warning).
    k8s_name: this node's name in Kubernetes (else its inventory name, or its host, matched by name or by
      the `kubernetes.io/hostname` label).
    operator_namespace: where the GPU Operator's pods run. gpu_operator: whether a ClusterPolicy must exist.
    interval: seconds between two reads of the cluster (each lists every node and pod): polls in between
      reuse the last read; `--check` always reads afresh.
    members: set by the loader on the via node only (a value written in the file is replaced).
    """

    via: str | None = None
    command: KubeCommand = "kubectl"
    context: str | None = None
    pool_label: str | None = None
    expect: K8sExpect | None = None
    k8s_name: str | None = None
    operator_namespace: str = "gpu-operator"
    gpu_operator: bool = True
    interval: float = 30.0
    members: tuple[K8sMember, ...] = ()


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str | None
    effect: str

    def __str__(self) -> str:
        return f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"


@dataclass(frozen=True, slots=True)
class K8sNode:
    name: str
    ready: bool | None  # the Ready condition: True, False, None (Unknown or absent)
    ready_reason: str | None = None  # the condition's reason/message when not ready
    unschedulable: bool = False  # cordoned
    taints: tuple[Taint, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    allocatable_gpus: int | None = None  # status.allocatable["nvidia.com/gpu"]
    capacity_gpus: int | None = None
    kubelet: str | None = None

    def label(self, key: str) -> str | None:
        return next((value for name, value in self.labels if name == key), None)


@dataclass(frozen=True, slots=True)
class K8sPod:
    namespace: str
    name: str
    node: str | None  # spec.nodeName (None: not scheduled)
    phase: str | None  # Pending, Running, Unknown (Succeeded and Failed are not listed)
    gpus: int = 0  # nvidia.com/gpu requested by its containers (limits when no request)
    ready: bool | None = None
    restarts: int | None = None
    reason: str | None = None  # a waiting container's reason (CrashLoopBackOff, ImagePullBackOff...)


@dataclass(frozen=True, slots=True)
class ClusterPolicy:
    name: str
    state: str | None  # status.state: ready, notReady, ignored (None: not reported)


@dataclass(frozen=True, slots=True)
class KubernetesSnapshot:
    node: str  # the via node
    taken_at: datetime
    nodes: tuple[K8sNode, ...] = ()
    pods: tuple[K8sPod, ...] = ()  # pods that request GPUs, and every pod of the operator's namespace
    policies: tuple[ClusterPolicy, ...] | None = None  # None: not read (see policy_error)
    error: str | None = None  # the node list could not be read: nothing else is judged
    pods_error: str | None = None
    policy_error: str | None = None
    policy_missing: bool = False  # the cluster has no ClusterPolicy resource type (no GPU Operator)
    left_out: int = 0  # nodes or pods past the caps, not kept

    def k8s_node(self, name: str) -> K8sNode | None:
        return next((node for node in self.nodes if node.name == name), None)

    def requested_gpus(self, node: str) -> int:
        return sum(pod.gpus for pod in self.pods if pod.node == node and pod.phase in ("Running", "Pending"))

    def member_node(self, member: K8sMember) -> K8sNode | None:
        """The cluster node an inventory member is: by k8s_name, else by name or hostname label."""
        if member.k8s_name is not None:
            return self.k8s_node(member.k8s_name)
        for wanted in (member.name, member.host):
            found = self.k8s_node(wanted) or next(
                (node for node in self.nodes if node.label("kubernetes.io/hostname") == wanted), None
            )
            if found is not None:
                return found
        return None


# A kubeconfig context name as the inventory may give it (kubectl's own names, OpenShift's
# `project/api-host:6443/user`): never a leading '-' (kubectl would read an option), no spaces or quotes.
CONTEXT_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:@/+=-]{0,252}"
# A DNS-1123 label: a namespace.
NAMESPACE_PATTERN = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# A label key (optional DNS prefix, then a name) and value, as Kubernetes validates them.
LABEL_KEY_PATTERN = (
    r"(?:[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?/)?[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?"
)
LABEL_VALUE_PATTERN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?"
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def parse_taint(text: str) -> Taint | None:
    """`key=value:Effect` or `key:Effect` (kubectl taint's spelling), None when it is not one."""
    rest, _, effect = text.rpartition(":")
    key, eq, value = rest.partition("=")
    if effect not in TAINT_EFFECTS or not key:
        return None
    return Taint(key, value if eq else None, effect)


def parse_label(text: str) -> tuple[str, str | None]:
    """`key=value` → (key, value); `key` → (key, None): present with any value."""
    key, eq, value = text.partition("=")
    return key, value if eq else None
