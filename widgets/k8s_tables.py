"""The Kubernetes screen's tables: the cluster's nodes by pool (Ready, taints, labels of interest, GPUs
allocatable / requested / reported by the node's own poll) and the GPU Operator's pods. Render only: the
snapshot comes parsed (console.model.kubernetes), the levels judged by the Kubernetes checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text

from console.model.checks import Status
from console.model.kubernetes import K8sNode, K8sPod, KubernetesSnapshot
from widgets.keyed_table import Column, KeyedTable, node_key
from widgets.status import DASH, count_text, level_style, status_text

NO_POOL = "(no pool)"


def pool_key(pool: str) -> str:
    return f"pool|{pool}"


def ready_text(node: K8sNode) -> Text:
    if node.ready is True:
        text = Text("Ready", style="green")
    else:
        text = Text("NotReady" if node.ready is False else "Unknown", style="bold red")
    if node.unschedulable:
        text.append(",cordoned", style="yellow")
    return text


def pools(snapshot: KubernetesSnapshot, label: str | None) -> list[tuple[str, list[K8sNode]]]:
    """The nodes grouped by the pool label's value (sorted), nodes without it last."""
    grouped: dict[str, list[K8sNode]] = {}
    for node in snapshot.nodes:
        value = node.label(label) if label else None
        grouped.setdefault(f"{label}={value}" if value is not None else NO_POOL, []).append(node)
    return sorted(grouped.items(), key=lambda item: (item[0] == NO_POOL, item[0]))


def node_cells(
    node: K8sNode,
    snapshot: KubernetesSnapshot,
    level: Status | None,
    inventory_name: str | None,
    reported: int | None,
    shown_labels: Sequence[str],
) -> dict[str, Text]:
    label = node.name if inventory_name in (None, node.name) else f"{node.name} ({inventory_name})"
    allocatable = node.allocatable_gpus
    requested = snapshot.requested_gpus(node.name)
    off = reported is not None and allocatable is not None and reported != allocatable
    labels = Text()
    for key in shown_labels:
        value = node.label(key)
        if value is None:
            continue
        if labels:
            labels.append(" ")
        labels.append(f"{key.rsplit('/', 1)[-1]}={value}" if value else key, style="dim")
    taints = Text(", ".join(str(taint) for taint in node.taints[:4]))
    if len(node.taints) > 4:
        taints.append(f" +{len(node.taints) - 4}", style="dim")
    return {
        "status": status_text(level) if level is not None else Text(""),
        "node": Text(label, style="bold"),
        "ready": ready_text(node),
        "alloc": count_text(allocatable, "bold yellow" if off else ""),
        "requested": count_text(requested if allocatable or requested else None, level_style(None)),
        "reported": count_text(reported, "bold yellow" if off else ""),
        "taints": taints,
        "labels": labels,
    }


def pool_cells(pool: str, nodes: Sequence[K8sNode], snapshot: KubernetesSnapshot) -> dict[str, Text]:
    ready = sum(node.ready is True for node in nodes)
    allocatable = sum(node.allocatable_gpus or 0 for node in nodes)
    requested = sum(snapshot.requested_gpus(node.name) for node in nodes)
    summary = f"▾ {pool} · {ready}/{len(nodes)} Ready"
    return {
        "status": Text(""),
        "node": Text(summary, style="bold reverse" if ready == len(nodes) else "bold yellow reverse"),
        "ready": Text(""),
        "alloc": count_text(allocatable, "bold"),
        "requested": count_text(requested, "bold"),
        "reported": Text(""),
        "taints": Text(""),
        "labels": Text(""),
    }


class K8sNodeTable(KeyedTable):
    """Pool header rows (pool|LABEL=VALUE) and their nodes (node|NAME)."""

    COLUMNS: tuple[Column, ...] = (
        Column("status", "", 6, 0, keep=True),
        Column("node", "Node", 14, 0, keep=True),
        Column("ready", "Ready", 8, 0),
        Column("alloc", "Alloc", 5, 0),
        Column("requested", "Req", 3, 1),
        Column("reported", "GPUs", 4, 1),  # what the node's own poll reports
        Column("labels", "Labels", 16, 3),  # nice to have: makes way for a pool's "· 0/1 Ready" at 80 columns
        Column("taints", "Taints", 18, 3, flex=True),
    )

    def show(
        self,
        snapshot: KubernetesSnapshot,
        pool_label: str | None,
        levels: Mapping[str, Status],
        inventory_names: Mapping[str, str],
        reported: Mapping[str, int | None],
        shown_labels: Sequence[str],
    ) -> None:
        rows: dict[str, dict[str, Text]] = {}
        for pool, nodes in pools(snapshot, pool_label):
            rows[pool_key(pool)] = pool_cells(pool, nodes, snapshot)
            for node in sorted(nodes, key=lambda n: n.name):
                name = inventory_names.get(node.name)
                rows[node_key(node.name)] = node_cells(
                    node, snapshot, levels.get(node.name), name, reported.get(node.name), shown_labels
                )
        self.sync(rows)
        self.order(rows)


def pod_cells(pod: K8sPod, failing: bool, operator: str) -> dict[str, Text]:
    phase_style = "green" if pod.phase == "Running" and not failing else "bold red"
    return {
        "pod": Text(pod.name if pod.namespace == operator else f"{pod.namespace}/{pod.name}", style="bold"),
        "node": Text(pod.node or "(unscheduled)", style="dim"),
        "phase": Text(pod.reason or pod.phase or "?", style=phase_style),
        "ready": DASH
        if pod.ready is None
        else Text("yes" if pod.ready else "no", style="" if pod.ready else "yellow"),
        "restarts": count_text(pod.restarts, "yellow" if pod.restarts else ""),
        "gpus": count_text(pod.gpus or None),
    }


class K8sPodTable(KeyedTable):
    """Pods keyed pod|NAMESPACE/NAME: the GPU Operator's, then the pods holding GPUs."""

    COLUMNS: tuple[Column, ...] = (
        Column("pod", "Pod", 16, 0, keep=True),
        Column("node", "Node", 12, 1),
        Column("phase", "Phase", 8, 0),
        Column("ready", "Ready", 5, 1),
        Column("restarts", "Restarts", 4, 2),
        Column("gpus", "GPUs", 4, 1),  # numbers: flexed, they would sit at the far edge, away from "GPUs"
    )

    def show(self, pods: Sequence[K8sPod], failing: frozenset[str], operator: str) -> None:
        ordered = sorted(pods, key=lambda pod: (pod.namespace != operator, pod.namespace, pod.name))
        rows = {
            f"pod|{pod.namespace}/{pod.name}": pod_cells(pod, pod.name in failing, operator)
            for pod in ordered
        }
        self.sync(rows)
        self.order(rows)
