"""Where `opsconsole tunnel NODE SERVICE` forwards to, and whether anything answers there.

The port comes from, in order: the inventory's `services` entry of that name, the node's `ai_stack`
(which `stack_settings` already fills from `services` by container), a bare port number. When the service
names a Docker container, Docker's published ports are the ground truth: a container published on
127.0.0.1:21434 is reached there whatever the inventory assumed, and the disagreement is said. Nothing is
called open until a connection to the target through SSH succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from typing import Any

import aiodocker

from console.collectors.docker import DOCKER_CALL_ERRORS, docker_client
from console.inventory.model import HttpProbe, Node, ServiceSpec
from console.transport.base import Transport
from console.wizards.settings import (
    COMFY_CONTAINER_PORT,
    CONTAINERS,
    OLLAMA_CONTAINER_PORT,
    OPENWEBUI_CONTAINER_PORT,
    AiStackSettings,
)

DOCKER_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
IMAGE_PORTS = {
    "comfy": COMFY_CONTAINER_PORT,
    "ollama": OLLAMA_CONTAINER_PORT,
    "openwebui": OPENWEBUI_CONTAINER_PORT,
}
_ANY = ("", "0.0.0.0", "::")


class UnknownService(Exception):
    """Not a service of the node, a stack container or a port: a usage error."""


class NotAnswering(Exception):
    """Nothing answers where the tunnel would go; the message says where it looked and why."""


@dataclass(frozen=True, slots=True)
class TunnelTarget:
    spec: ServiceSpec  # the port and http settings to forward to
    host: str  # as seen from the node
    source: str  # where the port came from, for the operator
    notes: tuple[str, ...] = ()  # what disagreed, what could not be asked


@dataclass(frozen=True, slots=True)
class Binding:
    container_port: int
    host_ip: str
    host_port: int


def published(info: dict[str, Any]) -> tuple[Binding, ...]:
    """A container's published TCP ports from its inspect data (NetworkSettings.Ports)."""
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    found: list[Binding] = []
    for key, bindings in ports.items():
        number, _, proto = str(key).partition("/")
        if proto not in ("", "tcp") or not number.isdigit():
            continue
        for binding in bindings or ():
            host_port = str(binding.get("HostPort") or "")
            if host_port.isdigit():
                found.append(Binding(int(number), str(binding.get("HostIp") or ""), int(host_port)))
    return tuple(sorted(found, key=lambda b: (b.host_port, b.host_ip)))


def _node_host(binding: Binding) -> str:
    """Where the node reaches a published port: its loopback for a wildcard bind."""
    return "127.0.0.1" if binding.host_ip in _ANY else binding.host_ip


def base_spec(node: Node, name: str, settings: AiStackSettings) -> tuple[ServiceSpec, str, bool]:
    """(spec, where its port comes from, whether it came from the inventory's `services`)."""
    for spec in node.services:
        if spec.name == name:
            return spec, f"the inventory's services.{name}", True
    if name in CONTAINERS:
        explicit = node.ai_stack is not None and getattr(node.ai_stack, f"{name}_port") is not None
        from_services = any(spec.container == name for spec in node.services)
        source = (
            f"ai_stack.{name}_port"
            if explicit
            else "the services entry of that container"
            if from_services
            else "the AI stack's default port"
        )
        port = settings.host_port(name)
        return ServiceSpec(name, port, name, "127.0.0.1", HttpProbe()), source, from_services
    if name.isdigit() and 0 < int(name) < 65536:
        return ServiceSpec(name, int(name), None, "127.0.0.1", HttpProbe()), "the port given", True
    known = ", ".join([spec.name for spec in node.services] + list(CONTAINERS))
    raise UnknownService(f"{node.name} has no service {name!r} (known: {known}; or give a port number)")


async def _inspect(transport: Transport, node: Node, container: str) -> dict[str, Any] | None:
    client = await docker_client(transport, node)
    try:
        info: dict[str, Any] = await client.containers.container(container).show()
    except aiodocker.DockerError as exc:
        if exc.status == 404:
            return None
        raise
    return info


async def resolve_target(
    transport: Transport, node: Node, name: str, settings: AiStackSettings
) -> TunnelTarget:
    """Where to forward (see the module doc). Raises UnknownService for a name the node does not know."""
    spec, source, declared = base_spec(node, name, settings)
    host = "::1" if spec.bind == "::1" else "127.0.0.1"
    container = spec.container
    if container is None:
        return TunnelTarget(spec, host, source)
    try:
        async with asyncio.timeout(DOCKER_TIMEOUT_S):
            info = await _inspect(transport, node, container)
    except DOCKER_CALL_ERRORS as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
        return TunnelTarget(spec, host, source, (f"Docker not asked about {container}: {why}",))
    if info is None:
        return TunnelTarget(spec, host, source, (f"Docker on {node.name} has no container {container}",))
    bindings = published(info)
    if not bindings:
        note = f"Docker publishes no port of {container} (host network, or not published)"
        return TunnelTarget(spec, host, source, (note,) if not declared else ())
    same = [b for b in bindings if b.host_port == spec.port]
    if same:
        return TunnelTarget(spec, _node_host(same[0]), f"{source}; Docker publishes it there")
    wanted = IMAGE_PORTS.get(container, spec.port)
    chosen = next((b for b in bindings if b.container_port == wanted), bindings[0])
    where = f"{chosen.host_ip or '0.0.0.0'}:{chosen.host_port}"
    note = f"{source} says port {spec.port}, but Docker publishes {container} on {where}: forwarding there"
    if len(bindings) > 1:
        note += f" (it publishes {', '.join(str(b.host_port) for b in bindings)})"
    return TunnelTarget(
        replace(spec, port=chosen.host_port),
        _node_host(chosen),
        f"Docker's published port of {container}",
        (note,),
    )


async def check_answers(transport: Transport, node: Node, target: TunnelTarget) -> None:
    """Open (and close) one connection to the target through SSH; raises NotAnswering when none can be."""
    where = f"{target.host}:{target.spec.port} on {node.name}"
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            _, writer = await transport.open_tcp(target.host, target.spec.port)
    except TimeoutError:
        raise NotAnswering(_refusal(target, where, f"no answer within {CONNECT_TIMEOUT_S:g}s")) from None
    except Exception as exc:  # asyncssh's ChannelOpenError and kin: the node refused the connection
        raise NotAnswering(_refusal(target, where, str(exc) or type(exc).__name__)) from exc
    with contextlib.suppress(OSError, RuntimeError):
        writer.close()


def _refusal(target: TunnelTarget, where: str, why: str) -> str:
    notes = "".join(f"; {note}" for note in target.notes)
    return f"nothing answers on {where} (port from {target.source}): {why}{notes}"
