"""The inventory's Kubernetes and container-runtime keys: `kubernetes:` (top level, defaults, groups, nodes)
and `containers: {runtime: cri-o}`.

Like `slurm:`, a top-level `kubernetes:` is every node's default (a node's own keys win, key by key), its
`via` names a node of the file, and the via node is told which inventory nodes it answers for. The keys
are registered here, on the inventory's floor, so `inventory check` knows them without the sections.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Collection
from dataclasses import replace

from console.model.cri import ContainersSettings
from console.model.inventory import Node
from console.model.kubernetes import (
    CONTEXT_PATTERN,
    LABEL_KEY_PATTERN,
    LABEL_VALUE_PATTERN,
    NAMESPACE_PATTERN,
    K8sExpect,
    K8sMember,
    KubernetesSettings,
    parse_label,
    parse_taint,
)

from .rules import _at_least_zero, quote
from .settings import SectionSettings, register_settings

__all__ = [
    "CONTAINERS",
    "KUBERNETES",
    "KubernetesSettings",
    "apply_kubernetes",
    "containers_of",
    "kubernetes_of",
]

Report = Callable[[int | None, str, str], None]
KEY = "kubernetes"


def _pattern(pattern: str, what: str) -> Callable[[str], str | None]:
    return lambda value: None if re.fullmatch(pattern, value) else f"is not {what}"


def _check_taint(value: str) -> str | None:
    taint = parse_taint(value)
    if taint is None:
        return "must be key=value:Effect or key:Effect (NoSchedule, PreferNoSchedule, NoExecute)"
    ok = re.fullmatch(LABEL_KEY_PATTERN, taint.key) and re.fullmatch(LABEL_VALUE_PATTERN, taint.value or "")
    return None if ok else "is not a valid taint key or value"


def _check_label(value: str) -> str | None:
    key, label = parse_label(value)
    ok = re.fullmatch(LABEL_KEY_PATTERN, key) and re.fullmatch(LABEL_VALUE_PATTERN, label or "")
    return None if ok else "must be key=value or key (a Kubernetes label)"


KUBERNETES = SectionSettings(
    KEY,
    KubernetesSettings | None,
    {
        (KubernetesSettings, "context"): _pattern(CONTEXT_PATTERN, "a kubeconfig context name"),
        (KubernetesSettings, "pool_label"): _pattern(LABEL_KEY_PATTERN, "a label key"),
        (KubernetesSettings, "k8s_name"): _pattern(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?", "a node name"),
        (KubernetesSettings, "operator_namespace"): _pattern(NAMESPACE_PATTERN, "a namespace"),
        (KubernetesSettings, "interval"): _at_least_zero,
        (K8sExpect, "taints"): _check_taint,
        (K8sExpect, "labels"): _check_label,
    },
)
CONTAINERS = SectionSettings("containers", ContainersSettings | None)
register_settings(KUBERNETES)
register_settings(CONTAINERS)

_DEFAULT = KubernetesSettings()


def kubernetes_of(node: Node) -> KubernetesSettings | None:
    value = node.settings(KEY)
    return value if isinstance(value, KubernetesSettings) else None


def containers_of(node: Node) -> ContainersSettings | None:
    value = node.settings("containers")
    return value if isinstance(value, ContainersSettings) else None


def _with(node: Node, settings: KubernetesSettings | None) -> Node:
    plugins = tuple((key, value) for key, value in node.plugins if key != KEY)
    return replace(node, plugins=(*plugins, (KEY, settings)) if settings is not None else plugins)


def _over(top: KubernetesSettings, own: KubernetesSettings) -> KubernetesSettings:
    """The node's own keys (those it changed from the defaults) over the top level's."""
    changed = {
        f.name: getattr(own, f.name)
        for f in dataclasses.fields(own)
        if getattr(own, f.name) != getattr(_DEFAULT, f.name)
    }
    return replace(top, **changed)


def apply_kubernetes(
    report: Report,
    nodes: tuple[Node, ...],
    top: KubernetesSettings | None,
    line: int | None,
    names: Collection[str],
) -> tuple[Node, ...]:
    merged = []
    for node in nodes:
        own = kubernetes_of(node)
        if top is not None:
            own = top if own is None else _over(top, own)
        merged.append(_with(node, own) if own is not None else node)
    vias: dict[str, list[K8sMember]] = {}
    for node in merged:
        settings = kubernetes_of(node)
        if settings is None:
            continue
        key = "kubernetes.via" if settings is top else f"nodes.{node.name}.kubernetes.via"
        where = line if settings is top else None
        if settings.via is None:
            report(where, key, "missing required key (the node whose kubectl reads the cluster)")
            continue
        if settings.via not in names:
            report(where, key, f"{quote(settings.via)} is not a node of this inventory")
            continue
        gpus = node.gpus.count if node.gpus is not None else None
        vias.setdefault(settings.via, []).append(K8sMember(node.name, settings.k8s_name, node.host, gpus))
    out = []
    for node in merged:
        settings = kubernetes_of(node)
        if node.name in vias:  # the via node reads the cluster, whether or not it is a member itself
            base = (
                settings
                if settings is not None and settings.via == node.name
                else _cluster(merged, node.name)
            )
            node = _with(node, replace(base, members=tuple(vias[node.name])))
        elif settings is not None and settings.members:
            node = _with(node, replace(settings, members=()))
        out.append(node)
    return tuple(out)


def _cluster(nodes: list[Node], via: str) -> KubernetesSettings:
    """The settings of the cluster a via node reads: its first member's (with `via` set, it reads them)."""
    return next(s for n in nodes if (s := kubernetes_of(n)) is not None and s.via == via)
