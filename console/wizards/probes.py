"""Read-only facts the wizards gather on a node: files, directory owners, containers, logs, compose.

Containers are read through the Docker Engine API on the node's SSH-forwarded socket (inspect: state,
restart count, labels, `Mounts`), the same path as the Docker collector; logs and compose run as the CLI on
the node, exactly as the procedure writes them, with DOCKER_HOST set when the node's socket is not Docker's
default.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiodocker
import aiohttp

from console.actions.logs import LINE_LIMIT as LOG_LINE_LIMIT
from console.collectors.docker import diagnose_socket, docker_client
from console.collectors.docker_model import DEFAULT_SOCKET
from console.inventory.model import DockerSettings, Node
from console.text import clean_text
from console.transport.base import Transport, TransportError
from console.transport.readonly import Argv, Word
from console.wizards.ops import StepError

COMPOSE_HASH_LABEL = "com.docker.compose.config-hash"
UID_GID_ERRORS = ("owned by unexpected user/group", "uid/gid mismatch", "uid mismatch", "gid mismatch")


@dataclass(frozen=True, slots=True)
class MountPoint:
    type: str  # bind | volume | tmpfs
    source: str
    destination: str
    rw: bool


@dataclass(frozen=True, slots=True)
class ContainerState:
    name: str
    status: str  # running | restarting | exited | created | paused | dead
    restart_count: int
    exit_code: int | None
    config_hash: str | None
    mounts: tuple[MountPoint, ...]
    image: str = ""
    error: str = ""  # State.Error: why the last start failed (device driver, runtime)


def docker_socket(node: Node) -> str:
    return (node.docker or DockerSettings()).socket


def docker_env(node: Node) -> tuple[tuple[str, str], ...]:
    """DOCKER_HOST for the CLI on the node, when the inventory's socket is not Docker's default."""
    socket = docker_socket(node)
    same = socket.removeprefix("/var") == DEFAULT_SOCKET.removeprefix("/var")
    return () if same else (("DOCKER_HOST", f"unix://{socket}"),)


def env_prefix(node: Node) -> str:
    return "".join(f"{name}={shlex.quote(value)} " for name, value in docker_env(node))


def parse_container(raw: Mapping[str, Any]) -> ContainerState:
    state = raw.get("State") or {}
    labels = (raw.get("Config") or {}).get("Labels") or {}
    mounts = tuple(
        MountPoint(
            str(m.get("Type", "")),
            str(m.get("Source", "")),
            str(m.get("Destination", "")),
            bool(m.get("RW", True)),
        )
        for m in raw.get("Mounts") or ()
    )
    code = state.get("ExitCode")
    return ContainerState(
        name=str(raw.get("Name", "")).lstrip("/"),
        status=str(state.get("Status", "")),
        restart_count=int(raw.get("RestartCount") or 0),
        exit_code=int(code) if isinstance(code, int) else None,
        config_hash=labels.get(COMPOSE_HASH_LABEL),
        mounts=tuple(sorted(mounts, key=lambda mount: mount.destination)),
        image=str((raw.get("Config") or {}).get("Image", "")),
        error=str(state.get("Error") or ""),
    )


async def docker_failure(transport: Transport, node: Node, exc: BaseException) -> StepError:
    socket = docker_socket(node)
    diagnosis = await diagnose_socket(transport, socket)
    if diagnosis and diagnosis.startswith("permission denied"):
        return StepError(f"{diagnosis} (fix: opsconsole troubleshoot docker-permission --node {node.name})")
    return StepError(diagnosis or f"cannot reach Docker at {socket}: {exc}")


async def inspect_containers(
    transport: Transport, node: Node, names: Sequence[str]
) -> dict[str, ContainerState | None]:
    """Each named container's state (None: no such container). Raises StepError when Docker is unreachable."""
    found: dict[str, ContainerState | None] = {}
    try:
        client = await docker_client(transport, node)
        for name in names:
            try:
                raw = await client.containers.get(name)
            except aiodocker.DockerError as exc:
                if exc.status == 404:
                    found[name] = None
                    continue
                raise
            found[name] = parse_container(
                {key: raw[key] for key in ("Name", "State", "RestartCount", "Config", "Mounts") if key in raw}
            )
    except (aiodocker.DockerError, aiohttp.ClientError, OSError, TransportError, ValueError) as exc:
        raise await docker_failure(transport, node, exc) from exc
    return found


