"""The bring-up's prerequisites: the NVIDIA driver sees the GPU, Docker Engine (not the snap) with compose,
and the NVIDIA Container Toolkit's `nvidia` runtime. Read-only checks: when one is missing the wizard stops
and says what to install (or which `opsconsole troubleshoot` entry repairs it)."""

from __future__ import annotations

from console.collectors.docker import collect_docker
from console.collectors.docker_model import EngineInfo
from console.collectors.gpu import collect_gpus
from console.wizards.engine import NodeContext, Outcome, Step
from console.wizards.ops import StepError
from console.wizards.probes import detect_compose
from console.wizards.settings import AiStackSettings


async def compose_command(ctx: NodeContext) -> tuple[str, ...]:
    """`docker compose` or `docker-compose`, whichever the node has (cached for the run)."""
    if "compose" not in ctx.cache:
        ctx.cache["compose"] = await detect_compose(ctx.transport, ctx.node)
    found = ctx.cache["compose"]
    if found is None:
        raise StepError(
            f"{ctx.name} has neither `docker compose` nor `docker-compose`: install the compose plugin "
            "(docker-compose-plugin) or Debian's docker-compose"
        )
    argv: tuple[str, ...] = found[0]
    return argv


async def engine(ctx: NodeContext) -> EngineInfo:
    """Docker's engine facts, read fresh (not the collector's cached copy: a fix may have changed them)."""
    snapshot = await collect_docker(ctx.transport, ctx.node, engine_max_age=0)
    if snapshot.engine is None or snapshot.error:
        message = snapshot.error or "Docker did not answer"
        if message.startswith("permission denied"):
            message += f" (fix: opsconsole troubleshoot docker-permission --node {ctx.name})"
        raise StepError(message)
    return snapshot.engine


def gpu_step(settings: AiStackSettings) -> Step:
    async def check(ctx: NodeContext) -> Outcome:
        snapshot = await collect_gpus(ctx.transport)
        if snapshot.status != "ok":
            return Outcome(
                False,
                f"{snapshot.error or snapshot.status}: install the NVIDIA driver "
                f"{settings.driver_major}.x and reboot",
            )
        if not snapshot.gpus:
            return Outcome(False, "nvidia-smi sees no GPU")
        names = ", ".join(sorted({gpu.name for gpu in snapshot.gpus}))
        driver = snapshot.driver or "?"
        found = f"{len(snapshot.gpus)} GPU ({names}), driver {driver}"
        if driver.split(".")[0] != settings.driver_major:
            return Outcome(
                False,
                f"{found}; the procedure expects driver {settings.driver_major}.x: install it, "
                "or set ai_stack.driver_major to the branch you run",
            )
        return Outcome(True, found)

    return Step(
        "gpu",
        "NVIDIA driver sees the GPU",
        f"nvidia-smi answers; driver {settings.driver_major}.x",
        check,
        kind="prerequisite",
    )


def docker_step() -> Step:
    async def check(ctx: NodeContext) -> Outcome:
        info = await engine(ctx)
        if info.snap:
            return Outcome(
                False,
                f"Docker {info.version} is the snap build: remove it (snap remove docker) and "
                "install Docker Engine (docker.com or Debian's docker.io)",
            )
        await compose_command(ctx)
        _, version = ctx.cache["compose"]
        return Outcome(True, f"Docker Engine {info.version} (not the snap); {version}")

    return Step(
        "docker",
        "Docker Engine and compose",
        "Docker Engine installed, not the snap build; compose",
        check,
        kind="prerequisite",
    )


def nvidia_runtime_step() -> Step:
    async def check(ctx: NodeContext) -> Outcome:
        info = await engine(ctx)
        runtimes = ", ".join(info.runtimes) or "none"
        if not info.nvidia_runtime:
            return Outcome(
                False,
                f"Docker lists no nvidia runtime (runtimes: {runtimes}): install the NVIDIA "
                f"Container Toolkit (fix: opsconsole troubleshoot nvidia-runtime --node {ctx.name})",
            )
        return Outcome(True, f"Docker lists the nvidia runtime (runtimes: {runtimes})")

    return Step(
        "nvidia-runtime",
        "NVIDIA Container Toolkit",
        "Docker lists an `nvidia` runtime",
        check,
        kind="prerequisite",
    )
