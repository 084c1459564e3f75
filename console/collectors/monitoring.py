"""The monitoring stack's own health, from the stack itself: Prometheus (ready, config reloads, corruptions,
TSDB size against its retention, failing rules, each scrape job's targets and slowest scrape, the
Alertmanagers it sends to), Alertmanager's /-/healthy and Grafana's /api/health.

Every request is one bounded exchange (PrometheusClient: one deadline, capped body); all run at once, so a
Grafana that never answers costs its own deadline and hides nothing else. Everything read is remote text:
cleaned here; numbers are finite or None.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from console.collectors.prometheus import (
    PrometheusClient,
    PrometheusError,
    decode_json,
    open_prometheus,
)
from console.inventory.model import MonitoringSettings, PrometheusSettings
from console.model.monitoring import FailingRule, JobScrapes, MonitoringSnapshot
from console.model.prometheus import TargetInfo
from console.text import clean_line, clean_optional, finite
from console.transport.base import Transport

OWN_METRICS_BYTES = 4 * 2**20  # Prometheus's own /metrics is ~100 KiB; more is not what we asked for
# Prometheus's own series this reads from its /metrics (summed over their label sets).
OWN_SERIES = {
    "prometheus_tsdb_storage_blocks_bytes": "blocks",
    "prometheus_tsdb_wal_storage_size_bytes": "wal",
    "prometheus_tsdb_retention_limit_bytes": "limit",
    "prometheus_tsdb_head_series": "head_series",
}
MAX_FAILING_RULES = 50


def own_metrics(text: str) -> dict[str, float]:
    """The few sums of OWN_SERIES from Prometheus's text exposition (comments and other series skipped)."""
    sums: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("prometheus_tsdb_"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        key = OWN_SERIES.get(name)
        if key is None:
            continue
        value = finite(line.rsplit(" ", 1)[-1]) if " " in line else None
        if value is not None:
            sums[key] = sums.get(key, 0.0) + value
    # Finite values can still sum past a float: such a total is unknown, not inf.
    return {key: total for key, total in sums.items() if finite(total) is not None}


def _jobs(targets: tuple[TargetInfo, ...]) -> tuple[JobScrapes, ...]:
    by_job: dict[str, list[TargetInfo]] = {}
    for target in targets:
        by_job.setdefault(target.job, []).append(target)
    jobs = []
    for job, members in sorted(by_job.items()):
        timed = [t for t in members if t.last_scrape_duration_s is not None]
        slowest = max(timed, key=lambda t: t.last_scrape_duration_s or 0.0, default=None)
        jobs.append(
            JobScrapes(
                job=job,
                up=sum(t.health == "up" for t in members),
                total=len(members),
                slowest_s=slowest.last_scrape_duration_s if slowest else None,
                slowest_target=slowest.instance if slowest else None,
                interval_s=slowest.scrape_interval_s if slowest else members[0].scrape_interval_s,
            )
        )
    return tuple(jobs)


def _rules(data: Any) -> tuple[int, int, tuple[FailingRule, ...]]:
    """(rules, alerting rules, failing rules) from /api/v1/rules."""
    count = alerting = 0
    failing: list[FailingRule] = []
    for group in data.get("groups") or ():
        for rule in group.get("rules") or ():
            count += 1
            alerting += rule.get("type") == "alerting"
            if rule.get("health") == "err" and len(failing) < MAX_FAILING_RULES:
                failing.append(
                    FailingRule(
                        clean_line(group.get("name") or "", limit=200),
                        clean_line(rule.get("name") or "", limit=200),
                        clean_optional(rule.get("lastError")),
                    )
                )
    return count, alerting, tuple(failing)


async def _probe(url: str | None, path: str, timeout: float, service: str) -> tuple[int, bytes] | str | None:
    """Status and body of GET url+path, or why not (a string); None when no URL is configured."""
    if url is None:
        return None
    client = PrometheusClient(url, timeout=timeout, service=service, max_bytes=64 * 1024)
    try:
        return await client.fetch(path)
    except PrometheusError as exc:
        return str(exc)


def _grafana(answer: tuple[int, bytes] | str | None) -> dict[str, Any]:
    if answer is None:
        return {}
    if isinstance(answer, str):
        return {"grafana_ok": False, "grafana_error": answer}
    status, body = answer
    health = decode_json(body)
    database = clean_line(health.get("database") or "") if isinstance(health, dict) else ""
    version = clean_optional(health.get("version")) if isinstance(health, dict) else None
    if status == 200 and database == "ok":
        return {"grafana_ok": True, "grafana_version": version}
    why = f"HTTP {status}" if status != 200 else f"database {database or 'not reported'}"
    return {"grafana_ok": False, "grafana_version": version, "grafana_error": f"Grafana health: {why}"}


def _alertmanager(answer: tuple[int, bytes] | str | None) -> dict[str, Any]:
    if answer is None:
        return {}
    if isinstance(answer, str):
        return {"alertmanager_ok": False, "alertmanager_error": answer}
    status, _body = answer
    if status == 200:
        return {"alertmanager_ok": True}
    return {"alertmanager_ok": False, "alertmanager_error": f"Alertmanager /-/healthy answered HTTP {status}"}


async def _prometheus_parts(client: PrometheusClient) -> tuple[dict[str, Any], list[str]]:
    async def ready() -> bool:
        status, _body = await client.fetch("/-/ready")
        return status == 200

    async def metrics() -> dict[str, float]:
        status, body = await PrometheusClient(
            client.url, timeout=client.timeout, label=client.label, max_bytes=OWN_METRICS_BYTES
        ).fetch("/metrics")
        return own_metrics(body.decode("utf-8", "replace")) if status == 200 else {}

    parts = {
        "ready": ready(),
        "runtime": client.api("/api/v1/status/runtimeinfo"),
        "rules": client.api("/api/v1/rules"),
        "targets": client.targets(),
        "alertmanagers": client.api("/api/v1/alertmanagers"),
        "metrics": metrics(),
    }
    answers = dict(zip(parts, await asyncio.gather(*parts.values(), return_exceptions=True), strict=True))
    found: dict[str, Any] = {}
    errors: list[str] = []
    for name, answer in answers.items():
        if isinstance(answer, PrometheusError):
            errors.append(f"{name}: {answer}")
        elif isinstance(answer, BaseException):
            raise answer
    try:
        if isinstance(answers["ready"], bool):
            found["ready"] = answers["ready"]
        runtime = answers["runtime"]
        if isinstance(runtime, Mapping):
            reload_ok = runtime.get("reloadConfigSuccess")
            found["config_reload_ok"] = reload_ok if isinstance(reload_ok, bool) else None
            corruptions = finite(runtime.get("corruptionCount"))
            found["corruptions"] = None if corruptions is None else int(corruptions)
            found["retention"] = clean_optional(runtime.get("storageRetention"))
        if isinstance(answers["rules"], Mapping):
            found["rules"], found["alerting_rules"], found["failing_rules"] = _rules(answers["rules"])
        if isinstance(answers["targets"], tuple):
            found["jobs"] = _jobs(answers["targets"])
        managers = answers["alertmanagers"]
        if isinstance(managers, Mapping):
            found["alertmanagers_active"] = len(managers.get("activeAlertmanagers") or ())
        own = answers["metrics"]
        if isinstance(own, dict):
            if "blocks" in own:
                found["tsdb_bytes"] = finite(own["blocks"] + own.get("wal", 0.0))
            found["retention_limit_bytes"] = own.get("limit") or None
            found["head_series"] = own.get("head_series")
    except (AttributeError, TypeError, ValueError) as exc:
        errors.append(f"unreadable answer: {clean_line(repr(exc))}")
    return found, errors


async def collect_monitoring(
    prometheus: PrometheusSettings | None, settings: MonitoringSettings | None, via: Transport | None = None
) -> MonitoringSnapshot:
    """One look at the whole stack, every part at once. Never raises for a server's trouble."""
    started = time.monotonic()
    settings = settings or MonitoringSettings()

    async def from_prometheus() -> tuple[dict[str, Any], list[str]]:
        if prometheus is None:
            return {}, []
        try:
            client = await open_prometheus(prometheus, via)
        except PrometheusError as exc:
            return {"prometheus_error": str(exc)}, []
        found, errors = await _prometheus_parts(client)
        if len(errors) == 6:  # nothing answered: one reason is enough
            return {"prometheus_error": errors[0].split(": ", 1)[1]}, []
        return found, errors

    (found, errors), grafana, alertmanager = await asyncio.gather(
        from_prometheus(),
        _probe(settings.grafana, "/api/health", settings.timeout, "Grafana"),
        _probe(settings.alertmanager, "/-/healthy", settings.timeout, "Alertmanager"),
    )
    return MonitoringSnapshot(
        taken_at=datetime.now(UTC),
        prometheus_url=prometheus.url if prometheus else "",
        grafana_url=settings.grafana,
        alertmanager_url=settings.alertmanager,
        errors=tuple(errors),
        duration_s=time.monotonic() - started,
        **found,
        **_grafana(grafana),
        **_alertmanager(alertmanager),
    )
