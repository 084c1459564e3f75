"""The fleet's Prometheus: an async client over prometheus-api-client, and one snapshot per poll.

prometheus-api-client is synchronous (requests), so every call runs in a worker thread, bounded twice by the
inventory's `timeout`: as requests' own connect/read timeout (so no thread hangs forever) and as an asyncio
deadline around the thread (so the event loop never waits longer). The library has no alerts endpoint, so
`alerts()` uses the requests session we hand the library, with the same timeout and error handling.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from console.inventory.model import PrometheusSettings
from console.transport.base import Transport, TransportError

T = TypeVar("T")
Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs: hashable and comparable
TargetHealth = Literal["up", "down", "unknown"]
AlertState = Literal["firing", "pending"]


class PrometheusError(Exception):
    """Prometheus could not answer the request; the message is for people."""


class PrometheusUnreachable(PrometheusError):
    """No HTTP answer at all: refused, timed out, the tunnel could not be opened."""


class PromQLError(PrometheusError):
    """Prometheus rejected the query (bad_data, execution, timeout); the message is Prometheus's reason."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One element of an instant vector (or a scalar, with no labels)."""

    labels: Labels
    value: float
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
    points: tuple[tuple[float, float], ...]  # (unix seconds, value)


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


def _labels(metric: Mapping[str, Any]) -> Labels:
    return tuple(sorted((str(key), str(value)) for key, value in metric.items()))


def _time(raw: object) -> datetime | None:
    """Prometheus's RFC 3339 times (nanoseconds, "Z"); its zero time means "never"."""
    if not isinstance(raw, str) or not raw or raw.startswith("0001-01-01"):
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", raw.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return None


def _promql_message(error_type: str, error: str) -> str:
    """'invalid parameter "query": 1:6: parse error: X' → 'parse error at char 6: X'."""
    text = re.sub(r'^invalid parameter "query": ', "", error)
    match = re.fullmatch(r"(\d+):(\d+): parse error: (.*)", text, flags=re.DOTALL)
    if match:
        line, char, reason = match.groups()
        where = f"char {char}" if line == "1" else f"line {line}, char {char}"
        return f"parse error at {where}: {reason}"
    return text if error_type == "bad_data" else f"{error_type}: {text}"


