"""Prometheus's answers as the console keeps them: instant and range query results, scrape targets, alerts.

Labels and texts were cleaned where they entered (console/collectors/prometheus.py); values are finite or
None.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs: hashable and comparable
TargetHealth = Literal["up", "down", "unknown"]
AlertState = Literal["firing", "pending"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One element of an instant vector (or a scalar, with no labels)."""

    labels: Labels
    value: float | None  # None: NaN or ±inf (unknown), never compared
    timestamp: float  # unix seconds

    def label(self, name: str) -> str | None:
        return next((value for key, value in self.labels if key == name), None)

    @property
    def name(self) -> str | None:
        return self.label("__name__")


@dataclass(frozen=True, slots=True)
class InstantResult:
    query: str
    result_type: Literal["vector", "scalar"]
    samples: tuple[Sample, ...]


@dataclass(frozen=True, slots=True)
class RangeSeries:
    labels: Labels
    points: tuple[tuple[float, float], ...]  # (unix seconds, value); NaN/±inf points are left out (a gap)


@dataclass(frozen=True, slots=True)
class RangeResult:
    query: str
    series: tuple[RangeSeries, ...]


@dataclass(frozen=True, slots=True)
class TargetInfo:
    job: str
    instance: str
    health: TargetHealth
    last_error: str | None
    last_scrape: datetime | None  # None: never scraped yet
    scrape_url: str
    scrape_interval_s: float | None = None  # the target's own interval (None: Prometheus did not say)
    last_scrape_duration_s: float | None = None


@dataclass(frozen=True, slots=True)
class AlertInfo:
    name: str
    state: AlertState
    severity: str | None  # the `severity` label as written, None when the rule sets none
    labels: Labels
    summary: str | None  # the `summary` annotation, else `description`
    description: str | None
    active_at: datetime | None


@dataclass(frozen=True, slots=True)
class PrometheusSnapshot:
    taken_at: datetime
    url: str
    targets: tuple[TargetInfo, ...] = ()
    alerts: tuple[AlertInfo, ...] = ()
    error: str | None = None
    duration_s: float | None = None
