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


def driver_matches(driver: str, pinned: str) -> bool:
    """Whether a driver version is the pinned branch or version prefix: 580 matches 580.95.05, not 5800."""
    return driver == pinned or driver.startswith(pinned.rstrip(".") + ".")


def gpu_step(settings: AiStackSettings) -> Step:
    pinned = settings.driver_major

    async def check(ctx: NodeContext) -> Outcome:
        snapshot = await collect_gpus(ctx.transport)
        if snapshot.status != "ok":
            wanted = f"the NVIDIA driver {pinned}.x" if pinned else "the NVIDIA driver"
            return Outcome(False, f"{snapshot.error or snapshot.status}: install {wanted} and reboot")
        if not snapshot.gpus:
            return Outcome(False, "nvidia-smi sees no GPU")
        names = ", ".join(sorted({gpu.name for gpu in snapshot.gpus}))
        driver = snapshot.driver or "?"
        found = f"{len(snapshot.gpus)} GPU ({names}), driver {driver}"
        if pinned is None:
            return Outcome(True, f"{found} (the inventory pins no driver)")
        if not driver_matches(driver, pinned):
            return Outcome(
                False,
                f"{found}; the inventory pins driver {pinned}: install it, or change the pin "
                "(gpus.driver, or ai_stack.driver_major)",
            )
        return Outcome(True, f"{found}, as pinned ({pinned})")

    why = (
        f"nvidia-smi answers; driver {pinned} (pinned)" if pinned else "nvidia-smi answers and sees the GPUs"
    )
    return Step("gpu", "NVIDIA driver sees the GPU", why, check, kind="prerequisite")


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
