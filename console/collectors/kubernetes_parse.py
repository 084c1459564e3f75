"""Parse what `kubectl get ... -o json` prints: core/v1 NodeList and PodList, the GPU Operator's ClusterPolicy
list (clusterpolicies.nvidia.com, `status.state`). Pure functions, no I/O.

Defensive: the JSON comes from a cluster (so, from anyone who may label a node or name a pod). Unknown fields
are ignored, missing ones read as None, every string is cleaned (console.text) and capped, and past
MAX_NODES / MAX_PODS items are counted, not kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any

from console.model.kubernetes import GPU_RESOURCE, ClusterPolicy, K8sNode, K8sPod, Taint
from console.text import clean_line

MAX_NODES = 5_000
MAX_PODS = 20_000  # kept (GPU pods and the operator's); the list read may hold more
MAX_LABELS = 64  # per node, besides the ones asked for: NFD and GFD put hundreds on a GPU node
# Labels kept wherever they sort (kubectl prints them sorted; `feature.node.kubernetes.io/...` come first).
KEPT_LABELS = frozenset({"kubernetes.io/hostname", "node-role.kubernetes.io/control-plane"})
NAME_LIMIT = 253
_INT = re.compile(r"[0-9]{1,6}")


class KubeParseError(ValueError):
    pass


def load_list(text: str) -> list[Any]:
    """The `items` of a Kubernetes List object."""
    try:
        data = json.loads(text, parse_constant=lambda _c: None)
    except (ValueError, RecursionError) as exc:
        raise KubeParseError(f"not JSON: {clean_line(exc, limit=120)}") from None
    if not isinstance(data, dict):
        raise KubeParseError("not a JSON object")
    items = data.get("items")
    if not isinstance(items, list):
        raise KubeParseError("no items list (not a Kubernetes List)")
    return items


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any, limit: int = NAME_LIMIT) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
        return clean_line(value, limit=limit)
    return None


def quantity(value: Any) -> int | None:
    """An extended resource's quantity (`"4"`, 4): a whole count, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1_000_000:
        return value
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return int(value.strip())
    return None


def _taint(raw: Any) -> Taint | None:
    raw = _map(raw)
    key, effect = _str(raw.get("key")), _str(raw.get("effect"), 40)
    return Taint(key, _str(raw.get("value")), effect) if key and effect else None


def parse_node(raw: Any, keep: Collection[str] = ()) -> K8sNode | None:
    """One core/v1 Node; `keep`: label keys kept wherever they sort (the pool label, the expected ones)."""
    raw = _map(raw)
    meta, spec, status = _map(raw.get("metadata")), _map(raw.get("spec")), _map(raw.get("status"))
    name = _str(meta.get("name"))
    if name is None:
        return None
    ready, reason = None, None
    for condition in _list(status.get("conditions")):
        condition = _map(condition)
        if condition.get("type") == "Ready":
            ready = {"True": True, "False": False}.get(str(condition.get("status")))
            if ready is not True:
                reason = _str(condition.get("message"), 200) or _str(condition.get("reason"), 200)
    pairs = [
        (clean_line(key, limit=NAME_LIMIT), clean_line(value, limit=NAME_LIMIT))
        for key, value in _map(meta.get("labels")).items()
        if isinstance(key, str) and isinstance(value, str | int | float | bool)
    ]
    asked = [(k, v) for k, v in pairs if k in keep or k in KEPT_LABELS]
    gpu = [(k, v) for k, v in pairs if k.startswith("nvidia.com/gpu") and k not in keep][:MAX_LABELS]
    taken = {k for k, _ in asked} | {k for k, _ in gpu}
    labels = (*asked, *gpu, *[(k, v) for k, v in pairs if k not in taken][:MAX_LABELS])
    taints = tuple(t for t in map(_taint, _list(spec.get("taints"))[:MAX_LABELS]) if t is not None)
    return K8sNode(
        name=name,
        ready=ready,
        ready_reason=reason,
        unschedulable=spec.get("unschedulable") is True,
        taints=taints,
        labels=labels,
        allocatable_gpus=quantity(_map(status.get("allocatable")).get(GPU_RESOURCE)),
        capacity_gpus=quantity(_map(status.get("capacity")).get(GPU_RESOURCE)),
        kubelet=_str(_map(status.get("nodeInfo")).get("kubeletVersion"), 40),
    )


