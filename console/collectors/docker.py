"""Docker collector: the Engine API through the node's SSH connection, never over TCP.

`transport.forward_unix_socket(node.docker.socket)` gives a local unix socket that reaches the node's Docker
socket over the one SSH connection (LocalTransport: the socket itself), and aiodocker talks HTTP through it.
One aiodocker client per transport and socket is kept across polls (`close_docker_clients` releases them).

A poll is cheap on dockerd: one list call (`/containers/json?all=1`), plus one inspect per container that is
running, restarting or paused, or that the inventory names (restart count, start time and health live only in
inspect; an exited container's are not worth a call per poll unless someone watches it). Never stats: they
make dockerd sample cgroups per container. Engine facts (`/version`, `/info`, and one shell round trip that
reads dockerd's command line, daemon.json and its API-port listeners) change rarely and are re-read at most
every `engine_max_age` seconds. `watch_events` streams what changed, so a screen can re-list on events
instead of polling fast.
"""

from __future__ import annotations

import asyncio
import json
import math
import shlex
import time
import weakref
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiodocker
import aiohttp
from aiodocker.containers import DockerContainer

from console.collectors.docker_model import (
    MAX_CONTAINERS,
    TCP_API_PORTS,
    ContainerInfo,
    DockerSnapshot,
    EngineInfo,
    HostProbeError,
    apply_inspect,
    loads_bounded,
    parse_container,
    parse_engine,
    parse_host_probe,
    pick_daemon,
    tcp_listeners,
    watched_containers,
)
from console.inventory.model import DockerSettings, Node
from console.pods import pod_reason
from console.text import clean_line
from console.transport.base import CommandTimeout, Transport, TransportError

DEFAULT_TIMEOUT_S = 10.0
ENGINE_MAX_AGE_S = 60.0
PROBE_TIMEOUT_S = 5.0
INSPECT_CONCURRENCY = 8
NO_SOCKET = "no Docker socket at"  # diagnose_socket's "missing": on a pod, no Docker at all
INSPECTED_STATES = frozenset({"running", "restarting", "paused"})
LIST_KEYS = ("Id", "Names", "Image", "Command", "State", "Status", "Ports", "Labels")
INSPECT_KEYS = ("State", "RestartCount")
MAX_EVENT_BYTES = 256 * 1024  # a real event is a few KiB; labels make it longer, never this long
# Yielded by watch_events for an event it could not read: something changed, so re-list.
OVERSIZED_EVENT: Mapping[str, Any] = {"Type": "container", "Action": "update", "unreadable": True}
# Container events after which a list is stale; exec_* (every healthcheck run), attach, resize... are not.
RELIST_ACTIONS = frozenset(
    {"create", "start", "restart", "die", "stop", "destroy", "rename", "pause", "unpause", "oom", "update",
     "health_status"}
)  # fmt: skip

_PORT_PATTERN = "|".join(f":{port:04X}$" for port in TCP_API_PORTS)
# One round trip: every dockerd's argv, its daemon.json (the --config-file it was given, else the default;
# "unreadable" when it exists or sits behind a directory we may not search, so silence proves nothing),
# and the sockets listening on 2375/2376 in its network namespace, then in the node's own.
# Anyone can name a process dockerd: only root's are believed. Each argument and config line is printed
# behind "a " or "c ", so no argument can pass for one of the probe's own "@@ " lines.
HOST_PROBE = f"""
for p in $(pidof dockerd 2>/dev/null || pgrep -x dockerd 2>/dev/null); do
  [ "$(awk '$1 == "Uid:" {{print $2; exit}}' /proc/$p/status 2>/dev/null)" = 0 ] || continue
  echo "@@ pid $p"; tr '\\0' '\\n' < /proc/$p/cmdline 2>/dev/null | sed 's/^/a /'
  cf=$(tr '\\0' '\\n' < /proc/$p/cmdline 2>/dev/null | awk 'f {{print; exit}} /^--config-file=/ {{sub(/^--config-file=/, ""); print; exit}} $0 == "--config-file" {{f = 1}}')
  cf=${{cf:-/etc/docker/daemon.json}}
  if [ -r "$cf" ]; then echo "@@ config $cf"; sed 's/^/c /' "$cf"; echo
  elif [ -e "$cf" ]; then echo "@@ unreadable $cf"
  else d=$cf; while [ "$d" != / ] && [ "$d" != . ]; do d=$(dirname "$d")
    if [ -d "$d" ] && [ ! -x "$d" ]; then echo "@@ unreadable $cf"; break; fi; done
  fi
  echo "@@ listen"; cat /proc/$p/net/tcp /proc/$p/net/tcp6 2>/dev/null | awk '$4 == "0A" && $2 ~ /{_PORT_PATTERN}/ {{print $2}}'
done
echo "@@ hostlisten"; cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4 == "0A" && $2 ~ /{_PORT_PATTERN}/ {{print $2}}'
"""  # noqa: E501


