"""`--check` for the AI stack: the comfy-mnt-ownership detector as a check, naming its fix.

Check id (only for nodes with an `ai_stack` section):
- `stack.comfy_mnt` (target `comfy`): critical when comfy's /comfy/mnt is not ONE bind mount of the
  settings' comfy-mnt (sub-mounts, another source), or the host directory is not owned uid:gid with the
  settings' mode; fix "troubleshoot comfy-mnt-ownership". (Files below it are left to the fix's deeper
  detector: a full walk of ComfyUI's venv is too much for every poll.) A node where neither the container
  nor the directory exists is critical "not brought up", fix "wizard bringup". Unknown when Docker or the
  node cannot be examined.

The other catalogue entries repair checks that already exist (service.tls_mismatch, docker.engine's
permission denied, docker.nvidia_runtime, container.restarts): `console.wizards.fixes` registers their
entry in `console.checks.fixes`. Importing this module registers the stack section (its collector and the
`stack.comfy_mnt` rule) in the section registry, which the snapshot source and the checks iterate.
"""

from __future__ import annotations

from datetime import UTC, datetime

from console.actions import AuditLog
from console.checks.model import CheckResult, Status
from console.inventory import settings as inventory
from console.inventory.model import Node
from console.model.node import NodeSnapshot
from console.model.stack import StackSnapshot as StackSnapshot
from console.sections import Section, register
from console.transport.base import Transport, TransportError
from console.wizards.engine import NodeContext
from console.wizards.fixes import troubleshoot
from console.wizards.fixes_stack import COMFY_MNT_FIX, examine_comfy_mnt
from console.wizards.ops import StepError
from console.wizards.probes import STAT_RULE
from console.wizards.settings import AiStackSettings

COMFY_MNT_CHECK = "stack.comfy_mnt"


def _settings(node: Node, settings: AiStackSettings | None) -> AiStackSettings | None:
    if settings is not None:
        return settings
    found = getattr(node, "ai_stack", None)
    return found if isinstance(found, AiStackSettings) else None


def planned_stack(node: Node, settings: AiStackSettings | None = None) -> tuple[tuple[str, str | None], ...]:
    return ((COMFY_MNT_CHECK, "comfy"),) if _settings(node, settings) is not None else ()


async def collect_stack(
    transport: Transport, node: Node, settings: AiStackSettings | None = None
) -> StackSnapshot | None:
    """The stack's findings (None for a node without an ai_stack section). Never raises for node trouble."""
    wanted = _settings(node, settings)
    if wanted is None:
        return None
    ctx = NodeContext(transport, node, AuditLog())  # the detectors only read: nothing reaches the log
    try:
        finding = await examine_comfy_mnt(ctx, wanted, deep=False)
    except (StepError, TransportError) as exc:
        return StackSnapshot(node.name, datetime.now(UTC), error=str(exc))
    return StackSnapshot(node.name, datetime.now(UTC), finding)


def evaluate_stack(
    node: Node, snapshot: StackSnapshot | None, settings: AiStackSettings | None = None
) -> tuple[CheckResult, ...]:
    if not planned_stack(node, settings):
        return ()

    def result(status: Status, summary: str, fix: str | None = None) -> tuple[CheckResult, ...]:
        return (CheckResult(node.name, COMFY_MNT_CHECK, status, summary, "comfy", fix),)

    if snapshot is None:
        return result(Status.UNKNOWN, "no stack data")
    if snapshot.error is not None or snapshot.comfy_mnt is None:
        return result(Status.UNKNOWN, f"cannot examine the stack: {snapshot.error or 'no answer'}")
    finding = snapshot.comfy_mnt
    if not finding.found:
        return result(Status.OK, finding.summary)
    if finding.data is False and "does not exist" in finding.summary:
        return result(Status.CRITICAL, f"AI stack not brought up: {finding.summary}", "wizard bringup")
    return result(Status.CRITICAL, finding.summary, troubleshoot(COMFY_MNT_FIX))


def _stack_rules(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    return evaluate_stack(node, snapshot.stack)


def _wanted(node: Node) -> bool:
    return _settings(node, None) is not None


async def _collect(transport: Transport, node: Node) -> StackSnapshot | None:
    return await collect_stack(transport, node)


def _timed_out(node: Node, message: str) -> StackSnapshot:
    return StackSnapshot(node.name, datetime.now(UTC), error=message)


# The detector reads the Docker API (the read-only proxy passes GETs) and runs probes.stat_paths.
register(
    Section(
        "stack",
        _wanted,
        planned_stack,
        _stack_rules,
        _collect,
        read_only_commands=(STAT_RULE,),
        timed_out=_timed_out,
        settings=(inventory.AI_STACK,),
    )
)
