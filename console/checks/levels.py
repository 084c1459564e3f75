"""What the screens colour by, decided once beside the check results. Pure functions, no I/O.

The rules judge a node; the tables need a few of those verdicts per row and per GPU, container or service
(how hot each GPU is against its thresholds, how many of the expected containers run). `node_levels`
gathers them from the node's results and snapshot so that no widget compares a value with a threshold or
reads a verdict back out of rendered text. Where a rule already said it, its result is reused; where a
table needs a finer grain than a result carries (one GPU, one container), the same comparison the rule
makes, `at_or_above`, is applied here.
"""

from __future__ import annotations

from collections.abc import Sequence

from console.collectors.docker_model import watched_containers
from console.collectors.listeners import audit_binds
from console.model.checks import CheckResult, Status
from console.model.inventory import Node, Threshold
from console.model.levels import NodeLevels as NodeLevels
from console.model.levels import NodeVerdict as NodeVerdict
from console.model.levels import Tally as Tally
from console.model.node import NodeSnapshot
from console.model.services import BindFinding
from console.text import finite

SLOW_CONNECT_S = 2.0  # a handshake this long marks the connection slow (the fleet's State column)


def at_or_above(value: float | None, limits: Threshold) -> Status:
    """A reading against its thresholds: at or above crit critical, at or above warn warning; none unknown."""
    value = finite(value)
    if value is None:
        return Status.UNKNOWN
    if value >= limits.crit:
        return Status.CRITICAL
    if value >= limits.warn:
        return Status.WARNING
    return Status.OK


def errors_level(count: float | None) -> Status:
    """A count of errors that should be zero (uncorrected ECC): any is critical; none reported unknown."""
    count = finite(count)
    if count is None:
        return Status.UNKNOWN
    return Status.CRITICAL if count > 0 else Status.OK


def _result(results: Sequence[CheckResult], check: str) -> CheckResult | None:
    return next((result for result in results if result.check == check), None)


def _perf(result: CheckResult | None, label: str) -> float | None:
    if result is None:
        return None
    return next((perf.value for perf in result.perfdata if perf.label == label), None)


def _gpus(node: Node, snapshot: NodeSnapshot, results: Sequence[CheckResult]) -> Tally | None:
    gpu = snapshot.gpu
    count = _result(results, "gpu.count")
    if gpu is None or gpu.status != "ok" or node.gpus is None or node.gpus.count is None or count is None:
        return None
    return Tally(len(gpu.gpus), node.gpus.count, count.status)


def _containers(node: Node, snapshot: NodeSnapshot, results: Sequence[CheckResult]) -> Tally | None:
    docker = snapshot.docker
    if node.docker is None or docker is None or docker.error is not None:
        return None
    if watched_containers(node):
        running = [result for result in results if result.check == "container.running"]
        up, total = sum(result.status is Status.OK for result in running), len(running)
    else:
        engine = _result(results, "docker.engine")
        up = int(_perf(engine, "running") or 0)
        total = int(_perf(engine, "containers") or 0)
    return Tally(up, total, Status.OK if up == total else Status.CRITICAL)


def _mounts(node: Node, snapshot: NodeSnapshot) -> Tally | None:
    mounts = snapshot.mounts
    if not node.mounts or mounts is None or mounts.error is not None:
        return None
    good = sum(1 for m in mounts.mounts if m.present and m.responsive == "ok" and m.mode_ok is not False)
    hung = any(m.responsive == "hung" for m in mounts.mounts)
    expected = len(node.mounts)
    return Tally(good, expected, Status.OK if good == expected else Status.CRITICAL, hung)


def _binds(node: Node, snapshot: NodeSnapshot) -> tuple[BindFinding, ...]:
    services = snapshot.services
    if services is None or services.error is not None:
        return ()
    published = snapshot.docker.published() if snapshot.docker is not None else ()
    return audit_binds(node.services, services.listeners, published)


def node_levels(node: Node, snapshot: NodeSnapshot | None, results: Sequence[CheckResult]) -> NodeLevels:
    """The levels the tables show for `node`, from the same snapshot its `results` were evaluated on."""
    if snapshot is None or not snapshot.reachable:
        return NodeLevels()
    gpu = snapshot.gpu
    readings = gpu.gpus if gpu is not None and gpu.status == "ok" else ()
    limits = node.thresholds
    temperature = _result(results, "gpu.temperature") if readings else None
    docker = snapshot.docker
    containers = docker.containers if docker is not None else ()
    return NodeLevels(
        gpus=_gpus(node, snapshot, results),
        temperature=temperature.status if temperature is not None else None,
        gpu_temperature=tuple(
            (r.index, at_or_above(r.temperature_c, limits.gpu_temperature))
            for r in readings
            if r.temperature_c is not None
        ),
        gpu_ecc=tuple(
            (r.index, errors_level(r.ecc_uncorrected)) for r in readings if r.ecc_uncorrected is not None
        ),
        slow_connect=snapshot.connect_s is not None and snapshot.connect_s >= SLOW_CONNECT_S,
        containers=_containers(node, snapshot, results),
        restarts=tuple(
            (c.name, at_or_above(c.restart_count, limits.container_restarts))
            for c in containers
            if c.restart_count is not None
        )
        + tuple(  # a CRI-O node's containers, by namespace/pod/container (console/checks/cri_rules.py)
            (f"{c.namespace}/{c.pod}/{c.name}", at_or_above(c.restarts, limits.container_restarts))
            for c in (snapshot.cri.containers if snapshot.cri is not None else ())
            if c.restarts is not None
        ),
        mounts=_mounts(node, snapshot),
        binds=_binds(node, snapshot),
    )