# What a Docker API call over the node's forwarded socket may raise when the daemon or the connection is in
# trouble (never a bug of ours): for the collectors, the actions and the wizards alike.
DOCKER_CALL_ERRORS = (aiodocker.DockerError, aiohttp.ClientError, OSError, TimeoutError, TransportError)
# A poll also meets a reply that is not JSON (ValueError).
_API_ERRORS = (*DOCKER_CALL_ERRORS, ValueError)


class DockerUnavailable(Exception):
    """The Docker API cannot be reached (watch_events); the message says why, for people."""


@dataclass(slots=True)
class _Client:
    docker: aiodocker.Docker
    local_path: str
    loop: asyncio.AbstractEventLoop
    engine: EngineInfo | None = None
    engine_read_at: float = -math.inf


_CLIENTS: weakref.WeakKeyDictionary[Transport, dict[str, _Client]] = weakref.WeakKeyDictionary()


def _socket(node: Node) -> str:
    return (node.docker or DockerSettings()).socket


async def _client(transport: Transport, socket_path: str) -> _Client:
    """The cached client for this transport and socket; a new one when the forward or the loop changed."""
    local = await transport.forward_unix_socket(socket_path)
    loop = asyncio.get_running_loop()
    clients = _CLIENTS.setdefault(transport, {})
    entry = clients.get(socket_path)
    if (
        entry is not None
        and entry.local_path == local
        and entry.loop is loop
        and not entry.docker.session.closed
    ):
        return entry
    fresh = _Client(aiodocker.Docker(url=f"unix://{local}"), local, loop)
    clients[socket_path] = fresh  # no await since the lookup: a concurrent caller gets this one
    if entry is not None and entry.loop is loop:
        await entry.docker.close()
    return fresh


async def docker_client(transport: Transport, node: Node) -> aiodocker.Docker:
    """The node's aiodocker client, through the forwarded socket (for actions; raises TransportError)."""
    return (await _client(transport, _socket(node))).docker


async def close_docker_clients(transport: Transport) -> None:
    """Close the clients kept for transport (call before transport.close())."""
    for entry in _CLIENTS.pop(transport, {}).values():
        if entry.loop is asyncio.get_running_loop():
            await entry.docker.close()


async def diagnose_socket(transport: Transport, socket_path: str) -> str | None:
    """Why the socket cannot be used, asked on the node as the SSH user: EACCES, missing; None if neither.

    Over SSH a refused socket only shows as a closed channel, so the node's own shell tells the cases apart.
    """
    quoted = shlex.quote(socket_path)
    command = (
        f"s={quoted}; id -un; stat -c %G \"$s\" 2>/dev/null || echo '?'; "
        'if [ -S "$s" ]; then if [ -r "$s" ] && [ -w "$s" ]; then echo ok; else echo denied; fi; '
        'elif [ -e "$s" ]; then echo notsocket; '
        'elif [ -d "$(dirname "$s")" ] && [ ! -x "$(dirname "$s")" ]; then echo denied; else echo missing; fi'
    )
    try:
        result = await transport.run(command, timeout=PROBE_TIMEOUT_S)
    except TransportError:
        return None
    user, group, verdict = (
        clean_line(word, limit=64) for word in [*result.stdout.split()[:3], "?", "?", "?"][:3]
    )
    if verdict == "denied":
        group = "docker" if group == "?" else group
        return f"permission denied on {socket_path}: is {user} in the {group} group?"
    if verdict == "missing":
        return f"{NO_SOCKET} {socket_path} (is dockerd running?)"
    if verdict == "notsocket":
        return f"{socket_path} is not a socket"
    return None


