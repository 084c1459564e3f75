"""Docker actions: tail a container's logs, restart a container. Through the same forwarded socket as the
collector (never TCP); a restart only with confirmed=True, audited before (intent) and after (result)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator

from console.actions import ActionResult, AuditLog, require_confirmation
from console.actions.logs import LogLine, LogQuery, describe_docker_error, stream_logs
from console.collectors.docker import DOCKER_CALL_ERRORS, docker_client
from console.inventory.model import Node
from console.text import clean_line
from console.transport.base import Transport

RESTART_STOP_TIMEOUT_S = 10  # what dockerd waits after SIGTERM before SIGKILL (docker restart -t)
RESTART_DEADLINE_S = 60.0


async def tail_logs(
    transport: Transport,
    node: Node,
    container: str,
    lines: int = 200,
    follow: bool = False,
    *,
    audit: AuditLog | None = None,
) -> AsyncGenerator[str, None]:
    """The container's last `lines` lines (stdout and stderr), then, with follow, new ones until the stream
    ends (the container stopped). Each line cleaned (`clean_text`: controls visible, a `\\r` progress bar as
    its last redraw) and capped. Raises ActionError when the daemon or the container cannot be reached.

    Reading is not a mutation: `audit` is accepted for older callers and never written to. The log view
    uses `console.actions.logs.stream_logs` (statuses, timestamps, reconnect across restarts).
    """
    del audit
    query = LogQuery(tail=max(lines, 0), follow=follow)
    stream = stream_logs(transport, node, container, query, reconnect=False)
    try:
        async for event in stream:
            if isinstance(event, LogLine):
                yield event.text
    finally:
        await stream.aclose()


async def restart_container(
    transport: Transport,
    node: Node,
    container: str,
    *,
    audit: AuditLog,
    confirmed: bool = False,
    stop_timeout: int = RESTART_STOP_TIMEOUT_S,
    deadline: float = RESTART_DEADLINE_S,
) -> ActionResult:
    """`docker restart` the container; raises NotConfirmed (and does nothing) without confirmed=True.

    Always returns a result, audited, whether the restart worked or not.
    """
    require_confirmation("docker.restart", container, confirmed)
    call = f"POST /containers/{container}/restart?t={stop_timeout}"
    started = time.monotonic()
    # The intent is on disk before the request leaves: a console killed mid-way still left a trace.
    audit_id = audit.intent(node=node.name, action="docker.restart", target=container, call=call)
    try:
        client = await docker_client(transport, node)
        async with asyncio.timeout(deadline):
            await client.containers.container(container).restart(t=stop_timeout)
            after = await client.containers.get(container)
        state = after["State"]
        ok = state.get("Status") == "running"
        took = time.monotonic() - started
        detail = clean_line(f"restarted in {took:.1f}s: {state.get('Status')} since {state.get('StartedAt')}")
    except DOCKER_CALL_ERRORS as exc:
        ok, detail = False, describe_docker_error(exc, container)
    except asyncio.CancelledError:
        audit.interrupted(audit_id, node=node.name, action="docker.restart", target=container, call=call)
        raise
    result = ActionResult(
        node.name, "docker.restart", container, call, ok, detail, time.monotonic() - started
    )
    audit.write(result, audit_id)
    return result
