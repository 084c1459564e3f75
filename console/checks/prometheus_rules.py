"""Rules for the fleet's Prometheus: its scrape targets and its alerts. Pure functions, no I/O.

These checks are about the fleet, not one node. Their results carry, as `node`, the name of the node
Prometheus is reached through (`prometheus.via`), else the inventory's name: see `prometheus_node`.
"""

from __future__ import annotations

from console.checks.model import CheckResult, Perf, Status
from console.collectors.prometheus import AlertInfo, PrometheusSnapshot
from console.inventory.model import Inventory

TARGETS = "prometheus.targets"
ALERTS = "prometheus.alerts"
_CRITICAL_SEVERITIES = ("critical", "page")


def prometheus_node(inventory: Inventory) -> str:
    """The `node` of the Prometheus results: the `via` node, else the inventory's name."""
    settings = inventory.prometheus
    return settings.via if settings is not None and settings.via else inventory.name


def planned_prometheus(inventory: Inventory) -> tuple[tuple[str, str | None], ...]:
    """(check id, target) known before anything runs; nothing when the inventory has no Prometheus."""
    if inventory.prometheus is None:
        return ()
    return ((TARGETS, None), (ALERTS, None))


def evaluate_prometheus(node: str, snapshot: PrometheusSnapshot | None) -> tuple[CheckResult, ...]:
    """prometheus.targets and prometheus.alerts from one snapshot; None or an error → both UNKNOWN."""
    if snapshot is None or snapshot.error is not None:
        reason = "no Prometheus data" if snapshot is None else snapshot.error or ""
        return (
            CheckResult(node, TARGETS, Status.UNKNOWN, reason),
            CheckResult(node, ALERTS, Status.UNKNOWN, reason),
        )
    return (*_targets(node, snapshot), *_alerts(node, snapshot))


def _targets(node: str, snapshot: PrometheusSnapshot) -> tuple[CheckResult, ...]:
    up = sum(target.health == "up" for target in snapshot.targets)
    waiting = sum(target.health == "unknown" for target in snapshot.targets)
    down = [target for target in snapshot.targets if target.health == "down"]
    if down:
        return tuple(
            CheckResult(
                node,
                TARGETS,
                Status.CRITICAL,
                f"down: {target.last_error or 'no error reported'}",
                target=f"{target.job}/{target.instance}",
                fix=f"check the exporter behind {target.scrape_url or target.instance}",
            )
            for target in down
        )
    perfdata = (Perf("targets_up", float(up)), Perf("targets_down", 0.0))
    if not snapshot.targets:
        # A Prometheus that scrapes nothing watches nothing: worth a look, not a page.
        return (CheckResult(node, TARGETS, Status.WARNING, "no active scrape targets", perfdata=perfdata),)
    summary = f"{up} target{'s' if up != 1 else ''} up"
    if waiting:
        summary += f", {waiting} not scraped yet"
    return (CheckResult(node, TARGETS, Status.OK, summary, perfdata=perfdata),)


def _alert_status(alert: AlertInfo) -> Status:
    severity = (alert.severity or "").casefold()
    return Status.CRITICAL if severity in _CRITICAL_SEVERITIES else Status.WARNING


def _alerts(node: str, snapshot: PrometheusSnapshot) -> tuple[CheckResult, ...]:
    """One result per firing alert name (its instances grouped, worst severity wins); pending ones wait."""
    firing: dict[str, list[AlertInfo]] = {}
    for alert in snapshot.alerts:
        if alert.state == "firing":
            firing.setdefault(alert.name, []).append(alert)
    if not firing:
        return (CheckResult(node, ALERTS, Status.OK, "no firing alerts"),)
    results = []
    for name, alerts in firing.items():
        first = max(alerts, key=lambda alert: _alert_status(alert).severity)  # the worst instance speaks
        status = _alert_status(first)
        severity = first.severity or "no severity"
        summary = f"firing ({severity}): {first.summary or 'no summary'}"
        if len(alerts) > 1:
            summary = f"{len(alerts)} firing ({severity}): {first.summary or 'no summary'}"
        results.append(CheckResult(node, ALERTS, status, summary, target=name))
    return tuple(results)