async def _failure(transport: Transport, socket_path: str, exc: BaseException, timeout: float) -> str:
    if isinstance(exc, HostProbeError):
        return clean_line(exc, limit=300)
    if isinstance(exc, TimeoutError):
        return f"Docker API at {socket_path} did not answer within {timeout:g}s"
    if isinstance(exc, TransportError):
        return clean_line(exc)
    if isinstance(exc, aiodocker.DockerError) and exc.status != 900:
        return f"Docker API error {exc.status}: {clean_line(exc.message, limit=300)}"
    diagnosis = await diagnose_socket(transport, socket_path)
    return diagnosis or f"cannot reach Docker at {socket_path}: {clean_line(exc, limit=300)}"


def _fields(container: DockerContainer, keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: container[key] for key in keys if key in container}


async def _read_engine(client: _Client, transport: Transport, socket_path: str) -> EngineInfo:
    probe = asyncio.create_task(_host_probe(transport))  # one SSH round trip, alongside the API calls
    try:
        version = await client.docker.version()
        info: Mapping[str, Any] = await client.docker.system.info()
    except BaseException:
        probe.cancel()
        raise
    probe_text = await probe
    root_dir = info.get("DockerRootDir")
    if probe_text is None:
        return parse_engine(version, info, tcp=None)
    daemons, host_listeners = parse_host_probe(probe_text)  # HostProbeError: a ValueError, reported
    tcp = tcp_listeners(daemons, host_listeners, socket_path, root_dir)
    return parse_engine(version, info, tcp=tcp, daemon=pick_daemon(daemons, socket_path, root_dir))


async def _host_probe(transport: Transport) -> str | None:
    try:
        result = await transport.run(HOST_PROBE, timeout=PROBE_TIMEOUT_S)
    except (TransportError, CommandTimeout):
        return None
    return result.stdout


async def _containers(
    client: aiodocker.Docker, watched: tuple[str, ...]
) -> tuple[tuple[ContainerInfo, ...], int]:
    """The containers (at most MAX_CONTAINERS, inspected where it matters) and how many were left out."""
    everything = await client.containers.list(all=True)
    listed = [parse_container(_fields(raw, LIST_KEYS)) for raw in everything[:MAX_CONTAINERS]]
    limit = asyncio.Semaphore(INSPECT_CONCURRENCY)

    async def inspect(container: ContainerInfo) -> ContainerInfo:
        if container.state not in INSPECTED_STATES and container.name not in watched:
            return container
        async with limit:
            try:
                raw = await client.containers.get(container.id)
            except aiodocker.DockerError as exc:
                if exc.status == 404:  # removed between list and inspect
                    return container
                raise
        return apply_inspect(container, _fields(raw, INSPECT_KEYS))

    inspected = await asyncio.gather(*(inspect(container) for container in listed))
    return tuple(sorted(inspected, key=lambda container: container.name)), len(everything) - len(listed)


