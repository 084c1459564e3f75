"""The CRI collector: a CRI-O node's containers and pods (`crictl ps -a -o json`, `crictl pods -o json`).

crictl prints the CRI's ListContainersResponse (`containers`) and ListPodSandboxResponse (`items`) as protobuf
JSON: states as CONTAINER_RUNNING / SANDBOX_READY, `createdAt` as nanoseconds (a string: int64), the pod's
namespace and name in the `io.kubernetes.pod.*` labels, the restart count in the container's
`io.kubernetes.container.restartCount` annotation. `-a` lists the exited attempts kubelet still keeps: only
the newest attempt of each container of a pod is kept. A node whose `containers.runtime` is `auto` is asked
once (then every DETECT_EVERY_S) whether it has a Docker socket or crictl.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from console.collectors.reads import read_failure, run_read
from console.model.cri import ContainersSettings, CriContainer, CriPod, CriSnapshot
from console.model.inventory import Node
from console.text import clean_line
from console.transport.base import CommandResult, Transport

_NO_CRICTL = "crictl: not found on the node"

PS = ("crictl", "ps", "-a", "-o", "json")
PODS = ("crictl", "pods", "-o", "json")
DETECT = "if [ -S /var/run/docker.sock ]; then echo docker; fi; command -v crictl || :"
COMMANDS = (
    shlex.join(PS),
    shlex.join(PODS),
    shlex.join(("sudo", "-n", *PS)),
    shlex.join(("sudo", "-n", *PODS)),
    DETECT,
)
MAX_CONTAINERS = 2_000
DETECT_EVERY_S = 300.0
_ID = re.compile(r"[0-9a-f]{64}")
_DETECTED: dict[str, tuple[float, str | None]] = {}  # node → (when, why it is not CRI-O; None: it is)


class CriParseError(ValueError):
    pass


def settings_of(node: Node) -> ContainersSettings:
    value = node.settings("containers")
    return value if isinstance(value, ContainersSettings) else ContainersSettings()


def _load(text: str, key: str) -> list[Any]:
    try:
        data = json.loads(text, parse_constant=lambda _c: None)
    except (ValueError, RecursionError) as exc:
        raise CriParseError(f"not JSON: {clean_line(exc, limit=120)}") from None
    items = data.get(key) if isinstance(data, dict) else None
    if items is None and isinstance(data, dict):
        return []  # crictl prints {} when there is nothing
    if not isinstance(items, list):
        raise CriParseError(f"no {key} list")
    return items


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any, limit: int = 253) -> str | None:
    return clean_line(value, limit=limit) if isinstance(value, str) and value.strip() else None


def created(value: Any) -> datetime | None:
    """CRI's createdAt: nanoseconds since the epoch, as a number or (int64 in protobuf JSON) a string."""
    try:
        ns = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: json.loads reads 1e400 as inf
        return None
    if not 0 < ns < 10**20:
        return None
    return datetime.fromtimestamp(ns / 1e9, UTC)


def _state(value: Any, prefix: str) -> str:
    text = _str(value, 40) or "unknown"
    return text.removeprefix(prefix).lower()


def _count(value: Any) -> int | None:
    try:
        count = int(str(value))
    except ValueError:
        return None
    return count if 0 <= count < 10**7 else None


def parse_pods(text: str) -> tuple[CriPod, ...]:
    pods = []
    for raw in _load(text, "items")[:MAX_CONTAINERS]:
        raw = _map(raw)
        meta = _map(raw.get("metadata"))
        pod_id, name = _str(raw.get("id"), 64), _str(meta.get("name"))
        if pod_id is None or name is None:
            continue
        namespace = _str(meta.get("namespace"), 63) or "?"
        pods.append(
            CriPod(
                pod_id, namespace, name, _state(raw.get("state"), "SANDBOX_"), created(raw.get("createdAt"))
            )
        )
    return tuple(pods)


