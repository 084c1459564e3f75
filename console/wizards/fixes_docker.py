"""Catalogue entries about Docker itself: permission denied on its socket, and the missing nvidia runtime."""

from __future__ import annotations

import asyncio
import json
import shlex
import time

from console.collectors.docker import HOST_PROBE, close_docker_clients, diagnose_socket
from console.collectors.docker_model import (
    MAX_CONFIG_BYTES,
    DaemonProcess,
    HostProbeError,
    loads_bounded,
    parse_host_probe,
    pick_daemon,
)
from console.text import clean_line
from console.transport.base import TransportError
from console.wizards.engine import NodeContext, Outcome, Step, Wizard
from console.wizards.fix_model import Finding, Fix, FixInput, fix_wizard
from console.wizards.ops import Command, Operation, StepError, Task, WriteFile
from console.wizards.os_family import os_step
from console.wizards.prereqs import engine
from console.wizards.probes import docker_socket, read_file

DOCKER_PERMISSION_FIX = "docker-permission"
NVIDIA_RUNTIME_FIX = "nvidia-runtime"
DEFAULT_DAEMON_JSON = "/etc/docker/daemon.json"
RUNTIME_BINARY = "nvidia-container-runtime"
RELOAD_DEADLINE_S = 15.0


# --- docker permission denied ---------------------------------------------------------------------------


async def detect_docker_permission(ctx: NodeContext, inp: FixInput) -> Finding:
    socket = docker_socket(ctx.node)
    diagnosis = await diagnose_socket(ctx.transport, socket)
    user = await ctx.user()
    if diagnosis is None or not diagnosis.startswith("permission denied"):
        return Finding(DOCKER_PERMISSION_FIX, False, diagnosis or f"{user} may use {socket}")
    group = (await ctx.read(f"stat -c %G {shlex.quote(socket)}")).stdout.strip() or "docker"
    summary = f"{user} may not use {socket} (group {group}): every docker command says 'permission denied'"
    return Finding(DOCKER_PERMISSION_FIX, True, summary, data=(user, group))