def _reason(exc: requests.RequestException) -> str:
    """The socket-level reason buried in requests' retry wrapper, e.g. "connection refused"."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if match:
        return match.group(1).strip().lower()
    for needle, reason in (
        ("RemoteDisconnected", "connection closed without an answer"),
        ("Connection aborted", "connection closed without an answer"),
        ("Connection reset", "connection reset"),
    ):
        if needle in text:
            return reason
    return text[:200] or type(exc).__name__


class PrometheusClient:
    """Async access to one Prometheus. `label` names it in messages (the inventory URL, not the tunnel)."""

    def __init__(self, url: str, *, timeout: float = 10.0, label: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.label = label or self.url
        self._session = requests.Session()
        self._session.hooks["response"].append(self._raise_for_error)
        self._api = PrometheusConnect(
            url=self.url,
            session=self._session,
            timeout=(timeout, timeout),  # requests' (connect, read): no worker thread waits forever
            retry=Retry(total=0, raise_on_status=False),  # a poll is repeated anyway; never sleep on backoff
        )

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _raise_for_error(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        """A requests response hook: turn Prometheus's error answers into our exceptions, in the thread."""
        if response.status_code < 400:
            return
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("status") == "error":
            error_type = str(body.get("errorType") or "error")
            message = _promql_message(error_type, str(body.get("error") or "no reason given"))
            if "/api/v1/query" in response.url and error_type in ("bad_data", "execution", "timeout"):
                raise PromQLError(message)
            raise PrometheusError(f"Prometheus at {self.label}: {message}")
        snippet = " ".join(response.text.split())[:200] or "no body"
        raise PrometheusError(f"Prometheus at {self.label} answered HTTP {response.status_code}: {snippet}")

    async def _call(self, fn: Callable[[], T]) -> T:
        unreachable = f"Prometheus at {self.label} unreachable"
        try:
            return await asyncio.wait_for(asyncio.to_thread(fn), self.timeout)
        except TimeoutError:
            raise PrometheusUnreachable(f"{unreachable}: no answer within {self.timeout:g}s") from None
        except requests.Timeout:
            raise PrometheusUnreachable(f"{unreachable}: no answer within {self.timeout:g}s") from None
        except requests.ConnectionError as exc:
            raise PrometheusUnreachable(f"{unreachable}: {_reason(exc)}") from None
        except requests.RequestException as exc:
            if isinstance(exc, ValueError):  # requests' JSONDecodeError: 200 but not JSON
                raise PrometheusError(f"Prometheus at {self.label} sent an answer that is not JSON") from None
            raise PrometheusError(f"Prometheus at {self.label}: {_reason(exc)}") from None
        except (ValueError, KeyError, TypeError) as exc:  # 200 but not Prometheus's JSON
            raise PrometheusError(f"Prometheus at {self.label} sent an unexpected answer: {exc}") from None

    def _unexpected(self, what: str, exc: Exception) -> PrometheusError:
        return PrometheusError(f"Prometheus at {self.label} sent an unreadable {what}: {exc!r}")

    async def query(self, promql: str) -> InstantResult:
        raw = await self._call(lambda: self._api.custom_query(promql, timeout=(self.timeout, self.timeout)))
        if isinstance(raw, list) and len(raw) == 2 and not isinstance(raw[0], dict):
            try:  # a scalar [ts, "value"]; a string result fails the float and is reported as such
                return InstantResult(promql, "scalar", (Sample((), float(raw[1]), float(raw[0])),))
            except ValueError:
                raise PromQLError(f"the query returns a string ({raw[1]!r}), not a number") from None
        try:
            samples: list[Sample] = []
            for item in raw:
                if "values" in item:
                    raise PromQLError(
                        "the query returns a range vector: use query_range, or drop the [range]"
                    )
                timestamp, value = item["value"]
                samples.append(Sample(_labels(item["metric"]), float(value), float(timestamp)))
        except (KeyError, TypeError, ValueError) as exc:
            raise self._unexpected("query result", exc) from None
        return InstantResult(promql, "vector", tuple(samples))

    async def query_range(
        self, promql: str, start: datetime, end: datetime, step: float | str
    ) -> RangeResult:
        def fetch() -> Any:
            window = (self.timeout, self.timeout)
            return self._api.custom_query_range(promql, start, end, str(step), timeout=window)

        raw = await self._call(fetch)
        try:
            series = tuple(
                RangeSeries(_labels(item["metric"]), tuple((float(t), float(v)) for t, v in item["values"]))
                for item in raw
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise self._unexpected("range result", exc) from None
        return RangeResult(promql, series)

    async def targets(self) -> tuple[TargetInfo, ...]:
        raw = await self._call(lambda: self._api.get_targets(state="active"))
        try:
            found = []
            for item in raw.get("activeTargets") or ():
                labels = item.get("labels") or {}
                health = item.get("health")
                found.append(
                    TargetInfo(
                        job=str(labels.get("job") or item.get("scrapePool") or ""),
                        instance=str(labels.get("instance") or ""),
                        health=health if health in ("up", "down") else "unknown",
                        last_error=item.get("lastError") or None,
                        last_scrape=_time(item.get("lastScrape")),
                        scrape_url=str(item.get("scrapeUrl") or ""),
                    )
                )
        except (AttributeError, TypeError) as exc:
            raise self._unexpected("target list", exc) from None
        return tuple(found)

    async def alerts(self) -> tuple[AlertInfo, ...]:
        def fetch() -> Any:
            response = self._session.get(f"{self.url}/api/v1/alerts", timeout=(self.timeout, self.timeout))
            return response.json()["data"]["alerts"]

        raw = await self._call(fetch)
        try:
            found = []
            for item in raw:
                labels = item.get("labels") or {}
                notes = item.get("annotations") or {}
                state = item.get("state")
                if state not in ("firing", "pending"):
                    continue  # "inactive" alerts are not listed by this endpoint; be safe anyway
                found.append(
                    AlertInfo(
                        name=str(labels.get("alertname") or "unnamed alert"),
                        state=state,
                        severity=labels.get("severity") or None,
                        labels=_labels(labels),
                        summary=notes.get("summary") or notes.get("description") or None,
                        description=notes.get("description") or None,
                        active_at=_time(item.get("activeAt")),
                    )
                )
        except (AttributeError, TypeError) as exc:
            raise self._unexpected("alert list", exc) from None
        return tuple(found)

    async def metric_names(self) -> tuple[str, ...]:
        raw = await self._call(lambda: self._api.get_label_values("__name__"))
        if not isinstance(raw, list):
            raise self._unexpected("metric name list", TypeError(type(raw).__name__))
        return tuple(str(name) for name in raw)


async def open_prometheus(settings: PrometheusSettings, via: Transport | None = None) -> PrometheusClient:
    """A client for the inventory's Prometheus; with `settings.via`, through a tunnel from that node.

    The tunnel keeps the URL's scheme and path prefix; the node's transport reuses its forward across polls.
    Raises PrometheusUnreachable when the tunnel cannot be opened.
    """
    if settings.via is None:
        return PrometheusClient(settings.url, timeout=settings.timeout)
    label = f"{settings.url} (via {settings.via})"
    if via is None:
        raise PrometheusUnreachable(
            f"Prometheus at {label} unreachable: no connection to node {settings.via}"
        )
    parts = urlsplit(settings.url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        local_port = await asyncio.wait_for(via.forward_tcp(host, port), settings.timeout)
    except TimeoutError:
        raise PrometheusUnreachable(
            f"Prometheus at {label} unreachable: no tunnel within {settings.timeout:g}s"
        ) from None
    except TransportError as exc:
        raise PrometheusUnreachable(f"Prometheus at {label} unreachable: {exc}") from None
    tunnel = urlunsplit((parts.scheme or "http", f"127.0.0.1:{local_port}", parts.path, "", ""))
    return PrometheusClient(tunnel, timeout=settings.timeout, label=label)


async def collect_prometheus(
    settings: PrometheusSettings, via: Transport | None = None
) -> PrometheusSnapshot:
    """Targets and alerts in one poll (two requests at once). Never raises: trouble goes into `error`."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        client = await open_prometheus(settings, via)
    except PrometheusError as exc:
        return PrometheusSnapshot(datetime.now(UTC), settings.url, error=str(exc))
    with client:
        targets, alerts = await asyncio.gather(client.targets(), client.alerts(), return_exceptions=True)
    errors = [_describe(result) for result in (targets, alerts) if isinstance(result, BaseException)]
    return PrometheusSnapshot(
        taken_at=datetime.now(UTC),
        url=settings.url,
        targets=targets if isinstance(targets, tuple) else (),
        alerts=alerts if isinstance(alerts, tuple) else (),
        error=errors[0] if errors else None,
        duration_s=loop.time() - started,
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.CancelledError):
        raise exc  # one request cancelled on its own: let the caller see the cancellation
    if isinstance(exc, PrometheusError):
        return str(exc)
    return f"internal error reading Prometheus: {type(exc).__name__}: {exc}"  # a bug of ours: say so
