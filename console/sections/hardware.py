"""The hardware section: CPU, memory, GPUs and NIC speeds against the inventory's `hardware:` profile, and
the node's OS and SELinux mode (the node screen's header; the wizards' OS check reads the same parser).

Read for every node, once per connection (console/streams/hardware.py): the OS is shown for every node and
costs one short command per connection; `hardware.profile` is planned only where a profile is set. A
one-shot `--check` reads it only for nodes with a profile.
"""

from __future__ import annotations

from datetime import UTC, datetime

from console.checks.hardware_rules import evaluate_hardware, planned_hardware, profile_of
from console.collectors.hardware import HARDWARE_COMMAND, collect_hardware
from console.inventory import settings as inventory
from console.model.checks import CheckResult
from console.model.hardware import HardwareSnapshot
from console.model.inventory import Node
from console.model.node import NodeSnapshot
from console.sections.registry import Section
from console.sections.stream import Poll, Stream, StreamContext
from console.streams.hardware import HardwareStream
from console.transport.base import Transport

NOT_READ = "not read: a one-shot check reads hardware only where the inventory has a profile"


class Unread:
    """--check on a node without a profile: nothing to judge, nothing run."""

    def __init__(self, node: Node) -> None:
        self.value = HardwareSnapshot(node.name, datetime.now(UTC), error=NOT_READ)

    def latest(self, poll: Poll) -> HardwareSnapshot:
        return self.value

    async def read(self, poll: Poll) -> HardwareSnapshot:
        return self.value

    def kick(self) -> None:
        pass

    async def close(self) -> None:
        pass


def _open(ctx: StreamContext) -> HardwareStream | Unread:
    if ctx.source.one_shot and profile_of(ctx.node) is None:
        return Unread(ctx.node)
    return HardwareStream(ctx.transport, ctx.node)


async def _once(transport: Transport, node: Node) -> HardwareSnapshot:
    return await collect_hardware(transport, node.name, timeout=node.ssh.command_timeout)


def _timed_out(node: Node, message: str) -> HardwareSnapshot:
    return HardwareSnapshot(node.name, datetime.now(UTC), error=message)


def _evaluate(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    return evaluate_hardware(node, snapshot)


HARDWARE = Section(
    "hardware",
    lambda node: True,
    planned_hardware,
    _evaluate,
    stream=Stream(_open, _once),
    read_only_commands=(HARDWARE_COMMAND,),
    timed_out=_timed_out,
    settings=(inventory.HARDWARE,),
)
