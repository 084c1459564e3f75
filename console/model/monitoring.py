"""The monitoring stack's own health: the fleet's Prometheus, its rules and scrapes, Alertmanager, Grafana."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class FailingRule:
    group: str
    name: str
    error: str | None  # Prometheus's lastError for the rule


@dataclass(frozen=True, slots=True)
class JobScrapes:
    """One scrape job: how many of its targets answered, and its slowest scrape against its interval."""

    job: str
    up: int
    total: int
    slowest_s: float | None = None  # the longest last scrape among its targets
    slowest_target: str | None = None
    interval_s: float | None = None


@dataclass(frozen=True, slots=True)
class MonitoringSnapshot:
    """What the stack says of itself. A part that did not answer has its `*_error`; unknown figures: None."""

    taken_at: datetime
    prometheus_url: str
    ready: bool | None = None  # /-/ready answered 200
    prometheus_error: str | None = None  # Prometheus could not be asked at all
    config_reload_ok: bool | None = None  # runtimeinfo reloadConfigSuccess
    corruptions: int | None = None  # runtimeinfo corruptionCount (TSDB/WAL corruptions since start)
    retention: str | None = None  # runtimeinfo storageRetention, as Prometheus writes it ("15d or 10GiB")
    tsdb_bytes: float | None = None  # prometheus_tsdb_storage_blocks_bytes (+ the WAL where reported)
    retention_limit_bytes: float | None = None  # prometheus_tsdb_retention_limit_bytes; None or 0: time only
    head_series: float | None = None
    rules: int | None = None  # rules loaded
    failing_rules: tuple[FailingRule, ...] = ()
    jobs: tuple[JobScrapes, ...] = ()
    alertmanagers_active: int | None = None  # Alertmanagers Prometheus sends to
    alerting_rules: int | None = None
    alertmanager_url: str | None = None
    alertmanager_ok: bool | None = None  # its /-/healthy answered 200
    alertmanager_error: str | None = None
    grafana_url: str | None = None
    grafana_ok: bool | None = None  # /api/health answered 200 with database "ok"
    grafana_version: str | None = None
    grafana_error: str | None = None
    errors: tuple[str, ...] = ()  # parts of Prometheus's answers that could not be read
    duration_s: float | None = None
