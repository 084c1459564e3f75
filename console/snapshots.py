"""Snapshot value types, kept importable from here: they live on the model floor (console/model/)."""

from __future__ import annotations

from console.model.basics import NodeBasics
from console.model.docker import DockerSnapshot
from console.model.facts import NodeFacts
from console.model.gpu import GpuReading, GpuSnapshot
from console.model.mounts import MountsSnapshot
from console.model.node import NodeSnapshot
from console.model.services import ServicesSnapshot
from console.model.stack import StackSnapshot

__all__ = [
    "DockerSnapshot",
    "GpuReading",
    "GpuSnapshot",
    "MountsSnapshot",
    "NodeBasics",
    "NodeFacts",
    "NodeSnapshot",
    "ServicesSnapshot",
    "StackSnapshot",
]
