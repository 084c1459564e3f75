"""The inventory's Slurm keys across nodes: a top-level `slurm:` as every node's default, `slurm.via` a node
of the file, and the via node told which inventory nodes (by Slurm name) it answers for."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace

from console.model.inventory import Node
from console.model.slurm import SlurmMember, SlurmSettings

from .rules import quote

Report = Callable[[int | None, str, str], None]


def apply_slurm(
    report: Report,
    nodes: tuple[Node, ...],
    top: SlurmSettings | None,
    line: int | None,
    names: Collection[str],
) -> tuple[Node, ...]:
    nodes = tuple(
        node if node.slurm is not None or top is None else replace(node, slurm=top) for node in nodes
    )
    vias: dict[str, list[SlurmMember]] = {}
    for node in nodes:
        if node.slurm is None:
            continue
        if node.slurm.via not in names:
            key = "slurm.via" if node.slurm is top else f"nodes.{node.name}.slurm.via"
            report(
                line if node.slurm is top else None,
                key,
                f"{quote(node.slurm.via)} is not a node of this inventory",
            )
            continue
        gpus = node.gpus.count if node.gpus is not None else None
        vias.setdefault(node.slurm.via, []).append(SlurmMember(node.name, node.slurm_name or node.name, gpus))
    out = []
    for node in nodes:
        if node.name in vias:  # the via node reads the cluster, whether or not it is a Slurm node itself
            settings = node.slurm or SlurmSettings(node.name)
            node = replace(node, slurm=replace(settings, via=settings.via, members=tuple(vias[node.name])))
        elif node.slurm is not None and node.slurm.members:
            node = replace(node, slurm=replace(node.slurm, members=()))
        out.append(node)
    return tuple(out)