def docker_permission_wizard(inp: FixInput, finding: Finding) -> Wizard:
    user, group = finding.data

    async def in_group(ctx: NodeContext) -> Outcome:
        groups = (await ctx.read(f"id -nG {shlex.quote(user)}")).stdout.split()
        if group in groups:
            return Outcome(True, f"{user} is in the {group} group")
        return Outcome(False, f"{user} is not in the {group} group (groups: {' '.join(groups)})")

    def add(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        return (Command(("usermod", "-aG", group, user), root=True),)

    async def session_can_use(ctx: NodeContext) -> Outcome:
        diagnosis = await diagnose_socket(ctx.transport, docker_socket(ctx.node))
        if diagnosis is not None:
            return Outcome(False, f"this SSH session still cannot: {diagnosis}")
        info = await engine(ctx)
        return Outcome(True, f"Docker {info.version} answers this session")

    async def reconnect(ctx: NodeContext) -> str:
        await close_docker_clients(ctx.transport)
        await ctx.transport.close()
        try:
            await ctx.transport.connect(force=True)
        except TransportError as exc:
            raise StepError(f"reconnect to {ctx.name} failed: {exc}") from exc
        return "reconnected"

    def relog(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        shown = f"close and reopen the SSH connection to {ctx.name} (a new login gets the new group)"
        return (Task(shown, reconnect),)

    steps = (
        Step(
            "docker-group",
            f"{user} in the {group} group",
            "the socket is group-owned: members may use it",
            in_group,
            add,
        ),
        Step("reconnect", "New SSH login", "group membership is read at login", session_can_use, relog),
    )
    return fix_wizard(DOCKER_PERMISSION_FIX, "Let the SSH user use Docker", steps)


DOCKER_PERMISSION = Fix(
    DOCKER_PERMISSION_FIX,
    "docker: permission denied",
    "permission denied while trying to connect to the Docker daemon socket",
    "Docker's socket belongs to root and the docker group (mode 660); a user outside the group is refused. "
    "Fix: add the SSH user to the socket's group, then log in again (groups are read at login).",
    ("docker.engine",),
    detect_docker_permission,
    docker_permission_wizard,
)


# --- nvidia runtime missing -----------------------------------------------------------------------------


async def detect_nvidia_runtime(ctx: NodeContext, inp: FixInput) -> Finding:
    info = await engine(ctx)
    runtimes = ", ".join(info.runtimes) or "none"
    if info.nvidia_runtime:
        return Finding(NVIDIA_RUNTIME_FIX, False, f"Docker lists the nvidia runtime (runtimes: {runtimes})")
    summary = (
        f"Docker lists no nvidia runtime (runtimes: {runtimes}): containers cannot get the GPUs "
        '(compose GPU reservations fail with: could not select device driver "nvidia")'
    )
    return Finding(NVIDIA_RUNTIME_FIX, True, summary)


def config_file(daemon: DaemonProcess) -> str:
    args = list(daemon.argv)
    for index, arg in enumerate(args):
        if arg.startswith("--config-file="):
            return arg.split("=", 1)[1]
        if arg == "--config-file" and index + 1 < len(args):
            return args[index + 1]
    return DEFAULT_DAEMON_JSON


async def find_daemon(ctx: NodeContext) -> DaemonProcess:
    """The dockerd behind the node's socket, from /proc (the collector's host probe)."""
    info = await engine(ctx)
    try:
        daemons, _ = parse_host_probe((await ctx.read(HOST_PROBE)).stdout)
    except HostProbeError as exc:
        raise StepError(f"{clean_line(exc)} on {ctx.name}") from exc
    daemon = pick_daemon(daemons, docker_socket(ctx.node), info.root_dir)
    if daemon is None:
        raise StepError(f"cannot tell which dockerd serves {docker_socket(ctx.node)} on {ctx.name}")
    return daemon


async def runtime_path(ctx: NodeContext) -> str | None:
    result = await ctx.read(f"command -v {RUNTIME_BINARY}")
    return result.stdout.strip() or None if result.ok else None


def nvidia_runtime_wizard(inp: FixInput, finding: Finding) -> Wizard:
    async def toolkit(ctx: NodeContext) -> Outcome:
        path = await runtime_path(ctx)
        if path is None:
            return Outcome(False, f"{RUNTIME_BINARY} is not installed")
        return Outcome(True, f"NVIDIA Container Toolkit installed ({path})")

    def install(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        note = "needs NVIDIA's apt repository (nvidia.github.io/libnvidia-container)"
        return (
            Command(
                ("apt-get", "install", "-y", "nvidia-container-toolkit"), root=True, timeout=600, note=note
            ),
        )

    async def registered(ctx: NodeContext) -> Outcome:
        path = config_file(await find_daemon(ctx))
        current = await read_file(ctx.transport, path)
        try:
            config = loads_bounded(current, MAX_CONFIG_BYTES) if current and current.strip() else {}
        except ValueError as exc:  # loads_bounded: too large or too deeply nested is "not JSON" too
            raise StepError(f"{path} is not valid JSON ({clean_line(exc)}): fix it by hand first") from exc
        if not isinstance(config, dict):
            raise StepError(f"{path} is not a JSON object: fix it by hand first")
        if isinstance(config.get("runtimes"), dict) and "nvidia" in config["runtimes"]:
            return Outcome(True, f"{path} registers the nvidia runtime")
        binary = await runtime_path(ctx) or RUNTIME_BINARY
        config.setdefault("runtimes", {})["nvidia"] = {"path": binary, "args": []}
        wanted = json.dumps(config, indent=2) + "\n"
        return Outcome(False, f"{path} has no nvidia runtime", data=(path, wanted, current))

    def register(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        path, wanted, current = outcome.data
        return (WriteFile.planned(path, wanted, current),)

    async def listed(ctx: NodeContext) -> Outcome:
        info = await engine(ctx)
        if info.nvidia_runtime:
            return Outcome(True, f"Docker lists the nvidia runtime (runtimes: {', '.join(info.runtimes)})")
        return Outcome(False, "Docker does not list it yet", data=(await find_daemon(ctx)).pid)

    def reload(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        note = "what `systemctl reload docker` does: dockerd re-reads its runtimes, containers keep running"
        return (Command(("kill", "-HUP", str(outcome.data)), root=True, note=note),)

    async def listed_soon(ctx: NodeContext) -> Outcome:
        deadline = time.monotonic() + RELOAD_DEADLINE_S
        while True:
            outcome = await listed(ctx)
            if outcome.done or time.monotonic() > deadline:
                return outcome
            await asyncio.sleep(0.2)  # dockerd reloads within milliseconds; poll until its API says so

    steps = (
        os_step("the nvidia-runtime fix"),  # it installs the toolkit with apt-get
        Step("toolkit", "NVIDIA Container Toolkit", "provides nvidia-container-runtime", toolkit, install),
        Step(
            "daemon-json",
            "Runtime in daemon.json",
            "what `nvidia-ctk runtime configure` writes",
            registered,
            register,
        ),
        Step(
            "reload",
            "dockerd reloads",
            "SIGHUP: runtimes reload without stopping containers",
            listed,
            reload,
            listed_soon,
        ),
    )
    return fix_wizard(NVIDIA_RUNTIME_FIX, "Register the nvidia runtime with Docker", steps)


NVIDIA_RUNTIME = Fix(
    NVIDIA_RUNTIME_FIX,
    "The nvidia runtime is missing",
    'could not select device driver "nvidia" with capabilities: [[gpu]]',
    "Containers get GPUs through the NVIDIA Container Toolkit, which Docker knows as the `nvidia` runtime. "
    "Without it registered in daemon.json, GPU reservations fail. Fix: install the toolkit, register the "
    "runtime in the daemon's config (as `nvidia-ctk runtime configure` does) and reload dockerd.",
    ("docker.nvidia_runtime",),
    detect_nvidia_runtime,
    nvidia_runtime_wizard,
)