def parse_containers(text: str, pods: tuple[CriPod, ...] = ()) -> tuple[tuple[CriContainer, ...], int]:
    """The newest attempt of each (pod, container); (containers, how many past MAX_CONTAINERS)."""
    by_pod = {pod.id: pod for pod in pods}
    newest: dict[tuple[str, str], CriContainer] = {}
    items = _load(text, "containers")
    for raw in items[:MAX_CONTAINERS]:
        raw = _map(raw)
        meta, labels, notes = _map(raw.get("metadata")), _map(raw.get("labels")), _map(raw.get("annotations"))
        container_id = raw.get("id")
        name = _str(meta.get("name")) or _str(labels.get("io.kubernetes.container.name"))
        if not isinstance(container_id, str) or not _ID.fullmatch(container_id) or name is None:
            continue
        pod_id = _str(raw.get("podSandboxId"), 64) or ""
        pod = by_pod.get(pod_id)
        container = CriContainer(
            id=container_id,
            name=name,
            pod_id=pod_id,
            namespace=_str(labels.get("io.kubernetes.pod.namespace"), 63) or (pod.namespace if pod else None),
            pod=_str(labels.get("io.kubernetes.pod.name")) or (pod.name if pod else None),
            state=_state(raw.get("state"), "CONTAINER_"),
            image=_str(_map(raw.get("image")).get("image"), 200) or _str(raw.get("imageRef"), 200) or "?",
            restarts=_count(notes.get("io.kubernetes.container.restartCount")),
            created_at=created(raw.get("createdAt")),
            attempt=_count(meta.get("attempt")),
        )
        key = (pod_id, name)
        old = newest.get(key)
        if old is None or (container.attempt or 0, container.created_at or _EPOCH) >= (
            old.attempt or 0,
            old.created_at or _EPOCH,
        ):
            newest[key] = container
    ordered = sorted(newest.values(), key=lambda c: (c.namespace or "", c.pod or "", c.name))
    return tuple(ordered), max(0, len(items) - MAX_CONTAINERS)


_EPOCH = datetime.fromtimestamp(0, UTC)


async def _detect(transport: Transport, node: Node, timeout: float) -> str | None:
    """None when the node runs CRI-O (no Docker socket, crictl present), else why it is not read."""
    known = _DETECTED.get(node.name)
    if known is not None and time.monotonic() - known[0] < DETECT_EVERY_S:
        return known[1]
    result = await run_read(transport, DETECT, timeout)
    if not isinstance(result, CommandResult):
        return f"runtime not detected: {clean_line(result, limit=200)}"
    lines = result.stdout.split()
    why = "a Docker socket: Docker's section reads it" if "docker" in lines else None
    if why is None and not any(line.endswith("/crictl") for line in lines):
        why = "no crictl on the node"
    _DETECTED[node.name] = (time.monotonic(), why)
    return why


async def collect_cri(transport: Transport, node: Node) -> CriSnapshot:
    settings = settings_of(node)
    timeout = node.ssh.command_timeout
    if settings.runtime != "cri-o":
        why = await _detect(transport, node, timeout)
        if why is not None:
            return CriSnapshot(node.name, datetime.now(UTC), absent=why)
    sudo = ("sudo", "-n") if settings.sudo else ()
    ps, pods = shlex.join((*sudo, *PS)), shlex.join((*sudo, *PODS))
    ps_r, pods_r = await asyncio.gather(run_read(transport, ps, timeout), run_read(transport, pods, timeout))
    now = datetime.now(UTC)
    if not (isinstance(ps_r, CommandResult) and ps_r.ok):
        return CriSnapshot(node.name, now, error=read_failure("crictl ps", ps_r, _NO_CRICTL))
    pod_list: tuple[CriPod, ...] = ()
    error = None
    try:
        if isinstance(pods_r, CommandResult) and pods_r.ok:
            pod_list = parse_pods(pods_r.stdout)
        else:
            error = read_failure("crictl pods", pods_r, _NO_CRICTL)
        containers, left_out = parse_containers(ps_r.stdout, pod_list)
    except CriParseError as exc:
        return CriSnapshot(node.name, now, error=f"crictl: {exc}")
    return CriSnapshot(node.name, now, containers, pod_list, error=error, left_out=left_out)
