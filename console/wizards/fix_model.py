"""The troubleshooting catalogue's types: what a detector found, and an entry (detector, explanation, fix)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from console.inventory.model import ServiceSpec
from console.model.stack import Finding as Finding
from console.tunnels import TunnelRegistry
from console.wizards.engine import NodeContext, Wizard
from console.wizards.settings import AiStackSettings


@dataclass(frozen=True, slots=True)
class FixInput:
    """What a fix works on, beyond the node: the stack's settings and, per entry, a service or container."""

    settings: AiStackSettings = field(default_factory=AiStackSettings)
    service: ServiceSpec | None = None  # tls-mismatch, browser-tunnel (default: comfy from the settings)
    container: str | None = None  # restart-loop (None: the container that is looping, detected)
    inventory_path: str | None = None  # tls-mismatch rewrites the scheme there
    groups: tuple[str, ...] = ()  # the node's groups, to find the scheme in the inventory
    tunnels: TunnelRegistry | None = None  # browser-tunnel opens its tunnel here


Detect = Callable[[NodeContext, FixInput], Awaitable[Finding]]
MakeWizard = Callable[[FixInput, Finding], Wizard]


@dataclass(frozen=True, slots=True)
class Fix:
    name: str
    title: str
    symptom: str  # what the operator sees (an error message, a behaviour)
    explanation: str  # why it happens
    checks: tuple[str, ...]  # `--check` ids whose failure this entry repairs (registered in checks.fixes)
    detect: Detect
    wizard: MakeWizard
    repairs_node: bool = (
        True  # False: the fix works around the fault (a tunnel): detecting again proves nothing
    )


def fix_wizard(fix: str, title: str, steps: tuple[Any, ...]) -> Wizard:
    return Wizard(fix, title, f"fix.{fix}", tuple(steps))
