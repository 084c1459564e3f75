"""The Slurm collector: `scontrol ping`, `sinfo --json -N` and `squeue --json` on the inventory's `via` node.

The three run side by side on the node's one connection, each bounded by the node's command timeout. Where
JSON is missing (a Slurm without a data_parser plugin, an option it does not know, output past the
transport's cap) the plain-text forms are read instead. Never raises for node trouble: what could not be
read goes in the snapshot's `error`.
"""

from __future__ import annotations

import asyncio
import shlex
from datetime import UTC, datetime

from console.collectors.reads import LastRead, read_failure, run_read
from console.collectors.slurm_parse import (
    SINFO_FIELDS,
    SQUEUE_FORMAT,
    SlurmParseError,
    load_json,
    meta,
    parse_ping,
    parse_sinfo_json,
    parse_sinfo_text,
    parse_squeue_json,
    parse_squeue_text,
)
from console.model.inventory import Node
from console.model.slurm import SlurmJob, SlurmNode, SlurmSnapshot, SlurmSource
from console.transport.base import CommandResult, CommandTimeout, Transport, TransportError

PING_COMMAND = "LC_ALL=C scontrol ping"
SINFO_JSON = "LC_ALL=C sinfo --json -N"
SQUEUE_JSON = "LC_ALL=C squeue --json"
SINFO_TEXT = shlex.join(["LC_ALL=C", "sinfo", "-N", "-h", "-O", SINFO_FIELDS])
SQUEUE_TEXT = shlex.join(["LC_ALL=C", "squeue", "-h", "-o", SQUEUE_FORMAT])
COMMANDS = (PING_COMMAND, SINFO_JSON, SQUEUE_JSON, SINFO_TEXT, SQUEUE_TEXT)


def _failure(command: str, result: CommandResult | TransportError) -> str:
    tool = command.split()[1]
    return read_failure(tool, result, f"{tool}: not found on the via node (is slurm-client installed?)")


async def _nodes(
    transport: Transport, timeout: float
) -> tuple[tuple[SlurmNode, ...], bool, SlurmSource, str | None, str | None]:
    """(nodes, truncated, source, data_parser, release); raises SlurmParseError with both failures."""
    result = await run_read(transport, SINFO_JSON, timeout)
    first = None
    if isinstance(result, CommandResult) and result.ok:
        try:
            nodes, truncated = parse_sinfo_json(result.stdout)
            parser, release = meta(load_json(result.stdout))
            return nodes, truncated, "json", parser, release
        except SlurmParseError as exc:
            first = f"sinfo --json: {exc}"
    else:
        first = _failure(SINFO_JSON, result)
    text = await run_read(transport, SINFO_TEXT, timeout)
    if isinstance(text, CommandResult) and text.ok:
        nodes, truncated = parse_sinfo_text(text.stdout)
        return nodes, truncated, "text", "text", None
    raise SlurmParseError(f"{first}; {_failure(SINFO_TEXT, text)}")


async def _jobs(transport: Transport, timeout: float) -> tuple[tuple[SlurmJob, ...], bool]:
    result = await run_read(transport, SQUEUE_JSON, timeout)
    if isinstance(result, CommandResult) and result.ok:
        try:
            return parse_squeue_json(result.stdout)
        except SlurmParseError as exc:
            first = f"squeue --json: {exc}"
    else:
        first = _failure(SQUEUE_JSON, result)
    text = await run_read(transport, SQUEUE_TEXT, timeout)
    if isinstance(text, CommandResult) and text.ok:
        return parse_squeue_text(text.stdout)
    raise SlurmParseError(f"{first}; {_failure(SQUEUE_TEXT, text)}")


# The last read per via node: polls within `slurm.interval` reuse it.
_LAST: LastRead[SlurmSnapshot] = LastRead()


def forget(node: str) -> None:
    """The next poll of this via node reads the cluster again (after an action changed it)."""
    _LAST.forget(node)


async def collect_slurm(transport: Transport, node: Node) -> SlurmSnapshot:
    """The cluster as the via node's Slurm clients see it (the last read when it is fresh enough)."""
    interval = node.slurm.interval if node.slurm is not None else 0.0
    return await _LAST.get(node.name, interval, lambda: read_slurm(transport, node))


async def read_slurm(transport: Transport, node: Node) -> SlurmSnapshot:
    """Read the cluster now."""
    timeout = node.ssh.command_timeout
    members = node.slurm.members if node.slurm is not None else ()
    ping, nodes, jobs = await asyncio.gather(
        run_read(transport, PING_COMMAND, timeout),
        _nodes(transport, timeout),
        _jobs(transport, timeout),
        return_exceptions=True,
    )
    errors: list[str] = []
    controller, controller_text = None, None
    if isinstance(ping, CommandResult):
        controller, controller_text = parse_ping(ping.stdout)
        if controller is None:
            errors.append(_failure(PING_COMMAND, ping))
    elif isinstance(ping, CommandTimeout):
        # scontrol ping waits for the controller: no answer in time is the controller not answering.
        controller, controller_text = False, f"scontrol ping: no answer within {timeout:g}s"
    elif isinstance(ping, TransportError):
        errors.append(_failure(PING_COMMAND, ping))
    node_rows: tuple[SlurmNode, ...] = ()
    source: SlurmSource | None = None
    parser = release = None
    truncated = False
    if isinstance(nodes, SlurmParseError):
        errors.append(str(nodes))
    elif isinstance(nodes, BaseException):
        raise nodes
    else:
        node_rows, truncated, source, parser, release = nodes
    job_rows: tuple[SlurmJob, ...] = ()
    if isinstance(jobs, SlurmParseError):
        errors.append(str(jobs))
    elif isinstance(jobs, BaseException):
        raise jobs
    else:
        job_rows, more = jobs
        truncated = truncated or more
    return SlurmSnapshot(
        node.name,
        datetime.now(UTC),
        controller=controller,
        controller_text=controller_text,
        nodes=node_rows,
        jobs=job_rows,
        source=source,
        parser=parser,
        version=release,
        error="; ".join(errors) or None,
        truncated=truncated,
        members=members,
    )
