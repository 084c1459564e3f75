"""The mounts section: the mount table, a bounded `stat -f` probe per mount, and each NFS server's detail."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

from console.checks.mount_rules import evaluate_mounts, planned_mounts
from console.collectors import mounts
from console.inventory import settings as inventory
from console.model.checks import CheckResult
from console.model.columns import NodeTab
from console.model.inventory import Node
from console.model.mounts import MountsSnapshot
from console.model.node import NodeSnapshot
from console.sections.registry import ReadOnlyRule, Section
from console.sections.tally_columns import MOUNTS_COLUMNS, mounts_cells
from console.transport.base import Transport
from console.transport.readonly import Argv, Text, Word


def _wanted(node: Node) -> bool:
    return bool(node.mounts)


async def _collect(transport: Transport, node: Node) -> MountsSnapshot:
    return await mounts.collect_mounts(transport, node.mounts, timeout=node.ssh.command_timeout)


def _timed_out(node: Node, message: str) -> MountsSnapshot:
    return MountsSnapshot(node.name, datetime.now(UTC), error=message)


def _evaluate(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    return evaluate_mounts(node, snapshot.mounts)


def _probe() -> Argv:
    """The mount probe: `stat -f` under `timeout`, with pid bookkeeping in the per-user state directory
    (state dir "" = the default one; nothing else is written). Built from a real one, holes where it
    varies."""
    sample = shlex.split(mounts.probe_command("/opsconsole-path", timeout=86398.5, state_dir=None))
    key = Word("m-[0-9a-f]{16}")
    # Any whole number of seconds: the inventory takes any positive timeout (1,000,000 s is valid).
    holes = {"/opsconsole-path": Word("/.*"), "86400": Word("[0-9]+"), "": Word("")}
    return Argv(*(holes.get(word, key if key.accepts(word) else word) for word in sample))


def _rpc() -> Argv:
    """The NFS server detail: rpcinfo / showmount against the mount source's host: any host a source can
    name (mountinfo.split_nfs_source: no blanks, '/' or brackets), but never one that reads as an option."""
    host = Word(r"[^\s/\[\]-][^\s/\[\]]*")
    chunks = mounts._RPC_SCRIPT.format(limit=mounts.RPC_TOOL_TIMEOUT_S, host="\0").split("\0")
    script = [part for chunk in chunks for part in (host, chunk)][1:]
    return Argv("LC_ALL=C", "sh", "-c", Text(*script))


_COMMANDS: tuple[ReadOnlyRule, ...] = (mounts.MOUNTINFO_COMMAND, _probe(), _rpc())

MOUNTS = Section(
    "mounts",
    _wanted,
    planned_mounts,
    _evaluate,
    _collect,
    read_only_commands=_COMMANDS,
    timed_out=_timed_out,
    settings=(inventory.MOUNTS,),
    columns=MOUNTS_COLUMNS,
    cells=mounts_cells,
    tab=NodeTab("mounts", "Mounts", 3),
)
