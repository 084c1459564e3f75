"""Catalogue entries about the stack's containers: /comfy/mnt ownership and sub-mounts, and restart loops."""

from __future__ import annotations

import asyncio

import aiodocker
import aiohttp

from console.collectors.docker import docker_client
from console.transport.base import TransportError
from console.wizards.bringup import (
    comfy_mnt_step,
    compose_base,
    compose_file_step,
    first_run_step,
    storage_step,
)
from console.wizards.compose import COMFY_MNT
from console.wizards.engine import NodeContext, Outcome, Step, Wizard
from console.wizards.fix_model import Finding, Fix, FixInput, fix_wizard
from console.wizards.ops import Command, Operation, StepError
from console.wizards.prereqs import compose_command
from console.wizards.probes import (
    ContainerState,
    compose_hashes,
    container_logs,
    docker_env,
    docker_failure,
    foreign_owned,
    inspect_containers,
    stat_paths,
    uid_gid_error,
)
from console.wizards.settings import CONTAINERS, AiStackSettings

COMFY_MNT_FIX = "comfy-mnt-ownership"
RESTART_LOOP_FIX = "restart-loop"
LOG_LINES = 20
RELOOK_S = 2.0  # a container that restarted and runs now: look again after this long


def mount_problems(state: ContainerState, settings: AiStackSettings) -> list[str]:
    """What is wrong with comfy's mounts: sub-mounts below /comfy/mnt, or no single bind of comfy-mnt."""
    problems: list[str] = []
    subs = [mount.destination for mount in state.mounts if mount.destination.startswith(COMFY_MNT + "/")]
    if subs:
        problems.append(
            f"sub-mounts below {COMFY_MNT}: {', '.join(subs)} (needs ONE bind mount at {COMFY_MNT})"
        )
    main = next((mount for mount in state.mounts if mount.destination == COMFY_MNT), None)
    if main is None:
        problems.append(f"no bind mount at {COMFY_MNT}")
    elif main.type != "bind" or main.source.rstrip("/") != settings.comfy_mnt.rstrip("/"):
        problems.append(
            f"{COMFY_MNT} is a {main.type} mount of {main.source or '?'}, not a bind of {settings.comfy_mnt}"
        )
    return problems


async def detect_comfy_mnt(ctx: NodeContext, inp: FixInput) -> Finding:
    return await examine_comfy_mnt(ctx, inp.settings, deep=True)


async def examine_comfy_mnt(ctx: NodeContext, settings: AiStackSettings, *, deep: bool) -> Finding:
    """comfy's mounts (Docker API), the host directory's owner and mode, and with `deep` every file below it
    (a `find` that stops at the first stranger: cheap when something is wrong, a full walk when all is well,
    so `--check` and polls leave it out)."""
    state = (await inspect_containers(ctx.transport, ctx.node, ("comfy",)))["comfy"]
    problems = mount_problems(state, settings) if state is not None else []
    path = settings.comfy_mnt
    facts = (await stat_paths(ctx.transport, (path,)))[path]
    if facts is None:
        problems.append(f"{path} does not exist on the node")
    elif facts[0] != settings.owner or int(facts[1], 8) != int(settings.comfy_mode, 8):
        problems.append(
            f"{path} is owned {facts[0]} mode {facts[1]} on the host, needs {settings.owner} "
            f"mode {settings.comfy_mode}"
        )
    elif deep and (stray := await foreign_owned(ctx.transport, path, settings.owner)) is not None:
        problems.append(f"{stray} is not owned by {settings.owner}")
    details = tuple(
        f"mount {m.type} {m.source} -> {m.destination}{'' if m.rw else ' (ro)'}"
        for m in (state.mounts if state else ())
    )
    if state is not None and (
        refusal := uid_gid_error(await container_logs(ctx.transport, ctx.node, "comfy"))
    ):
        details += (f"comfy's log: {refusal.strip()}",)
    if problems:
        return Finding(COMFY_MNT_FIX, True, "; ".join(problems), details, data=state is not None)
    summary = f"{COMFY_MNT} is one bind mount of {path}, owned {settings.owner} mode {settings.comfy_mode}"
    return Finding(COMFY_MNT_FIX, False, summary, details, data=True)


