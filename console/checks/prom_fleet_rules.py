"""Node checks computed from a fleet read from Prometheus: the same check ids as over SSH, one result each per
discovered node, judged by the same comparisons (console/checks/levels.py). Pure functions, no I/O.

Prometheus aggregates per node (the hottest GPU, the GPUs' summed draw), so these results have no per-GPU
target. A check that needs SSH (Docker, mounts, services, sshd, ...) is SKIPPED with that reason, never
unknown: nobody can fix "unknown" for a node that was never meant to be reached. A stale node's readings
are old, so its results are UNKNOWN and say how old.
"""

from __future__ import annotations

from console.checks.gpu_rules import COUNT, POWER, POWER_WARN_FRACTION, PRESENT, TEMPERATURE
from console.checks.levels import at_or_above
from console.checks.model import CheckResult, Perf, Status
from console.inventory.model import Node
from console.model.prom_fleet import PromNode

RESTARTS = "container.restarts"
PROM_NODE_CHECKS = (PRESENT, COUNT, TEMPERATURE, POWER, RESTARTS)  # what a node's series can be judged on
SSH_ONLY = "read from Prometheus: this check needs the node over SSH"


def _present(node: Node, prom: PromNode) -> CheckResult:
    expected = node.gpus
    expects = expected is not None and expected.count != 0
    if prom.gpu_count:
        return CheckResult(node.name, PRESENT, Status.OK, f"{prom.gpu_count} GPUs in Prometheus")
    status = Status.CRITICAL if expects else Status.OK
    return CheckResult(node.name, PRESENT, status, "no GPU series in Prometheus for this node")


def _count(node: Node, prom: PromNode) -> CheckResult | None:
    if node.gpus is None or node.gpus.count is None:
        return None
    want, have = node.gpus.count, prom.gpu_count or 0
    status = Status.OK if have == want else Status.CRITICAL
    return CheckResult(node.name, COUNT, status, f"{have} GPUs in Prometheus, inventory expects {want}")


def _temperature(node: Node, prom: PromNode) -> CheckResult:
    limits = node.thresholds.gpu_temperature
    if not prom.gpu_count:
        return CheckResult(node.name, TEMPERATURE, Status.OK, "no GPUs")
    temp = prom.gpu_temp_max_c
    status = at_or_above(temp, limits)
    if temp is None:
        return CheckResult(node.name, TEMPERATURE, status, "no GPU reports a temperature")
    summary = f"hottest GPU at {temp:g} °C (warn {limits.warn:g}, crit {limits.crit:g})"
    return CheckResult(
        node.name,
        TEMPERATURE,
        status,
        summary,
        perfdata=(Perf("gpu_temp_max", temp, "", limits.warn, limits.crit),),
    )


def _power(node: Node, prom: PromNode) -> CheckResult | None:
    budget = node.power_budget_w
    if budget is None:
        return None
    draw = prom.gpu_power_w
    if draw is None:
        return CheckResult(node.name, POWER, Status.UNKNOWN, "no GPU power series")
    warn = budget * POWER_WARN_FRACTION
    status = Status.CRITICAL if draw > budget else Status.WARNING if draw > warn else Status.OK
    summary = f"GPUs draw {draw:.0f} W of a {budget:g} W budget"
    return CheckResult(
        node.name, POWER, status, summary, perfdata=(Perf("gpu_power", draw, "W", warn, budget),)
    )


def _restarts(node: Node, prom: PromNode) -> CheckResult | None:
    if prom.container_restarts is None:
        return None
    limits = node.thresholds.container_restarts
    status = at_or_above(prom.container_restarts, limits)
    summary = f"{prom.container_restarts} container starts in the last hour (cAdvisor)"
    return CheckResult(node.name, RESTARTS, status, summary)


def evaluate_prom_node(
    node: Node, prom: PromNode, planned: tuple[tuple[str, str | None], ...]
) -> tuple[CheckResult, ...]:
    """The node's results from its series; `planned` (its SSH checks, console.checks.rules.planned_checks)
    are SKIPPED unless computed here."""
    found = [
        result
        for result in (
            _present(node, prom),
            _count(node, prom),
            _temperature(node, prom),
            _power(node, prom),
            _restarts(node, prom),
        )
        if result is not None
    ]
    if skew := prom.clock_skew:
        found = [CheckResult(r.node, r.check, Status.UNKNOWN, f"{skew}; was: {r.summary}") for r in found]
    elif prom.stale:
        age = f"series {prom.age_s:.0f}s old (scrape interval {prom.scrape_interval_s:g}s): stale"
        found = [CheckResult(r.node, r.check, Status.UNKNOWN, f"{age}; was: {r.summary}") for r in found]
    computed = {result.check for result in found}
    skipped = [
        CheckResult(node.name, check, Status.SKIPPED, SSH_ONLY, target=target)
        for check, target in planned
        if check not in computed
    ]
    return (*found, *skipped)