async def read_file(transport: Transport, path: str) -> str | None:
    """A file's text on the node as the SSH user; None when absent. Raises StepError when unreadable."""
    quoted = shlex.quote(path)
    try:
        result = await transport.run(f"test -e {quoted} || exit 3; cat -- {quoted}", timeout=30)
    except TransportError as exc:
        raise StepError(str(exc)) from exc
    if result.exit_status == 3:
        return None
    if not result.ok:
        raise StepError(f"cannot read {path}: {result.stderr.strip() or f'exit {result.exit_status}'}")
    return result.stdout


STAT_SCRIPT = 'for p do stat -c "%u:%g %a %n" -- "$p" 2>/dev/null || echo "- - $p"; done'
STAT_SCRIPT_NAME = "opsconsole-stat"
# A pure read, so the --check detectors may run it through the read-only handle: the stack section
# declares it (console/wizards/stack_checks.py).
STAT_RULE = Argv("sh", "-c", STAT_SCRIPT, STAT_SCRIPT_NAME, Word("/.*", many=True))


async def stat_paths(transport: Transport, paths: Sequence[str]) -> dict[str, tuple[str, str] | None]:
    """path -> ("uid:gid", octal mode) for each path that exists, None for the others. One round trip."""
    if not paths:
        return {}
    command = " ".join(shlex.quote(word) for word in ("sh", "-c", STAT_SCRIPT, STAT_SCRIPT_NAME, *paths))
    try:
        result = await transport.run(command, timeout=30)
    except TransportError as exc:
        raise StepError(str(exc)) from exc
    found: dict[str, tuple[str, str] | None] = {}
    for line in result.stdout.splitlines():
        owner, mode, path = [*line.split(" ", 2), "", ""][:3]
        found[path] = None if owner == "-" else (owner, mode)
    return {path: found.get(path) for path in paths}


async def foreign_owned(transport: Transport, path: str, owner: str) -> str | None:
    """The first file below path not owned by owner ("uid:gid"), or None (`find -quit`: stops at one)."""
    uid, gid = owner.split(":")
    quoted = shlex.quote(path)
    command = f"find {quoted} \\( ! -uid {uid} -o ! -gid {gid} \\) -print -quit 2>&1"
    try:
        result = await transport.run(command, timeout=120)
    except TransportError as exc:
        raise StepError(str(exc)) from exc
    first = result.stdout.strip().splitlines()
    return first[0] if first else None


async def container_logs(transport: Transport, node: Node, name: str, tail: int = 50) -> tuple[str, ...]:
    """`docker logs --tail=N NAME` on the node (stdout and stderr); () when there is no such container."""
    command = f"{env_prefix(node)}docker logs --tail={tail} {shlex.quote(name)} 2>&1"
    try:
        result = await transport.run(command, timeout=30)
    except TransportError as exc:
        raise StepError(str(exc)) from exc
    if not result.ok:
        return ()
    # Node text: each line cleaned (a `\r` progress bar is its last redraw, controls visible) and capped.
    lines = result.stdout.split("\n")
    if lines and not lines[-1]:
        lines.pop()
    return tuple(clean_text(line, limit=LOG_LINE_LIMIT).rstrip() for line in lines[-tail:])


def uid_gid_error(lines: Sequence[str]) -> str | None:
    """The first log line that is ComfyUI's refusal over /comfy/mnt's owner (or a UID/GID mismatch)."""
    return next((line for line in lines if any(text in line.lower() for text in UID_GID_ERRORS)), None)


async def detect_compose(transport: Transport, node: Node) -> tuple[tuple[str, ...], str] | None:
    """The node's compose: `docker compose` (v2 plugin) when it answers, else `docker-compose` (v1); with
    its version line. None when neither is installed."""
    for argv in (("docker", "compose"), ("docker-compose",)):
        try:
            result = await transport.run(f"{env_prefix(node)}{shlex.join(argv)} version 2>&1", timeout=30)
        except TransportError as exc:
            raise StepError(str(exc)) from exc
        if result.ok:
            return argv, (result.stdout.strip().splitlines() or ["?"])[0]
    return None


async def compose_hashes(
    transport: Transport, node: Node, compose: Sequence[str], path: str, project: str
) -> dict[str, str] | None:
    """`compose config --hash=*`: service -> the config hash compose labels its containers with; None when
    compose cannot read the file (absent, invalid)."""
    argv = (*compose, "-f", path, "-p", project, "config", "--hash=*")
    try:
        result = await transport.run(f"{env_prefix(node)}{shlex.join(argv)}", timeout=60)
    except TransportError as exc:
        raise StepError(str(exc)) from exc
    if not result.ok:
        return None
    pairs = (line.split() for line in result.stdout.splitlines())
    return {fields[0]: fields[1] for fields in pairs if len(fields) == 2}
