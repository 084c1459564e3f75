"""Docker rules: one node's DockerSnapshot into check results. Pure functions, no I/O.

Checks (only for nodes with a `docker:` section):

- docker.engine: the daemon answers and is not the snap build (both critical otherwise). On a pod
  (console/pods.py) with no Docker socket and no containers named, the one result is skipped, "no Docker on
  this node".
- docker.nvidia_runtime: an `nvidia` runtime is registered; critical only when the node expects GPUs.
- docker.tcp_api: critical when dockerd listens on TCP; unknown when that cannot be told.
- container.running (target: container): each container the inventory names (docker.containers and
  services[].container) exists and is running; missing, exited, paused or restarting is critical.
- container.restarts (target: container): restart count against thresholds.container_restarts; a container
  in state "restarting" is critical ("restart loop").
- container.health (target: container): running containers with a healthcheck: unhealthy critical,
  starting warning, healthy ok; no healthcheck, no result.

container.restarts and container.health cover the named containers, plus any other container on the node
whose result is not OK (a crash-looping or unhealthy container nobody listed is still news); healthy unnamed
containers add no lines. planned_docker lists what is known before anything runs: container.health depends
on whether a container has a healthcheck, so it is not planned (a timeout reports running and restarts).
"""

from __future__ import annotations

from console.checks.levels import at_or_above
from console.checks.model import CheckResult, Perf, Status
from console.collectors.docker_model import ContainerInfo, DockerSnapshot, watched_containers
from console.inventory.model import Node
from console.pods import no_docker

ENGINE_CHECKS = ("docker.engine", "docker.nvidia_runtime", "docker.tcp_api")
FIX_GROUP = "add the SSH user to the docker group (usermod -aG docker USER), then reconnect"
FIX_START = "start dockerd (systemctl start docker) or fix docker.socket in the inventory"
FIX_SNAP = "snap remove docker; install Docker Engine from docker.com or Debian's docker.io"
FIX_NVIDIA = (
    "install nvidia-container-toolkit and run nvidia-ctk runtime configure --runtime=docker, restart dockerd"
)
FIX_TCP = "remove tcp:// hosts from dockerd's -H flags and daemon.json; reach the API over SSH"
FIX_START_CONTAINER = "docker start {name} (or docker compose up -d)"
FIX_LOGS = "docker logs --tail 50 {name}"
SNAP_MESSAGE = "snap build of Docker: use Docker Engine from docker.com/Debian; the snap breaks NVIDIA runtime and bind mounts"  # noqa: E501


def planned_docker(node: Node) -> tuple[tuple[str, str | None], ...]:
    """(check id, target) pairs a node gets, known before anything runs."""
    if node.docker is None:
        return ()
    planned: list[tuple[str, str | None]] = [(check, None) for check in ENGINE_CHECKS]
    for name in watched_containers(node):
        planned += [("container.running", name), ("container.restarts", name)]
    return tuple(planned)


def evaluate_docker(
    node: Node, snapshot: DockerSnapshot | None, *, reason: str = "no Docker data"
) -> tuple[CheckResult, ...]:
    """Results for node from snapshot; None (not collected, timed out) gives UNKNOWN for what was planned."""
    if node.docker is None:
        return ()
    if snapshot is None:
        return tuple(
            CheckResult(node.name, check, Status.UNKNOWN, reason, target)
            for check, target in planned_docker(node)
        )
    engine = snapshot.engine
    absent = no_docker(node, snapshot)
    if absent is not None:  # a pod has no Docker of its own: one line says so, nothing is failing
        return (CheckResult(node.name, "docker.engine", Status.SKIPPED, absent),)
    if snapshot.error is not None or engine is None:
        message = snapshot.error or "Docker did not answer"
        down = CheckResult(
            node.name, "docker.engine", Status.CRITICAL, message, fix=_unreachable_fix(message)
        )
        rest = [
            CheckResult(node.name, check, Status.SKIPPED, "Docker unreachable (see docker.engine)", target)
            for check, target in planned_docker(node)
            if check != "docker.engine"
        ]
        return (down, *rest)
    results = [_engine(node, snapshot), _nvidia(node, snapshot), _tcp(node, snapshot)]
    watched = watched_containers(node)
    for name in watched:
        container = snapshot.container(name)
        results.append(_running(node, name, container))
        results.append(_restarts(node, name, container))
        health = _health(node, name, container)
        if health is not None:
            results.append(health)
    for container in snapshot.containers:
        if container.name in watched:
            continue
        for result in (_restarts(node, container.name, container), _health(node, container.name, container)):
            # Unlisted containers are news only when known to be wrong: an exited one nobody watches was
            # not inspected, and "restart count not read" about it would be noise.
            if result is not None and result.status in (Status.WARNING, Status.CRITICAL):
                results.append(result)
    return tuple(results)


