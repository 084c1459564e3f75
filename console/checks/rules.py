"""Rules: turn one node's snapshot into check results. Pure functions, no I/O."""

from __future__ import annotations

from console.checks.docker_rules import evaluate_docker, planned_docker
from console.checks.model import CheckResult, Perf, Status
from console.checks.mount_rules import evaluate_mounts, planned_mounts
from console.checks.service_rules import evaluate_services, planned_services
from console.collectors.gpu import GpuSnapshot
from console.inventory.model import Node
from console.snapshots import NodeSnapshot

Planned = tuple[tuple[str, str | None], ...]


def planned_checks(node: Node) -> Planned:
    """(check id, target) pairs a node gets, known before anything runs (so a timeout can name them)."""
    return (
        ("ssh.reachable", None),
        *((check, None) for check in planned_gpu(node)),
        *planned_services(node),
        *planned_mounts(node),
        *planned_docker(node),
    )


def planned_gpu(node: Node) -> tuple[str, ...]:
    checks = ["gpu.present"]
    if node.gpus is not None and node.gpus.count is not None:
        checks.append("gpu.count")
    if node.gpus is not None and node.gpus.model:
        checks.append("gpu.model")
    checks.append("gpu.temperature")
    return tuple(checks)


def unknown_results(node: Node, summary: str) -> tuple[CheckResult, ...]:
    return tuple(
        CheckResult(node.name, check, Status.UNKNOWN, summary, target=target)
        for check, target in planned_checks(node)
    )


def evaluate(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    if not snapshot.reachable:
        reason = snapshot.error or "unreachable"
        unreachable = CheckResult(node.name, "ssh.reachable", Status.CRITICAL, reason)
        return (unreachable, *unknown_results(node, "node unreachable")[1:])
    how = "local" if node.transport == "local" else f"connected in {snapshot.connect_s or 0:.2f}s"
    results = [CheckResult(node.name, "ssh.reachable", Status.OK, how)]
    if snapshot.gpu is None:
        results += [
            CheckResult(node.name, check, Status.UNKNOWN, "no GPU data") for check in planned_gpu(node)
        ]
    else:
        results += _gpu_results(node, snapshot.gpu)
    if node.services:
        published = snapshot.docker.published() if snapshot.docker is not None else ()
        results += evaluate_services(node, snapshot.services, published)
    if node.mounts:
        results += evaluate_mounts(node, snapshot.mounts)
    if node.docker is not None:
        results += evaluate_docker(node, snapshot.docker)
    return tuple(results)


def _gpu_results(node: Node, gpu: GpuSnapshot) -> list[CheckResult]:
    expected = node.gpus
    expects_gpus = expected is not None and expected.count != 0
    checks = planned_gpu(node)
    if gpu.status != "ok":
        message = gpu.error or gpu.status
        if gpu.status == "no_tooling" and not expects_gpus:
            present = CheckResult(node.name, "gpu.present", Status.OK, f"{message}; inventory expects none")
            return [present] + [
                CheckResult(node.name, check, Status.OK, "no GPUs expected")
                for check in checks
                if check not in ("gpu.present", "gpu.temperature")
            ]
        status = Status.CRITICAL if expects_gpus else Status.UNKNOWN
        return [CheckResult(node.name, "gpu.present", status, message)] + [
            CheckResult(node.name, check, Status.UNKNOWN, message)
            for check in checks
            if check != "gpu.present"
        ]

    found = len(gpu.gpus)
    results: list[CheckResult] = []
    if found:
        names = sorted({reading.name for reading in gpu.gpus})
        summary = f"{found} GPU{'s' if found != 1 else ''}: {', '.join(names)} (driver {gpu.driver or '–'})"
        results.append(CheckResult(node.name, "gpu.present", Status.OK, summary))
    else:
        status = Status.CRITICAL if expects_gpus else Status.OK
        results.append(CheckResult(node.name, "gpu.present", status, "no GPUs found"))

    if expected is not None and expected.count is not None:
        want = expected.count
        status = Status.OK if found == want else Status.CRITICAL
        noun = "GPU" if found == 1 else "GPUs"
        summary = f"{found} {noun} found" + ("" if found == want else f", inventory expects {want}")
        results.append(
            CheckResult(node.name, "gpu.count", status, summary, perfdata=(Perf("gpu_count", float(found)),))
        )

    if expected is not None and expected.model:
        wrong = [reading for reading in gpu.gpus if expected.model.lower() not in reading.name.lower()]
        if not found:
            results.append(CheckResult(node.name, "gpu.model", Status.CRITICAL, "no GPUs to match"))
        elif wrong:
            mismatches = ", ".join(f"GPU {reading.index} is {reading.name}" for reading in wrong)
            summary = f"{mismatches}; inventory expects {expected.model!r}"
            results.append(CheckResult(node.name, "gpu.model", Status.CRITICAL, summary))
        else:
            summary = f"all {found} match {expected.model!r}"
            results.append(CheckResult(node.name, "gpu.model", Status.OK, summary))

    results.append(_temperature(node, gpu))
    return results


def _temperature(node: Node, gpu: GpuSnapshot) -> CheckResult:
    limits = node.thresholds.gpu_temperature
    readings = [reading for reading in gpu.gpus if reading.temperature_c is not None]
    if not readings:
        summary = "no GPU reports a temperature" if gpu.gpus else "no GPUs"
        return CheckResult(node.name, "gpu.temperature", Status.UNKNOWN if gpu.gpus else Status.OK, summary)
    hottest = max(readings, key=lambda reading: reading.temperature_c or 0.0)
    temp = hottest.temperature_c or 0.0
    if temp >= limits.crit:
        status = Status.CRITICAL
    elif temp >= limits.warn:
        status = Status.WARNING
    else:
        status = Status.OK
    summary = f"hottest GPU {hottest.index} at {temp:g} °C (warn {limits.warn:g}, crit {limits.crit:g})"
    perfdata = tuple(
        Perf(f"gpu{reading.index}_temp", reading.temperature_c or 0.0, "", limits.warn, limits.crit)
        for reading in readings
    )
    return CheckResult(node.name, "gpu.temperature", status, summary, perfdata=perfdata)
