"""Docker actions: tail a container's logs, restart a container. Through the same forwarded socket as the
collector (never TCP), audited, and restart only with confirmed=True."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Iterable

import aiodocker
import aiohttp

from console.actions import ActionError, ActionResult, AuditLog, require_confirmation
from console.collectors.docker import docker_client
from console.inventory.model import Node
from console.transport.base import Transport, TransportError

RESTART_STOP_TIMEOUT_S = 10  # what dockerd waits after SIGTERM before SIGKILL (docker restart -t)
RESTART_DEADLINE_S = 60.0

_ERRORS = (aiodocker.DockerError, aiohttp.ClientError, OSError, TimeoutError, TransportError)


def _describe(exc: BaseException, container: str) -> str:
    if isinstance(exc, aiodocker.DockerError):
        if exc.status == 404:
            return f"no container {container!r}"
        return f"Docker API error {exc.status}: {exc.message}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def _lines(chunks: Iterable[str], pending: list[str]) -> list[str]:
    """Split log frames into lines; a frame may hold several lines or end mid-line (kept in pending)."""
    text = "".join(pending) + "".join(chunks)
    *complete, rest = text.split("\n")
    pending[:] = [rest] if rest else []
    return [line.rstrip("\r") for line in complete]


async def tail_logs(
    transport: Transport,
    node: Node,
    container: str,
    lines: int = 200,
    follow: bool = False,
    *,
    audit: AuditLog | None = None,
) -> AsyncGenerator[str, None]:
    """The container's last `lines` lines (stdout and stderr), then, with follow, new ones as they come.

    Read-only, so no confirmation; audited when an AuditLog is given. Raises ActionError when the daemon
    or the container cannot be reached. Closing the iterator closes the stream.
    """
    call = f"GET /containers/{container}/logs?tail={lines}&follow={int(follow)}"

    def audited(ok: bool, detail: str) -> None:
        if audit is not None:
            audit.record(
                node=node.name, action="docker.logs", target=container, call=call, ok=ok, detail=detail
            )

    try:
        client = await docker_client(transport, node)
        handle = await client.containers.get(container)  # a missing container fails here, not mid-stream
        pending: list[str] = []
        if not follow:
            found = _lines(await handle.log(stdout=True, stderr=True, tail=lines), pending) + pending
            audited(True, f"{len(found)} lines")
            for line in found:
                yield line
            return
        audited(True, "following")
        async for chunk in handle.log(stdout=True, stderr=True, follow=True, tail=lines):
            for line in _lines((chunk,), pending):
                yield line
        if pending:
            yield pending[0]
    except _ERRORS as exc:
        message = _describe(exc, container)
        audited(False, message)
        raise ActionError(f"{node.name}: logs of {container}: {message}") from exc


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
    try:
        client = await docker_client(transport, node)
        async with asyncio.timeout(deadline):
            await client.containers.container(container).restart(t=stop_timeout)
            after = await client.containers.get(container)
        state = after["State"]
        ok = state.get("Status") == "running"
        took = time.monotonic() - started
        detail = f"restarted in {took:.1f}s: {state.get('Status')} since {state.get('StartedAt')}"
    except _ERRORS as exc:
        ok, detail = False, _describe(exc, container)
    result = ActionResult(
        node.name, "docker.restart", container, call, ok, detail, time.monotonic() - started
    )
    audit.write(result)
    return result