def _unreachable_fix(message: str) -> str | None:
    if message.startswith("permission denied"):
        return FIX_GROUP
    if message.startswith("no Docker socket"):
        return FIX_START
    return None


def _engine(node: Node, snapshot: DockerSnapshot) -> CheckResult:
    engine = snapshot.engine
    assert engine is not None
    if engine.snap:
        return CheckResult(node.name, "docker.engine", Status.CRITICAL, SNAP_MESSAGE, fix=FIX_SNAP)
    running = sum(container.state == "running" for container in snapshot.containers)
    summary = (
        f"Docker {engine.version} (API {engine.api_version}), {running}/{len(snapshot.containers)} running"
    )
    return CheckResult(
        node.name,
        "docker.engine",
        Status.OK,
        summary,
        perfdata=(Perf("containers", float(len(snapshot.containers))), Perf("running", float(running))),
    )


def _nvidia(node: Node, snapshot: DockerSnapshot) -> CheckResult:
    engine = snapshot.engine
    assert engine is not None
    expects_gpus = node.gpus is not None and node.gpus.count != 0
    runtimes = ", ".join(engine.runtimes) or "none"
    if engine.nvidia_runtime:
        default = " (the default)" if engine.default_runtime == "nvidia" else ""
        return CheckResult(
            node.name, "docker.nvidia_runtime", Status.OK, f"nvidia runtime registered{default}"
        )
    if not expects_gpus:
        return CheckResult(
            node.name, "docker.nvidia_runtime", Status.OK, f"not needed (runtimes: {runtimes})"
        )
    summary = f"no nvidia runtime (runtimes: {runtimes}): containers cannot use the node's GPUs"
    return CheckResult(node.name, "docker.nvidia_runtime", Status.CRITICAL, summary, fix=FIX_NVIDIA)


def _tcp(node: Node, snapshot: DockerSnapshot) -> CheckResult:
    engine = snapshot.engine
    assert engine is not None
    if engine.tcp_listeners is None:
        summary = (
            "cannot tell whether dockerd listens on TCP (its command line or daemon.json is not readable)"
        )
        return CheckResult(node.name, "docker.tcp_api", Status.UNKNOWN, summary)
    if engine.tcp_listeners:
        summary = (
            f"dockerd listens on TCP: {', '.join(engine.tcp_listeners)}: the Docker API is root on this node"
        )
        return CheckResult(node.name, "docker.tcp_api", Status.CRITICAL, summary, fix=FIX_TCP)
    return CheckResult(node.name, "docker.tcp_api", Status.OK, "unix socket only, no TCP API")


def _running(node: Node, name: str, container: ContainerInfo | None) -> CheckResult:
    def result(status: Status, summary: str, fix: str | None = None) -> CheckResult:
        return CheckResult(node.name, "container.running", status, summary, name, fix)

    if container is None:
        return result(Status.CRITICAL, f"no container named {name}", FIX_START_CONTAINER.format(name=name))
    if container.state == "running":
        return result(Status.OK, f"running: {container.status}")
    if container.state == "restarting":
        return result(Status.CRITICAL, f"restarting: {container.status}", FIX_LOGS.format(name=name))
    return result(
        Status.CRITICAL, f"{container.state}: {container.status}", FIX_START_CONTAINER.format(name=name)
    )


def _restarts(node: Node, name: str, container: ContainerInfo | None) -> CheckResult:
    def result(status: Status, summary: str, count: int | None = None) -> CheckResult:
        fix = FIX_LOGS.format(name=name) if status in (Status.WARNING, Status.CRITICAL) else None
        limits = node.thresholds.container_restarts
        perfdata = (
            (Perf("restarts", float(count), "", limits.warn, limits.crit),) if count is not None else ()
        )
        return CheckResult(node.name, "container.restarts", status, summary, name, fix, perfdata)

    if container is None:
        return result(Status.UNKNOWN, "no such container")
    count = container.restart_count
    if container.state == "restarting":
        return result(
            Status.CRITICAL, f"restart loop ({count if count is not None else '?'} restarts)", count
        )
    if count is None:
        return result(Status.UNKNOWN, f"{container.state}: restart count not read")
    limits = node.thresholds.container_restarts
    noun = "restart" if count == 1 else "restarts"
    summary = f"{count} {noun} (warn {limits.warn:g}, crit {limits.crit:g})"
    return result(at_or_above(count, limits), summary, count)


def _health(node: Node, name: str, container: ContainerInfo | None) -> CheckResult | None:
    if container is None or container.health is None or container.state != "running":
        return None
    status = {"healthy": Status.OK, "starting": Status.WARNING, "unhealthy": Status.CRITICAL}[
        container.health
    ]
    fix = (
        f"docker inspect --format '{{{{json .State.Health}}}}' {name}" if status is Status.CRITICAL else None
    )
    return CheckResult(node.name, "container.health", status, container.health, name, fix)