def comfy_recreate_step(settings: AiStackSettings) -> Step:
    """Recreate comfy from the compose file, unless it already runs fresh with the right mounts."""

    async def check(ctx: NodeContext) -> Outcome:
        argv = (*await compose_base(ctx, settings), "up", "-d", "--force-recreate", "comfy")
        state = (await inspect_containers(ctx.transport, ctx.node, ("comfy",)))["comfy"]
        if state is None:
            return Outcome(False, "no comfy container", data=argv)
        hashes = await compose_hashes(
            ctx.transport, ctx.node, await compose_command(ctx), settings.compose_path, settings.project_name
        )
        problems = mount_problems(state, settings)
        if (hashes or {}).get("comfy") != state.config_hash:
            problems.append("not created from the current compose file")
        if state.status != "running" or state.restart_count:
            problems.append(f"{state.status} after {state.restart_count} restarts")
        if problems:
            return Outcome(False, "; ".join(problems), data=argv)
        return Outcome(True, f"comfy runs with one bind mount at {COMFY_MNT}")

    def plan(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        return (Command(outcome.data, env=docker_env(ctx.node), timeout=settings.first_run_timeout),)

    return Step(
        "recreate",
        "Recreate comfy",
        "a recreated container gets the new mounts and a clean start",
        check,
        plan,
    )


def comfy_mnt_wizard(inp: FixInput, finding: Finding) -> Wizard:
    settings = inp.settings
    steps = (
        storage_step(settings),
        compose_file_step(settings),
        comfy_mnt_step(settings),
        comfy_recreate_step(settings),
        first_run_step(settings),
    )
    return fix_wizard(COMFY_MNT_FIX, "Fix /comfy/mnt: one bind mount, owned 1024:1024", steps)


COMFY_MNT_OWNERSHIP = Fix(
    COMFY_MNT_FIX,
    "/comfy/mnt owned by unexpected user/group",
    '"Directory /comfy/mnt owned by unexpected user/group" and comfy restarts',
    "The ComfyUI image refuses to start unless /comfy/mnt is ONE bind mount owned by 1024:1024 on the host. "
    "Sub-mounts (/comfy/mnt/models) make Docker create /comfy/mnt itself, owned by root; a host directory "
    "created by root has the same effect. Fix: a single bind mount in compose, chown -R 1024:1024 and "
    "chmod -R 775 on the host directory, recreate the container.",
    ("stack.comfy_mnt",),
    detect_comfy_mnt,
    comfy_mnt_wizard,
)


# --- restart loop -------------------------------------------------------------------------------------


def looping(state: ContainerState, crit: float) -> bool:
    if state.status == "restarting":
        return True
    crashed = state.status == "exited" and state.exit_code not in (0, None) and state.restart_count > 0
    return crashed or state.restart_count >= crit


def known_cause(state: ContainerState, lines: tuple[str, ...]) -> str | None:
    if uid_gid_error(lines) is not None:
        return COMFY_MNT_FIX
    said = (state.error + " " + " ".join(lines)).lower()
    if 'device driver "nvidia"' in said or "unknown or invalid runtime name: nvidia" in said:
        return "nvidia-runtime"
    return None


async def looping_containers(ctx: NodeContext) -> tuple[tuple[ContainerState, ...], int]:
    """The node's containers in a restart loop, the worst first (restarting, then most restarts), and how
    many containers were looked at."""
    try:
        client = await docker_client(ctx.transport, ctx.node)
        listed = await client.containers.list(all=True)
    except (aiodocker.DockerError, aiohttp.ClientError, OSError, TransportError, ValueError) as exc:
        raise await docker_failure(ctx.transport, ctx.node, exc) from exc
    names = sorted(str(item["Names"][0]).lstrip("/") for item in listed if item["Names"])
    states = await inspect_containers(ctx.transport, ctx.node, names)
    crit = ctx.node.thresholds.container_restarts.crit
    found = [state for state in states.values() if state is not None and looping(state, crit)]
    if not found:  # a loop caught between two runs looks "running": look again after Docker's backoff
        restarted = [
            s for s in states.values() if s is not None and s.status == "running" and s.restart_count
        ]
        if restarted:
            await asyncio.sleep(RELOOK_S)
            again = await inspect_containers(ctx.transport, ctx.node, [s.name for s in restarted])
            found = [
                now
                for old in restarted
                if (now := again.get(old.name)) is not None
                and (looping(now, crit) or now.restart_count > old.restart_count)
            ]
    found.sort(key=lambda state: (state.status != "restarting", -state.restart_count, state.name))
    return tuple(found), len(names)


async def detect_restart_loop(ctx: NodeContext, inp: FixInput) -> Finding:
    name = inp.container
    others: tuple[str, ...] = ()
    seen_looping = False  # the search below already saw it loop: a look now may catch it between two runs
    if name is None:  # no --container: the one that is actually looping
        found, looked = await looping_containers(ctx)
        seen_looping = bool(found)
        if not found:
            return Finding(RESTART_LOOP_FIX, False, f"no container is in a restart loop ({looked} looked at)")
        name = found[0].name
        if len(found) > 1:
            also = ", ".join(state.name for state in found[1:])
            others = (f"also looping: {also} (pick one with --container NAME)",)
    state = (await inspect_containers(ctx.transport, ctx.node, (name,)))[name]
    if state is None:
        return Finding(RESTART_LOOP_FIX, False, f"no container {name}", target=name)
    lines = await container_logs(ctx.transport, ctx.node, name, tail=LOG_LINES)
    if not seen_looping and not looping(state, ctx.node.thresholds.container_restarts.crit):
        return Finding(
            RESTART_LOOP_FIX,
            False,
            f"{name} {state.status}, {state.restart_count} restarts",
            lines,
            target=name,
        )
    cause = known_cause(state, lines)
    why = f": the log says why (troubleshoot {cause})" if cause else ": the last log lines say why"
    summary = f"{name} is {state.status} after {state.restart_count} restarts{why}"
    error = (f"docker: {state.error}",) if state.error else ()
    return Finding(RESTART_LOOP_FIX, True, summary, others + error + lines, cause=cause, target=name)


def stays_up_step(name: str, settings: AiStackSettings) -> Step:
    async def check(ctx: NodeContext) -> Outcome:
        first = (await inspect_containers(ctx.transport, ctx.node, (name,)))[name]
        if first is None or first.status != "running":
            return Outcome(False, f"{name} is {first.status if first else 'missing'}")
        await asyncio.sleep(settings.poll_interval)  # a loop shows as a restart within a few seconds
        again = (await inspect_containers(ctx.transport, ctx.node, (name,)))[name]
        if again is None or again.status != "running" or again.restart_count != first.restart_count:
            lines = await container_logs(ctx.transport, ctx.node, name, tail=LOG_LINES)
            return Outcome(False, f"{name} restarted again", lines)
        return Outcome(True, f"{name} running, no restart in {settings.poll_interval:g}s")

    return Step("stays-up", f"{name} stays up", "no new restart while we watch", check, kind="validation")


def restart_container_step(name: str, settings: AiStackSettings) -> Step:
    async def check(ctx: NodeContext) -> Outcome:
        state = (await inspect_containers(ctx.transport, ctx.node, (name,)))[name]
        if state is None:
            raise StepError(f"no container {name}")
        if state.status == "running" and state.restart_count == 0:
            return Outcome(True, f"{name} runs, fresh")
        if name in CONTAINERS:
            argv = (*await compose_base(ctx, settings), "up", "-d", "--force-recreate", name)
        else:
            argv = ("docker", "restart", name)
        return Outcome(False, f"{name} {state.status} after {state.restart_count} restarts", data=argv)

    def plan(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        return (Command(outcome.data, env=docker_env(ctx.node), timeout=settings.first_run_timeout),)

    async def verify(ctx: NodeContext) -> Outcome:
        state = (await inspect_containers(ctx.transport, ctx.node, (name,)))[name]
        ok = state is not None and state.status == "running"
        return Outcome(ok, f"{name} {state.status if state else 'missing'}")

    return Step("restart", f"Restart {name}", "a clean start once the cause is gone", check, plan, verify)


def restart_loop_wizard(inp: FixInput, finding: Finding) -> Wizard:
    from console.wizards.fixes_docker import NVIDIA_RUNTIME  # the loop's cause, when its logs name it

    name, settings = inp.container or finding.target or "comfy", inp.settings
    title = f"Fix {name}'s restart loop"
    if finding.cause == COMFY_MNT_FIX and name == "comfy":
        steps = comfy_mnt_wizard(inp, finding).steps
    elif finding.cause == "nvidia-runtime":
        steps = (*NVIDIA_RUNTIME.wizard(inp, finding).steps, restart_container_step(name, settings))
    else:
        steps = (restart_container_step(name, settings),)
    return fix_wizard(RESTART_LOOP_FIX, title, (*steps, stays_up_step(name, settings)))


RESTART_LOOP = Fix(
    RESTART_LOOP_FIX,
    "A container in a restart loop",
    "a container shows Restarting (1) and its service never answers",
    "The process in the container exits and Docker's restart policy starts it again, forever. The last log "
    "lines say why; a known cause (/comfy/mnt ownership, the nvidia runtime) gets its own fix, anything "
    "else a clean restart once you have dealt with what the logs say.",
    ("container.restarts", "container.running"),
    detect_restart_loop,
    restart_loop_wizard,
)
