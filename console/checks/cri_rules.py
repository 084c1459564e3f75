"""Rules for a CRI-O node's containers (crictl), named as Docker's (console/checks/docker_rules.py).

- crio.runtime: crictl answers (running/all containers, pods) → ok; it does not → critical; auto-detection
  found no CRI-O → skipped, saying why.
- container.running (target: container): each container the inventory names (`containers.watch`, and
  services[].container) exists and is running; missing or exited is critical.
- container.restarts (target: container): the restartCount kubelet keeps on the newest attempt, against
  thresholds.container_restarts; an exited container with restarts past the critical threshold is a
  restart loop (CrashLoopBackOff). Unnamed containers add a line only when not OK.
"""

from __future__ import annotations

from console.checks.levels import at_or_above
from console.checks.model import CheckResult, Perf, Status
from console.collectors.cri import settings_of
from console.inventory.kubernetes import containers_of, kubernetes_of
from console.inventory.model import Node
from console.model.cri import CriContainer, CriSnapshot

RUNTIME = "crio.runtime"
FIX_LOGS = "crictl logs --tail 50 {id}"


def wanted_cri(node: Node) -> bool:
    settings = containers_of(node)
    if settings is not None:
        return settings.runtime in ("cri-o", "auto")
    # A Kubernetes node with no Docker section: CRI-O if it has crictl and no Docker socket.
    return kubernetes_of(node) is not None and node.docker is None


def watched(node: Node) -> tuple[str, ...]:
    names = list(settings_of(node).watch)
    names += [service.container for service in node.services if service.container]
    return tuple(dict.fromkeys(names))


def planned_cri(node: Node) -> tuple[tuple[str, str | None], ...]:
    if not wanted_cri(node):
        return ()
    planned: list[tuple[str, str | None]] = [(RUNTIME, None)]
    for name in watched(node):
        planned += [("container.running", name), ("container.restarts", name)]
    return tuple(planned)


def evaluate_cri(node: Node, snapshot: CriSnapshot | None) -> tuple[CheckResult, ...]:
    if not wanted_cri(node):
        return ()
    if snapshot is None:
        return tuple(
            CheckResult(node.name, check, Status.UNKNOWN, "no CRI-O data", target)
            for check, target in planned_cri(node)
        )
    if snapshot.absent is not None:
        return (CheckResult(node.name, RUNTIME, Status.SKIPPED, f"not a CRI-O node: {snapshot.absent}"),)
    if snapshot.error is not None and not snapshot.containers:
        down = CheckResult(node.name, RUNTIME, Status.CRITICAL, snapshot.error)
        rest = [
            CheckResult(node.name, check, Status.SKIPPED, "crictl did not answer (see crio.runtime)", target)
            for check, target in planned_cri(node)
            if check != RUNTIME
        ]
        return (down, *rest)
    running = sum(c.state == "running" for c in snapshot.containers)
    summary = f"CRI-O: {running}/{len(snapshot.containers)} containers running, {len(snapshot.pods)} pods"
    perf = (Perf("containers", float(len(snapshot.containers))), Perf("running", float(running)))
    status = Status.OK
    if snapshot.error is not None:
        status, summary = Status.WARNING, f"{summary}; {snapshot.error}"
    results = [CheckResult(node.name, RUNTIME, status, summary, perfdata=perf)]
    names = watched(node)
    for name in names:
        container = snapshot.container(name)
        results += [_running(node, name, container), _restarts(node, name, container)]
    for container in snapshot.containers:
        if any(snapshot.container(name) is container for name in names):
            continue
        result = _restarts(node, f"{container.namespace}/{container.pod}/{container.name}", container)
        if result.status in (Status.WARNING, Status.CRITICAL):
            results.append(result)
    return tuple(results)


def _running(node: Node, name: str, container: CriContainer | None) -> CheckResult:
    if container is None:
        return CheckResult(
            node.name, "container.running", Status.CRITICAL, f"no container named {name}", name
        )
    where = f"{container.namespace}/{container.pod}"
    if container.state == "running":
        return CheckResult(node.name, "container.running", Status.OK, f"running in {where}", name)
    fix = FIX_LOGS.format(id=container.id[:13])
    return CheckResult(
        node.name, "container.running", Status.CRITICAL, f"{container.state} in {where}", name, fix
    )


def _restarts(node: Node, name: str, container: CriContainer | None) -> CheckResult:
    limits = node.thresholds.container_restarts
    if container is None:
        return CheckResult(node.name, "container.restarts", Status.UNKNOWN, "no such container", name)
    count = container.restarts
    if count is None:
        return CheckResult(
            node.name,
            "container.restarts",
            Status.UNKNOWN,
            f"{container.state}: restart count not read",
            name,
        )
    perf = (Perf("restarts", float(count), "", limits.warn, limits.crit),)
    status = at_or_above(count, limits)
    noun = "restart" if count == 1 else "restarts"
    summary = f"{count} {noun} (warn {limits.warn:g}, crit {limits.crit:g})"
    if container.state == "exited" and status is Status.CRITICAL:
        summary = f"restart loop: exited after {summary}"
    fix = FIX_LOGS.format(id=container.id[:13]) if status in (Status.WARNING, Status.CRITICAL) else None
    return CheckResult(node.name, "container.restarts", status, summary, name, fix, perf)