async def collect_docker(
    transport: Transport,
    node: Node,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    engine_max_age: float = ENGINE_MAX_AGE_S,
) -> DockerSnapshot:
    """The node's engine facts and containers. Never raises for node trouble: the reason is in `error`."""
    started = time.monotonic()
    socket_path = _socket(node)
    name = transport.node_name

    def snapshot(
        engine: EngineInfo | None,
        containers: tuple[ContainerInfo, ...] = (),
        error: str | None = None,
        left_out: int = 0,
        pod: str | None = None,
    ) -> DockerSnapshot:
        return DockerSnapshot(
            name,
            datetime.now(UTC),
            engine,
            containers,
            error,
            duration_s=time.monotonic() - started,
            left_out=left_out,
            pod=pod,
        )

    try:
        client = await _client(transport, socket_path)
    except Exception as exc:  # the transport's own failures (SSH, local listener): node trouble, not ours
        return snapshot(None, error=f"cannot forward {socket_path}: {clean_line(exc, limit=300)}")
    engine = client.engine if time.monotonic() - client.engine_read_at < engine_max_age else None
    try:
        async with asyncio.timeout(timeout):
            if engine is None:
                engine = await _read_engine(client, transport, socket_path)
                client.engine, client.engine_read_at = engine, time.monotonic()
            containers, left_out = await _containers(client.docker, watched_containers(node))
    except _API_ERRORS as exc:
        client.engine_read_at = -math.inf  # re-read the engine once it answers again
        error = await _failure(transport, socket_path, exc, timeout)
        # No socket at all on a pod is no fault (console/pods.py); anything else about Docker still is.
        pod = await pod_reason(transport, node) if error.startswith(NO_SOCKET) else None
        return snapshot(engine, error=error, pod=pod)
    except Exception as exc:  # a reply nothing above foresaw: still node trouble, never the caller's
        client.engine_read_at = -math.inf
        reason = f"{type(exc).__name__}: {clean_line(exc, limit=300)}"
        return snapshot(engine, error=f"unreadable Docker reply: {reason}")
    return snapshot(engine, containers, left_out=left_out)


def needs_relist(event: Mapping[str, Any]) -> bool:
    """Whether a Docker event makes the last container list stale (start, die, health_status: ..., ...)."""
    action = str(event.get("Action") or event.get("status") or "")
    return event.get("Type", "container") == "container" and action.split(":", 1)[0] in RELIST_ACTIONS


async def watch_events(
    transport: Transport, node: Node, since: datetime | None = None
) -> AsyncGenerator[dict[str, Any], None]:
    """Stream the daemon's container events (`GET /events`) as dicts, from `since` when given.

    Use `needs_relist(event)` to decide when to call collect_docker again. Raises DockerUnavailable when the
    stream cannot be opened; ends when the daemon or the connection goes away (re-list, then watch again).
    Closing the generator closes the stream.
    """
    socket_path = _socket(node)
    params: dict[str, Any] = {"filters": json.dumps({"type": ["container"]})}
    if since is not None:
        params["since"] = f"{since.timestamp():.9f}"
    try:
        client = await _client(transport, socket_path)
        response = await client.docker._do_query(
            "events", "GET", params=params, timeout=aiohttp.ClientTimeout()
        )
    except (aiodocker.DockerError, aiohttp.ClientError, OSError, TransportError) as exc:
        raise DockerUnavailable(await _failure(transport, socket_path, exc, 0)) from exc
    try:
        async for line in _bounded_lines(response.content, MAX_EVENT_BYTES):
            if line is None:  # an event too long to read: say something changed, so the list is re-read
                yield dict(OVERSIZED_EVENT)
                continue
            if line.strip():
                try:
                    event = loads_bounded(line.decode("utf-8", "replace"), MAX_EVENT_BYTES)
                except ValueError:
                    yield dict(OVERSIZED_EVENT)
                    continue
                if isinstance(event, dict):
                    yield event
    except (aiohttp.ClientError, aiohttp.http_exceptions.HttpProcessingError, OSError, ValueError):
        return
    finally:
        response.close()


async def _bounded_lines(stream: aiohttp.StreamReader, limit: int) -> AsyncGenerator[bytes | None, None]:
    """The stream's lines, each at most limit bytes; None in place of a longer one, whose rest is skipped.

    aiohttp's own readline() raises past its fixed limit and ends the stream with it.
    """
    pending = bytearray()
    skipping = False
    while chunk := await stream.readany():
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            if not skipping:
                pending += chunk[start:end]
                yield bytes(pending) if len(pending) <= limit else None
            skipping = False
            pending.clear()
            start = end + 1
        if not skipping:
            pending += chunk[start:]
            if len(pending) > limit:
                pending.clear()
                skipping = True
                yield None
    if pending and not skipping:
        yield bytes(pending) if len(pending) <= limit else None
