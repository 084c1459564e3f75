"""Sections as plug-ins: `Section`, the registry (`SECTIONS`, `register`) and the built-in sections.

Importing this package registers the built-in sections, in the order of a node's check results. A section
that lives above the core (the AI stack's, in the wizards) registers itself when its module is imported.
"""

from __future__ import annotations

from console.sections.basics import BASICS
from console.sections.cri import CRI
from console.sections.docker import DOCKER
from console.sections.facts import FACTS
from console.sections.gpu import GPU
from console.sections.hardware import HARDWARE
from console.sections.kubernetes import KUBERNETES
from console.sections.mounts import MOUNTS
from console.sections.power import POWER
from console.sections.registry import (
    SECTIONS,
    Planned,
    ReadOnlyRule,
    Section,
    register,
    registered,
    timed_out,
)
from console.sections.services import SERVICES
from console.sections.slurm import SLURM
from console.sections.stream import Poll, SectionStream, Stream, StreamContext

__all__ = [
    "BASICS",
    "CRI",
    "DOCKER",
    "FACTS",
    "GPU",
    "HARDWARE",
    "KUBERNETES",
    "MOUNTS",
    "POWER",
    "SECTIONS",
    "SERVICES",
    "Planned",
    "Poll",
    "ReadOnlyRule",
    "Section",
    "SectionStream",
    "Stream",
    "StreamContext",
    "register",
    "registered",
    "timed_out",
]

# One line per section; the order is the order of a node's check results.
register(GPU)
register(SERVICES)
register(MOUNTS)
register(DOCKER)
register(CRI)
register(FACTS)
register(POWER)
register(HARDWARE)
register(SLURM)
register(KUBERNETES)
register(BASICS)
