"""The AI stack bring-up on a GPU compute node, as wizard steps (the users' written procedure, step by step).

prerequisites (gpu, docker, nvidia-runtime) → storage layout → comfy-mnt owner and mode → compose file →
`compose up -d` → the first-run wait (ComfyUI installs itself: expected progress, not an error) → the
validation checklist. Every path, image, port and the project directory come from AiStackSettings.
"""

from __future__ import annotations

import asyncio
import shlex
import time

from console.collectors.services import probe_service
from console.inventory.model import HttpProbe, ServiceSpec
from console.wizards.compose import render_compose
from console.wizards.engine import NodeContext, Outcome, Progress, Step, Wizard
from console.wizards.ops import Command, Operation, StepError, Task, WriteFile
from console.wizards.os_family import os_step
from console.wizards.prereqs import compose_command, docker_step, gpu_step, nvidia_runtime_step
from console.wizards.probes import (
    compose_hashes,
    container_logs,
    docker_env,
    env_prefix,
    foreign_owned,
    inspect_containers,
    read_file,
    stat_paths,
    uid_gid_error,
)
from console.wizards.settings import CONTAINERS, AiStackSettings

READY_TEXT = "Starting server"
PROGRESS_LINES = 8
FIRST_RUN_MESSAGE = (
    "First run: ComfyUI clones its repo, builds a venv and downloads multi-GB wheels (10–20 min). "
    f'HTTP is refused until it prints "{READY_TEXT}": this is expected progress, not an error.'
)


def comfy_service(settings: AiStackSettings, timeout: float = 10.0) -> ServiceSpec:
    return ServiceSpec(
        "comfy", settings.host_port("comfy"), "comfy", "127.0.0.1", HttpProbe("/", 200, "http", timeout)
    )


async def compose_base(ctx: NodeContext, settings: AiStackSettings) -> tuple[str, ...]:
    return (*await compose_command(ctx), "-f", settings.compose_path, "-p", settings.project_name)


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


# --- storage --------------------------------------------------------------------------------------------


