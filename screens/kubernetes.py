"""Kubernetes: the cluster read through the inventory's `kubernetes.via` node (its kubectl, its kubeconfig):
node pools by `pool_label`, each node's Ready state, taints and labels of interest, its `nvidia.com/gpu`
allocatable and requested (summed from pod requests) beside the GPUs the node's own poll reports, the GPU
Operator's ClusterPolicy state and its pods, and the pods holding GPUs. Read-only.

The app polls the via node (its kubernetes section reads the cluster) and the member nodes (their GPUs) while
this screen shows. Levels come from the Kubernetes checks (console.checks.k8s_rules), as `--check` judges.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from console.checks.k8s_rules import (
    FAILING,
    GPUS,
    NODE,
    OPERATOR,
    evaluate_kubernetes,
    wanted_kubernetes,
)
from console.inventory.kubernetes import kubernetes_of
from console.model.checks import Status
from console.model.inventory import Node
from console.model.kubernetes import KubernetesSettings, KubernetesSnapshot, parse_label
from console.model.node import NodeSnapshot
from screens.cluster_base import ViaClusterScreen
from widgets.k8s_tables import K8sNodeTable, K8sPodTable, ready_text
from widgets.status import STATUS_ICON, STATUS_STYLE

if TYPE_CHECKING:
    from screens.app import OpsConsoleApp

GPU_PRODUCT = "nvidia.com/gpu.product"


def via_nodes(nodes: Iterable[Node]) -> list[Node]:
    """The nodes that read a cluster (the loader gave them its members): those its checks judge."""
    return [node for node in nodes if wanted_kubernetes(node)]


class KubernetesScreen(ViaClusterScreen):
    CSS_PATH = "kubernetes.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open", "Open node"),
    ]
    PREFIX = "k8s"
    NODE_TABLE = K8sNodeTable
    LOWER_TABLE = K8sPodTable
    LOWER = "pods"

    def find_via(self, nodes: Iterable[Node]) -> Node | None:
        found = via_nodes(nodes)
        return found[0] if found else None

    def member_names(self, via: Node) -> Sequence[str]:
        settings = kubernetes_of(via)
        return [m.name for m in settings.members] if settings is not None else ()

    def subtitle(self, via: Node | None) -> str:
        command = self.settings.command if self.settings is not None else "kubectl"
        return f"the cluster, read with {command} on {via.name}" if via else "no Kubernetes here"

    @property
    def settings(self) -> KubernetesSettings | None:
        via = self.via
        return kubernetes_of(via) if via is not None else None

    @property
    def latest(self) -> NodeSnapshot | None:
        via = self.via
        return self.session.latest.get(via.name) if via is not None else None

    # --- drawing -------------------------------------------------------------------------------------------

    def _show(self) -> None:
        via, settings, latest = self.via, self.settings, self.latest
        snap = latest.kubernetes if latest is not None else None
        if via is None or settings is None or latest is None or snap is None:
            waiting = (
                "no node in this inventory has kubernetes: {via: …}"
                if via is None
                else f"reading the cluster on {via.name}…"
            )
            self.show_waiting(waiting)
            return
        if snap.error is not None:
            self.set_text("#k8s-summary", Text(f"✖ {snap.error}", style="bold red"))
            self.set_text("#k8s-pods-title", Text(""))
            return
        live = {}
        for member in settings.members:
            polled = self.session.latest.get(member.name)
            gpu = polled.gpu if polled is not None else None
            if gpu is not None and gpu.status == "ok":
                live[member.name] = len(gpu.gpus)
        results = evaluate_kubernetes(via, snap, latest.gpu, live)
        by_member: dict[str, Status] = {}
        for result in results:
            if result.check in (NODE, GPUS) and result.target is not None:
                old = by_member.get(result.target)
                by_member[result.target] = (
                    result.status if old is None else Status.worst((old, result.status))
                )
        levels: dict[str, Status] = {}
        names: dict[str, str] = {}
        reported: dict[str, int | None] = {}
        for member in settings.members:
            found = snap.member_node(member)
            if found is None:
                continue
            names[found.name] = member.name
            if member.name in by_member:
                levels[found.name] = by_member[member.name]
            reported[found.name] = live.get(member.name)
        for node in snap.nodes:  # cluster nodes the inventory does not list: their Ready state alone
            levels.setdefault(node.name, Status.OK if node.ready is True else Status.CRITICAL)
        shown = [key for key, _ in map(parse_label, settings.expect.labels if settings.expect else ())]
        shown = [key for key in shown if key != settings.pool_label] + [GPU_PRODUCT]
        table = self.query_one(K8sNodeTable)
        table.show(snap, settings.pool_label, levels, names, reported, shown)
        operator = next((r for r in results if r.check == OPERATOR), None)
        pods = [p for p in snap.pods if p.namespace == settings.operator_namespace or p.gpus]
        failing = frozenset(p.name for p in pods if p.phase != "Running" or p.reason in FAILING)
        self.query_one(K8sPodTable).show(pods, failing, settings.operator_namespace)
        self.set_text("#k8s-summary", self._summary(via, settings, snap))
        title = Text("GPU Operator: ", style="bold")
        if operator is not None:
            title.append(
                f"{STATUS_ICON[operator.status]} {operator.summary}", style=STATUS_STYLE[operator.status]
            )
        else:
            title.append("not judged (kubernetes.gpu_operator: false)", style="dim")
        self.set_text("#k8s-pods-title", title)
        self._show_detail()

    def _summary(self, via: Node, settings: KubernetesSettings, snap: KubernetesSnapshot) -> Text:
        ready = sum(node.ready is True for node in snap.nodes)
        allocatable = sum(node.allocatable_gpus or 0 for node in snap.nodes)
        requested = sum(snap.requested_gpus(node.name) for node in snap.nodes)
        pending = sum(pod.gpus for pod in snap.pods if pod.node is None)
        parts = [
            Text(
                f"{ready}/{len(snap.nodes)} nodes Ready",
                style="green" if ready == len(snap.nodes) else "bold red",
            ),
            Text(f"GPUs {requested}/{allocatable} requested" + (f", {pending} waiting" if pending else "")),
        ]
        where = f"via {via.name}" + (f" · context {settings.context}" if settings.context else "")
        parts.append(Text(where + f" · read {snap.taken_at:%H:%M:%S} UTC", style="dim"))
        for problem in (snap.pods_error, snap.policy_error):
            if problem:
                parts.append(Text(problem, style="bold magenta"))
        if snap.left_out:
            parts.append(Text(f"{snap.left_out} not kept (too many)", style="yellow"))
        if self.ops_app.paused:
            parts.insert(0, Text("⏸ PAUSED", style="bold reverse"))
        return Text(" · ", style="dim").join(parts)

    def _show_detail(self) -> None:
        latest = self.latest
        snap = latest.kubernetes if latest is not None else None
        key = self.query_one(K8sNodeTable).cursor_key or ""
        text = Text("Enter: the node's screen · Esc: back", style="dim")
        if snap is not None and key.startswith("node|"):
            node = snap.k8s_node(key.split("|", 1)[1])
            if node is not None:
                text = Text.assemble(ready_text(node), " ", Text(node.name, style="bold"))
                if node.ready_reason:
                    text.append(f": {node.ready_reason}", style="yellow")
                capacity = node.capacity_gpus
                text.append(f" · capacity {capacity if capacity is not None else '–'} nvidia.com/gpu")
                if node.kubelet:
                    text.append(f" · kubelet {node.kubelet}", style="dim")
        self.set_text("#k8s-detail", text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def action_open(self) -> None:
        key = self.query_one(K8sNodeTable).cursor_key or ""
        settings, latest = self.settings, self.latest
        snap = latest.kubernetes if latest is not None else None
        if settings is None or snap is None or not key.startswith("node|"):
            return
        name = key.split("|", 1)[1]
        member = next(
            (m for m in settings.members if (found := snap.member_node(m)) and found.name == name), None
        )
        if member is not None and member.name in self.ops_app.nodes:
            self.ops_app.open_node(member.name)


def open_kubernetes(app: OpsConsoleApp) -> None:
    """The Kubernetes screen over the fleet screen (`K` there, and the palette)."""
    app.action_open_fleet()
    app.push_screen(KubernetesScreen())
