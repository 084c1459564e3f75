"""Slurm actions, run with the Slurm clients of the inventory's `slurm.via` node: drain a node with a reason,
resume it, cancel a job. Each only with confirmed=True, audited before (intent) and after (result), and
checked afterwards by reading the state back (the command's exit status alone does not say it took).

`--check` can never run them: it wraps every transport read-only, and none of these commands is a
registered read.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import time
from collections.abc import Awaitable, Callable

from console.actions import ActionError, ActionResult, AuditLog, require_confirmation
from console.inventory.model import Node
from console.text import clean_line, has_control
from console.transport.base import CommandResult, Transport, TransportError

DEADLINE_S = 30.0
SETTLE_S = 10.0  # how long the state read-back waits for slurmctld to show the change
REASON_LIMIT = 200
_NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_JOB_ID = re.compile(r"[0-9]{1,12}(_[0-9]{1,9})?")


def _check_node(name: str) -> str:
    if not _NODE_NAME.fullmatch(name):
        raise ActionError(f"not a Slurm node name: {clean_line(name, limit=60)!r}")
    return name


def _check_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise ActionError("a drain needs a reason (Slurm refuses one without)")
    if has_control(reason) or len(reason) > REASON_LIMIT:
        raise ActionError(f"the reason must be one line of at most {REASON_LIMIT} printable characters")
    return reason


async def _run(transport: Transport, command: str, deadline: float) -> CommandResult:
    return await transport.run(command, timeout=deadline)


async def _node_state(transport: Transport, name: str) -> str:
    result = await _run(transport, shlex.join(["LC_ALL=C", "sinfo", "-h", "-N", "-n", name, "-o", "%T"]), 10)
    return clean_line(result.stdout.strip().splitlines()[0] if result.stdout.strip() else "", limit=40)


async def _job_state(transport: Transport, job_id: str) -> str:
    result = await _run(transport, shlex.join(["LC_ALL=C", "squeue", "-h", "-j", job_id, "-o", "%T"]), 10)
    return clean_line(result.stdout.strip(), limit=40) if result.ok else "gone"


async def _settle(read: Callable[[], Awaitable[str]], done: Callable[[str], bool]) -> str:
    """Read the state until `done(state)` or SETTLE_S; the last state read."""
    deadline = time.monotonic() + SETTLE_S
    state = await read()
    while not done(state) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        state = await read()
    return state


async def _act(
    transport: Transport,
    via: Node,
    action: str,
    target: str,
    command: str,
    check: Callable[[], Awaitable[tuple[bool, str]]],
    audit: AuditLog,
    deadline: float,
) -> ActionResult:
    started = time.monotonic()
    audit_id = audit.intent(node=via.name, action=action, target=target, call=command)
    try:
        async with asyncio.timeout(deadline):
            result = await _run(transport, command, deadline)
            if not result.ok:
                said = clean_line(" ".join((result.stderr or result.stdout).split()), limit=300)
                ok, detail = False, f"exit {result.exit_status}: {said or 'no message'}"
            else:
                ok, detail = await check()
    except (TransportError, TimeoutError) as exc:
        ok, detail = False, clean_line(f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc))
    except asyncio.CancelledError:
        audit.interrupted(audit_id, node=via.name, action=action, target=target, call=command)
        raise
    outcome = ActionResult(via.name, action, target, command, ok, detail, time.monotonic() - started)
    audit.write(outcome, audit_id)
    return outcome


async def drain_node(
    transport: Transport,
    via: Node,
    slurm_name: str,
    reason: str,
    *,
    audit: AuditLog,
    confirmed: bool = False,
    deadline: float = DEADLINE_S,
) -> ActionResult:
    """`scontrol update NodeName=N State=DRAIN Reason=...`; ok when sinfo then shows it draining/drained."""
    require_confirmation("slurm.drain", slurm_name, confirmed)
    name, why = _check_node(slurm_name), _check_reason(reason)
    command = shlex.join(["scontrol", "update", f"NodeName={name}", "State=DRAIN", f"Reason={why}"])

    async def check() -> tuple[bool, str]:
        state = await _settle(lambda: _node_state(transport, name), lambda s: "drain" in s)
        return "drain" in state, f"{name} is {state or 'not listed'}"

    return await _act(transport, via, "slurm.drain", name, command, check, audit, deadline)


async def resume_node(
    transport: Transport,
    via: Node,
    slurm_name: str,
    *,
    audit: AuditLog,
    confirmed: bool = False,
    deadline: float = DEADLINE_S,
) -> ActionResult:
    """`scontrol update NodeName=N State=RESUME`; ok when sinfo no longer shows it drained."""
    require_confirmation("slurm.resume", slurm_name, confirmed)
    name = _check_node(slurm_name)
    command = shlex.join(["scontrol", "update", f"NodeName={name}", "State=RESUME"])

    async def check() -> tuple[bool, str]:
        # slurmctld pings a resumed node: until it answers, sinfo marks it `*` (not responding).
        state = await _settle(
            lambda: _node_state(transport, name), lambda s: bool(s) and "drain" not in s and "*" not in s
        )
        return bool(state) and "drain" not in state, f"{name} is {state or 'not listed'}"

    return await _act(transport, via, "slurm.resume", name, command, check, audit, deadline)


async def cancel_job(
    transport: Transport,
    via: Node,
    job_id: str,
    *,
    audit: AuditLog,
    confirmed: bool = False,
    deadline: float = DEADLINE_S,
) -> ActionResult:
    """`scancel JOB`; ok when squeue no longer lists it running or pending."""
    require_confirmation("slurm.cancel", job_id, confirmed)
    if not _JOB_ID.fullmatch(job_id):
        raise ActionError(f"not a Slurm job id: {clean_line(job_id, limit=40)!r}")
    command = shlex.join(["scancel", job_id])
    try:
        queued = await _job_state(transport, job_id)
    except TransportError as exc:  # nothing ran yet: a refusal the caller shows, not a bare exception
        raise ActionError(f"cannot read the queue on {via.name}: {clean_line(exc, limit=200)}") from None
    if queued in ("", "gone"):  # scancel says nothing about an unknown job
        raise ActionError(f"job {job_id} is not in the queue")
    finished = ("", "gone", "CANCELLED", "COMPLETING", "COMPLETED")

    async def check() -> tuple[bool, str]:
        state = await _settle(lambda: _job_state(transport, job_id), lambda s: s in finished)
        return (
            state in finished,
            f"job {job_id}: {state if state not in ('', 'gone') else 'no longer queued'}",
        )

    return await _act(transport, via, "slurm.cancel", job_id, command, check, audit, deadline)