def storage_step(settings: AiStackSettings) -> Step:
    async def check(ctx: NodeContext) -> Outcome:
        found = await stat_paths(ctx.transport, settings.directories)
        missing = tuple(path for path, facts in found.items() if facts is None)
        if missing:
            return Outcome(False, f"{len(missing)} of {len(found)} directories missing", data=missing)
        return Outcome(True, f"all {len(found)} directories exist")

    def plan(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        return (Command(("mkdir", "-p", *outcome.data), root=True),)

    why = "the local, non-authoritative layout under the NVMe and SSD roots"
    return Step("storage", "Storage layout", why, check, plan)


def comfy_mnt_step(settings: AiStackSettings) -> Step:
    path, owner, mode = settings.comfy_mnt, settings.owner, settings.comfy_mode

    async def check(ctx: NodeContext) -> Outcome:
        facts = (await stat_paths(ctx.transport, (path,)))[path]
        if facts is None:
            return Outcome(False, f"{path} missing (the storage step creates it)")
        if facts[0] != owner or int(facts[1], 8) != int(mode, 8):
            return Outcome(False, f"{path} is {facts[0]} mode {facts[1]}, needs {owner} mode {mode}")
        stray = await foreign_owned(ctx.transport, path, owner)
        if stray is not None:
            return Outcome(False, f"{stray} is not owned by {owner}")
        return Outcome(True, f"{path} owned by {owner}, mode {mode}")

    def plan(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        return (
            Command(("chown", "-R", owner, path), root=True),
            Command(("chmod", "-R", mode, path), root=True),
        )

    why = f"the ComfyUI image refuses to start unless /comfy/mnt is owned by {owner} on the host"
    return Step("comfy-mnt", f"comfy-mnt {owner}, {mode}", why, check, plan)


# --- compose --------------------------------------------------------------------------------------------


def compose_file_step(settings: AiStackSettings) -> Step:
    content = render_compose(settings)

    async def check(ctx: NodeContext) -> Outcome:
        current = await read_file(ctx.transport, settings.compose_path)
        project = (await stat_paths(ctx.transport, (settings.project_dir,)))[settings.project_dir]
        if current == content:
            return Outcome(True, f"{settings.compose_path} is up to date")
        what = "absent" if current is None else "differs from the settings"
        return Outcome(False, f"{settings.compose_path} {what}", data=(current, project is not None))

    def plan(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        current, project_exists = outcome.data
        mkdir = () if project_exists else (Command(("mkdir", "-p", settings.project_dir), root=True),)
        return (*mkdir, WriteFile.planned(settings.compose_path, content, current))

    async def verify(ctx: NodeContext) -> Outcome:
        done = await check(ctx)
        if not done.done:
            return done
        argv = (*await compose_base(ctx, settings), "config", "-q")
        result = await ctx.read(env_prefix(ctx.node) + shlex.join(argv))
        if not result.ok:
            return Outcome(False, f"compose rejects {settings.compose_path}: {result.stderr.strip()[-300:]}")
        return Outcome(True, f"{settings.compose_path} written; compose accepts it")

    why = "ports on 127.0.0.1 only, GPUs for comfy and ollama, one /comfy/mnt bind mount, models read-only"
    return Step("compose-file", "Compose file", why, check, plan, verify)


def up_step(settings: AiStackSettings, *, services: tuple[str, ...] = (), recreate: bool = False) -> Step:
    """`compose up -d` (all services), or a forced recreate of some (a fix that changed their mounts)."""
    names = services or CONTAINERS

    async def check(ctx: NodeContext) -> Outcome:
        extra = ("--force-recreate", *names) if recreate else ()
        argv = (*await compose_base(ctx, settings), "up", "-d", *extra)
        states = await inspect_containers(ctx.transport, ctx.node, names)
        missing = [name for name, state in states.items() if state is None]
        if missing:
            return Outcome(False, f"not created: {', '.join(missing)}", data=argv)
        hashes = await compose_hashes(
            ctx.transport, ctx.node, await compose_command(ctx), settings.compose_path, settings.project_name
        )
        stale = [
            name for name, state in states.items() if state and (hashes or {}).get(name) != state.config_hash
        ]
        down = [
            f"{name} {state.status}" for name, state in states.items() if state and state.status != "running"
        ]
        if stale or down:
            why = [f"not created from the current compose file: {', '.join(stale)}"] if stale else []
            return Outcome(False, "; ".join(why + down), data=argv)
        return Outcome(True, f"{', '.join(names)} running, created from the current compose file")

    def plan(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        return (Command(outcome.data, env=docker_env(ctx.node), timeout=settings.first_run_timeout),)

    if recreate:
        title, why = f"Recreate {', '.join(names)}", "a recreated container gets the compose file's mounts"
    else:
        title, why = (
            "Containers up",
            "docker compose up -d (docker-compose v1 where that is what the node has)",
        )
    return Step("recreate" if recreate else "up", title, why, check, plan)


# --- first run and validation ---------------------------------------------------------------------------


async def comfy_ready(ctx: NodeContext, settings: AiStackSettings) -> tuple[bool, str, tuple[str, ...]]:
    """(ready, what the node says, the last log lines). Raises StepError when ComfyUI refuses to start."""
    state = (await inspect_containers(ctx.transport, ctx.node, ("comfy",)))["comfy"]
    if state is None:
        return False, "no comfy container", ()
    lines = await container_logs(ctx.transport, ctx.node, "comfy", tail=50)
    refusal = uid_gid_error(lines)
    if refusal is not None:
        raise StepError(
            f"ComfyUI refuses to start: {refusal.strip()} (fix: opsconsole troubleshoot "
            f"comfy-mnt-ownership --node {ctx.name})",
            lines[-PROGRESS_LINES:],
        )
    if state.status in ("restarting", "exited", "dead"):
        raise StepError(
            f"comfy is {state.status} after {state.restart_count} restarts (fix: opsconsole "
            f"troubleshoot restart-loop --node {ctx.name})",
            lines[-PROGRESS_LINES:],
        )
    if not any(READY_TEXT in line for line in lines):
        return False, f'comfy {state.status}, no "{READY_TEXT}" yet', lines[-PROGRESS_LINES:]
    probe = await probe_service(ctx.transport, comfy_service(settings))
    return probe.outcome == "ok", f"{READY_TEXT}; {probe.detail}", lines[-PROGRESS_LINES:]


def first_run_step(settings: AiStackSettings) -> Step:
    deadline = settings.first_run_timeout

    async def check(ctx: NodeContext) -> Outcome:
        ready, said, lines = await comfy_ready(ctx, settings)
        return Outcome(ready, said, lines)

    async def wait(ctx: NodeContext) -> str:
        started = time.monotonic()
        while True:
            ready, said, lines = await comfy_ready(ctx, settings)
            elapsed = time.monotonic() - started
            if ready:
                return f"ComfyUI ready after {_minutes(elapsed)}: {said}"
            ctx.emit(Progress(ctx.step, elapsed, deadline, FIRST_RUN_MESSAGE, lines))
            if elapsed >= deadline:
                raise StepError(f"ComfyUI not ready after {_minutes(deadline)}: {said}", lines)
            await asyncio.sleep(min(settings.poll_interval, max(0.0, deadline - elapsed)))

    def plan(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        shown = (
            f'wait up to {_minutes(deadline)} for "{READY_TEXT}" in `docker logs comfy` and HTTP 200 from '
            f"http://127.0.0.1:{settings.host_port('comfy')}/ (checked every {settings.poll_interval:g}s)"
        )
        return (Task(shown, wait),)

    return Step(
        "first-run", "First run of ComfyUI", "the first start installs ComfyUI: 10–20 minutes", check, plan
    )


async def checklist(ctx: NodeContext, settings: AiStackSettings) -> tuple[tuple[bool | None, str], ...]:
    """The procedure's validation checklist: (passed, item) each; passed None: could not be checked (a log
    check without a comfy container proves nothing, so it is not a pass)."""
    command = env_prefix(ctx.node) + "docker ps -a --format '{{.Names}}\t{{.Status}}'"
    listed = dict(
        line.split("\t", 1) for line in (await ctx.read(command)).stdout.splitlines() if "\t" in line
    )
    items: list[tuple[bool | None, str]] = [
        (listed.get(name, "").startswith("Up"), f"{name}: {listed.get(name) or 'no container'}")
        for name in CONTAINERS
    ]
    port = settings.host_port("comfy")
    probe = await probe_service(ctx.transport, comfy_service(settings))
    items.append((probe.outcome == "ok", f"http://127.0.0.1:{port} through SSH: {probe.detail}"))
    uid_item, ready_item = (
        "no UID/GID error in `docker logs --tail=50 comfy`",
        f'"{READY_TEXT}" in comfy\'s logs',
    )
    if "comfy" not in listed:
        items += [
            (None, f"{uid_item}: not checked, no comfy container"),
            (None, f"{ready_item}: not checked"),
        ]
        return tuple(items)
    logs = await container_logs(ctx.transport, ctx.node, "comfy", tail=50)
    refusal = uid_gid_error(logs)
    items.append(
        (True, uid_item) if refusal is None else (False, f"UID/GID error in comfy's logs: {refusal.strip()}")
    )
    items.append(
        (any(READY_TEXT in line for line in logs), f'"{READY_TEXT}" in `docker logs --tail=50 comfy`')
    )
    return tuple(items)


_MARKS = {True: "✔ ", False: "✖ ", None: "– "}


def validate_step(settings: AiStackSettings) -> Step:
    async def check(ctx: NodeContext) -> Outcome:
        items = await checklist(ctx, settings)
        passed = sum(ok is True for ok, _ in items)
        unchecked = sum(ok is None for ok, _ in items)
        details = tuple(_MARKS[ok] + text for ok, text in items)
        more = f", {unchecked} not checked" if unchecked else ""
        return Outcome(passed == len(items), f"{passed}/{len(items)} validation checks pass{more}", details)

    port = settings.host_port("comfy")
    why = f"containers Up, HTTP 200 on 127.0.0.1:{port} through SSH, comfy's logs clean"
    return Step("validate", "Validation checklist", why, check, kind="validation")


def bringup_wizard(settings: AiStackSettings) -> Wizard:
    steps = (
        os_step("bring-up"),  # before anything else: the steps below assume apt and Ubuntu/Debian
        gpu_step(settings),
        docker_step(),
        nvidia_runtime_step(),
        storage_step(settings),
        comfy_mnt_step(settings),
        compose_file_step(settings),
        up_step(settings),
        first_run_step(settings),
        validate_step(settings),
    )
    return Wizard("bringup", "AI stack bring-up", "wizard.bringup", steps)


__all__ = ["StepError", "bringup_wizard", "checklist", "comfy_service"]