def parse_nodes(text: str, keep: Collection[str] = ()) -> tuple[tuple[K8sNode, ...], int]:
    """(nodes, how many past MAX_NODES were left out)."""
    items = load_list(text)
    nodes = tuple(node for raw in items[:MAX_NODES] if (node := parse_node(raw, keep)) is not None)
    return nodes, max(0, len(items) - MAX_NODES)


def pod_gpus(spec: Mapping[str, Any]) -> int:
    """nvidia.com/gpu the pod holds: its containers' requests (a limit alone sets the request), or an init
    container's when larger (they run before the others, one at a time)."""

    def ask(container: Any) -> int:
        resources = _map(_map(container).get("resources"))
        value = _map(resources.get("requests")).get(
            GPU_RESOURCE, _map(resources.get("limits")).get(GPU_RESOURCE)
        )
        return quantity(value) or 0

    main = sum(ask(c) for c in _list(spec.get("containers")))
    init = max((ask(c) for c in _list(spec.get("initContainers"))), default=0)
    return max(main, init)


def parse_pod(raw: Any) -> K8sPod | None:
    raw = _map(raw)
    meta, spec, status = _map(raw.get("metadata")), _map(raw.get("spec")), _map(raw.get("status"))
    name, namespace = _str(meta.get("name")), _str(meta.get("namespace"), 63)
    if name is None or namespace is None:
        return None
    statuses = [_map(s) for s in _list(status.get("containerStatuses"))]
    restarts = [quantity(s.get("restartCount")) for s in statuses]
    reason = next(
        (
            _str(_map(_map(s.get("state")).get("waiting")).get("reason"), 80)
            for s in statuses
            if _map(_map(s.get("state")).get("waiting")).get("reason")
        ),
        None,
    )
    return K8sPod(
        namespace=namespace,
        name=name,
        node=_str(spec.get("nodeName")),
        phase=_str(status.get("phase"), 40),
        gpus=pod_gpus(spec),
        ready=all(s.get("ready") is True for s in statuses) if statuses else None,
        restarts=sum(r for r in restarts if r is not None) if statuses else None,
        reason=reason,
    )


def parse_pods(text: str, operator_namespace: str) -> tuple[tuple[K8sPod, ...], int]:
    """The pods asking for GPUs and every pod in the operator's namespace; (pods, left out past MAX_PODS)."""
    kept: list[K8sPod] = []
    left_out = 0
    for raw in load_list(text):
        pod = parse_pod(raw)
        if pod is None or (pod.gpus == 0 and pod.namespace != operator_namespace):
            continue
        if len(kept) >= MAX_PODS:
            left_out += 1
            continue
        kept.append(pod)
    return tuple(kept), left_out


def parse_policies(text: str) -> tuple[ClusterPolicy, ...]:
    policies = []
    for raw in load_list(text)[:16]:
        raw = _map(raw)
        name = _str(_map(raw.get("metadata")).get("name"))
        if name is not None:
            policies.append(ClusterPolicy(name, _str(_map(raw.get("status")).get("state"), 40)))
    return tuple(policies)


def parse_compact_pods(text: str, operator_namespace: str) -> tuple[tuple[K8sPod, ...], int]:
    """collectors.kubernetes.PODS_COMPACT's lines: namespace, name, node, phase, the containers' GPU
    requests, their limits (space-separated; a tab between fields); the pods parse_pods keeps."""
    kept: list[K8sPod] = []
    left_out = 0
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 6:
            continue
        namespace, name, node, phase, requests, limits = fields[:6]
        asked = sum(quantity(v) or 0 for v in requests.split())
        gpus = asked or sum(quantity(v) or 0 for v in limits.split())
        if not name or not namespace or (gpus == 0 and namespace != operator_namespace):
            continue
        if len(kept) >= MAX_PODS:
            left_out += 1
            continue
        kept.append(
            K8sPod(
                namespace=clean_line(namespace, limit=63),
                name=clean_line(name, limit=NAME_LIMIT),
                node=clean_line(node, limit=NAME_LIMIT) if node else None,
                phase=clean_line(phase, limit=40) if phase else None,
                gpus=gpus,
            )
        )
    return tuple(kept), left_out
