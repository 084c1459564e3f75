"""Rules for the monitoring stack's own health. Pure functions, no I/O.

Fleet checks (their `node` is the one the Prometheus results carry, console.checks.prometheus_rules):
- `monitoring.prometheus`: not ready or not reachable critical; TSDB/WAL corruptions critical; a config
  reload that failed, failing rules, no Alertmanager for its alerting rules, or the TSDB past 90 % of a
  size retention (95 % critical) warning.
- `monitoring.scrapes`: a job with no target up critical; a scrape taking 80 % of its interval or more
  warning (the next one is about to be late, or already times out).
- `monitoring.alertmanager` (with `monitoring.alertmanager`): its /-/healthy.
- `monitoring.grafana` (with `monitoring.grafana`): /api/health answers with its database "ok".
"""

from __future__ import annotations

from console.checks.model import CheckResult, Perf, Status, counted
from console.inventory.model import Inventory
from console.model.monitoring import MonitoringSnapshot

PROMETHEUS = "monitoring.prometheus"
SCRAPES = "monitoring.scrapes"
ALERTMANAGER = "monitoring.alertmanager"
GRAFANA = "monitoring.grafana"
SLOW_SCRAPE_FRACTION = 0.8
TSDB_WARN, TSDB_CRIT = 0.90, 0.95


def planned_monitoring(inventory: Inventory) -> tuple[tuple[str, str | None], ...]:
    checks: list[tuple[str, str | None]] = []
    if inventory.prometheus is not None:
        checks += [(PROMETHEUS, None), (SCRAPES, None)]
    settings = inventory.monitoring
    if settings is not None and settings.alertmanager:
        checks.append((ALERTMANAGER, None))
    if settings is not None and settings.grafana:
        checks.append((GRAFANA, None))
    return tuple(checks)


def _gib(count: float) -> str:
    return f"{count / 2**30:.1f} GiB"


def _prometheus(node: str, snap: MonitoringSnapshot) -> CheckResult:
    if snap.prometheus_error is not None:
        return CheckResult(node, PROMETHEUS, Status.CRITICAL, snap.prometheus_error)
    critical: list[str] = []
    warning: list[str] = []
    if snap.ready is False:
        critical.append("not ready (/-/ready)")
    if snap.corruptions:
        critical.append(f"{counted(snap.corruptions, 'TSDB corruption')} since start")
    if snap.config_reload_ok is False:
        warning.append("the last configuration reload failed")
    if snap.failing_rules:
        names = ", ".join(
            f"{rule.name} ({rule.error or 'no error given'})" for rule in snap.failing_rules[:3]
        )
        more = len(snap.failing_rules) - 3
        warning.append(
            f"{counted(len(snap.failing_rules), 'rule')} failing: {names}"
            + (f" and {more} more" if more > 0 else "")
        )
    if snap.alerting_rules and snap.alertmanagers_active == 0:
        warning.append(f"{counted(snap.alerting_rules, 'alerting rule')} but no Alertmanager to send to")
    perfdata: list[Perf] = []
    size, limit = snap.tsdb_bytes, snap.retention_limit_bytes
    storage = ""
    if size is not None:
        perfdata.append(
            Perf(
                "tsdb_bytes",
                size,
                "B",
                limit * TSDB_WARN if limit else None,
                limit * TSDB_CRIT if limit else None,
            )
        )
        storage = f"TSDB {_gib(size)}"
        if limit:
            share = size / limit
            storage += f" of {_gib(limit)} ({share:.0%})"
            if share >= TSDB_CRIT:
                critical.append(f"{storage}: past {TSDB_CRIT:.0%} of the size retention")
            elif share >= TSDB_WARN:
                warning.append(f"{storage}: past {TSDB_WARN:.0%} of the size retention")
        if snap.retention:
            storage += f", retention {snap.retention}"
    if snap.head_series is not None:
        perfdata.append(Perf("head_series", snap.head_series))
    status = Status.CRITICAL if critical else Status.WARNING if warning else Status.OK
    if snap.ready is None and status is Status.OK:
        status = Status.UNKNOWN
        warning.append("readiness not known")
    problems = critical + warning
    summary = "; ".join(problems) if problems else "ready" + (f"; {storage}" if storage else "")
    if snap.errors and not problems:
        summary += f" ({'; '.join(snap.errors)})"
    return CheckResult(node, PROMETHEUS, status, summary, perfdata=tuple(perfdata))


def _scrapes(node: str, snap: MonitoringSnapshot) -> CheckResult:
    if snap.prometheus_error is not None:
        return CheckResult(node, SCRAPES, Status.UNKNOWN, snap.prometheus_error)
    if not snap.jobs:
        return CheckResult(
            node, SCRAPES, Status.WARNING if snap.ready else Status.UNKNOWN, "no scrape targets"
        )
    dead = [job for job in snap.jobs if job.up == 0]
    slow = [
        job
        for job in snap.jobs
        if job.slowest_s is not None
        and job.interval_s
        and job.slowest_s >= SLOW_SCRAPE_FRACTION * job.interval_s
    ]
    up, total = sum(job.up for job in snap.jobs), sum(job.total for job in snap.jobs)
    perfdata = (Perf("targets_up", float(up)), Perf("targets", float(total)))
    parts = [f"job {job.job}: none of {counted(job.total, 'target')} up" for job in dead]
    parts += [
        f"job {job.job}: {job.slowest_target} scrape took {job.slowest_s:.2f}s of {job.interval_s:g}s"
        for job in slow
    ]
    status = Status.CRITICAL if dead else Status.WARNING if slow else Status.OK
    summary = (
        "; ".join(parts)
        if parts
        else f"{up} of {counted(total, 'target')} up in {counted(len(snap.jobs), 'job')}"
    )
    return CheckResult(node, SCRAPES, status, summary, perfdata=perfdata)


def evaluate_monitoring(node: str, inventory: Inventory, snap: MonitoringSnapshot) -> tuple[CheckResult, ...]:
    results: list[CheckResult] = []
    planned = {check for check, _ in planned_monitoring(inventory)}
    if PROMETHEUS in planned:
        results += [_prometheus(node, snap), _scrapes(node, snap)]
    if ALERTMANAGER in planned:
        ok = snap.alertmanager_ok
        status = Status.OK if ok else Status.CRITICAL if ok is False else Status.UNKNOWN
        summary = "healthy" if ok else snap.alertmanager_error or "not asked"
        if ok and snap.alertmanagers_active == 0:
            status, summary = Status.WARNING, "healthy, but Prometheus sends alerts to no Alertmanager"
        results.append(CheckResult(node, ALERTMANAGER, status, summary))
    if GRAFANA in planned:
        ok = snap.grafana_ok
        status = Status.OK if ok else Status.CRITICAL if ok is False else Status.UNKNOWN
        summary = (
            f"healthy (Grafana {snap.grafana_version})"
            if ok and snap.grafana_version
            else "healthy"
            if ok
            else snap.grafana_error or "not asked"
        )
        results.append(CheckResult(node, GRAFANA, status, summary))
    return tuple(results)
