"""The basics section: load, memory, uptime, kernel and disk use, from a kept shell (no rules of its own yet).

A poll asks the node's basics shell one question (console/streams/basics_shell.py: shell builtins only, no
process per refresh); disk use is one `stat -f` in the background every `disk_every` seconds. The shell
falls back to one command per read itself where no stream is kept (a local node, a wrapper without streams).
"""

from __future__ import annotations

from datetime import UTC, datetime

from console.collectors.basics import (
    DISK_FORMAT,
    ONESHOT_COMMAND,
    STREAM_COMMAND,
    NodeBasics,
    collect_basics,
    disk_paths,
)
from console.model.checks import CheckResult
from console.model.inventory import Node
from console.model.node import NodeSnapshot
from console.sections import basics_columns
from console.sections.registry import Planned, Section
from console.sections.stream import Poll, Stream, StreamContext
from console.streams.basics_shell import BasicsStream
from console.transport.base import Transport
from console.transport.readonly import Argv, Word


def scratch_paths(node: Node) -> tuple[str, ...]:
    """The node's local scratch paths (`Node.scratch`)."""
    return tuple(str(path) for path in node.scratch)


class BasicsSectionStream:
    """One node's basics: every poll asks the kept shell (the report is cheap and always current)."""

    def __init__(self, shell: BasicsStream) -> None:
        self.shell = shell

    def latest(self, poll: Poll) -> None:
        return None

    async def read(self, poll: Poll) -> NodeBasics:
        # A cold start leaves the disk read to the next poll; --check waits for it.
        return await self.shell.read(wait_disks=poll.one_shot, disks_due=poll.warm)

    def kick(self) -> None:
        pass

    async def close(self) -> None:
        await self.shell.close()


def _open(ctx: StreamContext) -> BasicsSectionStream:
    node = ctx.node
    scratch = (*scratch_paths(node), *ctx.source.scratch.get(node.name, ()))
    shell = BasicsStream(
        ctx.transport,
        disks=disk_paths(scratch, [mount.path for mount in node.mounts]),
        disk_every=ctx.source.disk_every,
        timeout=node.ssh.command_timeout,
    )
    return BasicsSectionStream(shell)


async def _collect(transport: Transport, node: Node) -> NodeBasics:
    return await collect_basics(transport, timeout=node.ssh.command_timeout)


def _timed_out(node: Node, message: str) -> NodeBasics:
    return NodeBasics(node.name, datetime.now(UTC), error=message)


def _planned(node: Node) -> Planned:
    return ()


def _evaluate(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    return ()


# statfs of `/` and the local scratch paths, under a remote `timeout` (a hung path costs seconds only).
_DISKS = Argv(
    "LC_ALL=C", "timeout", "-s", "KILL", Word("[0-9]{1,3}"), "stat", "-f", "-c", DISK_FORMAT, "--",
    Word("/.*", many=True),
)  # fmt: skip

BASICS = Section(
    "basics",
    lambda node: True,
    _planned,
    _evaluate,
    read_only_commands=(STREAM_COMMAND, ONESHOT_COMMAND, _DISKS),
    stream=Stream(_open, _collect),
    timed_out=_timed_out,
    columns=basics_columns.COLUMNS,
    cells=basics_columns.cells,
)
