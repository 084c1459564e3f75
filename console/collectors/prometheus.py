"""The fleet's Prometheus: an async HTTP client with one deadline per exchange, and one snapshot per poll.

Every request is one aiohttp exchange inside one `asyncio.timeout(timeout)`: connecting, the headers and the
whole body share that deadline, so a server that accepts and never answers, or answers one byte every few
seconds, is cut at `timeout` (a per-read timeout would wait forever on the trickle). The exchange is a
coroutine, so cancelling it (the run's deadline, quitting the TUI) closes the socket at once: no worker
thread is left behind to hold the process open. Bodies are read in chunks and refused past
MAX_RESPONSE_BYTES, so an endless answer costs a bounded amount of memory.

Everything Prometheus sends is remote text: labels, alert names and annotations, target URLs and errors,
metric names pass through console.text (`clean_line`/`clean_text`) here, and sample values through `finite`.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import orjson

from console.inventory.model import PrometheusSettings
from console.model.prometheus import AlertInfo as AlertInfo
from console.model.prometheus import AlertState as AlertState
from console.model.prometheus import InstantResult as InstantResult
from console.model.prometheus import Labels as Labels
from console.model.prometheus import PrometheusSnapshot as PrometheusSnapshot
from console.model.prometheus import RangeResult as RangeResult
from console.model.prometheus import RangeSeries as RangeSeries
from console.model.prometheus import Sample as Sample
from console.model.prometheus import TargetHealth as TargetHealth
from console.model.prometheus import TargetInfo as TargetInfo
from console.text import clean_line, clean_text, finite
from console.transport.base import Transport, TransportError

MAX_RESPONSE_BYTES = (
    16 * 2**20
)  # a fleet's target list is a few MiB; more is a runaway query or a hostile server
_CHUNK = 64 * 1024
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class PrometheusError(Exception):
    """Prometheus could not answer the request; the message is for people."""


class PrometheusUnreachable(PrometheusError):
    """No HTTP answer at all: refused, timed out, the tunnel could not be opened."""


class PromQLError(PrometheusError):
    """Prometheus rejected the query (bad_data, execution, timeout); the message is Prometheus's reason."""


def _labels(metric: Mapping[str, Any]) -> Labels:
    return tuple(sorted((clean_line(key), clean_line(value)) for key, value in metric.items()))


def _text(value: object) -> str | None:
    """An optional one-line field (a target's error, an alert's summary): cleaned, empty is missing."""
    return clean_line(value) if value else None


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


def _reason(exc: aiohttp.ClientError) -> str:
    """The socket-level reason of a failed exchange, e.g. "connection refused"."""
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "connection closed without an answer"
    os_error = getattr(exc, "os_error", None)
    code = getattr(os_error, "errno", None)
    if isinstance(code, int) and code in errno.errorcode:
        return os.strerror(code).lower()
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer was cut off"
    return clean_line(str(exc) or type(exc).__name__, limit=200)


class PrometheusClient:
    """Async access to one Prometheus. `label` names it in messages (the inventory URL, not the tunnel).

    Each request opens and closes its own HTTP connection (through a node's tunnel that is a new channel on
    the kept SSH connection): nothing outlives a request, so `close()` has nothing to release and a client
    may be used as a plain `with` block.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        label: str | None = None,
        max_bytes: int = MAX_RESPONSE_BYTES,
        service: str = "Prometheus",
    ) -> None:
        self.service = service  # what messages call the server: the same client reads Grafana's health
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.label = label or self.url
        self.max_bytes = max_bytes

    def close(self) -> None:
        """Nothing to release: every exchange closes its own connection."""

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET `path` and return the answer's `data`; one deadline for the whole exchange."""
        status, body = await self.fetch(path, params)
        return self._data(path, status, body)

    async def api(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """The `data` of any JSON API endpoint (/api/v1/status/runtimeinfo, /api/v1/rules, ...), as sent:
        the caller cleans what it keeps."""
        return await self._get(path, params)

    async def fetch(self, path: str, params: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        """GET `path`: the HTTP status and the whole body (capped), within one deadline; no envelope read.
        For the endpoints that are not the JSON API (/-/ready, /metrics, Grafana's /api/health)."""
        unreachable = f"{self.service} at {self.label} unreachable"
        try:
            async with asyncio.timeout(self.timeout):
                return await self._exchange(f"{self.url}{path}", params)
        except TimeoutError:
            raise PrometheusUnreachable(f"{unreachable}: no answer within {self.timeout:g}s") from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise PrometheusUnreachable(f"{unreachable}: {_reason(exc)}") from None
        except aiohttp.ClientError as exc:  # a malformed answer (bad status line, headers)
            raise PrometheusError(f"{self.service} at {self.label}: {_reason(exc)}") from None

    async def _exchange(self, url: str, params: Mapping[str, str] | None) -> tuple[int, bytes]:
        # The deadline is the caller's asyncio.timeout; aiohttp's own timeouts are off so there is one clock.
        timeout = aiohttp.ClientTimeout(total=None, connect=None, sock_read=None, sock_connect=None)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, params=params, headers={"Accept": "application/json"}) as response,
        ):
            too_large = f"{self.service} at {self.label} sent more than {_size(self.max_bytes)}: refused"
            if response.content_length is not None and response.content_length > self.max_bytes:
                raise PrometheusError(too_large)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(_CHUNK):
                size += len(chunk)
                if size > self.max_bytes:
                    raise PrometheusError(too_large)
                chunks.append(chunk)
            return response.status, b"".join(chunks)

    def _data(self, path: str, status: int, body: bytes) -> Any:
        """Prometheus's envelope: `data` on success; its error (PromQLError for a query) otherwise."""
        payload = decode_json(body)
        if isinstance(payload, dict) and payload.get("status") == "error":
            error_type = clean_line(payload.get("errorType") or "error")
            message = _promql_message(error_type, clean_line(payload.get("error") or "no reason given"))
            if path.startswith("/api/v1/query") and error_type in ("bad_data", "execution", "timeout"):
                raise PromQLError(message)
            raise PrometheusError(f"{self.service} at {self.label}: {message}")
        if status >= 400:
            snippet = clean_line(" ".join(body[:4096].decode("utf-8", "replace").split()), limit=200)
            raise PrometheusError(
                f"{self.service} at {self.label} answered HTTP {status}: {snippet or 'no body'}"
            )
        if not isinstance(payload, dict):
            raise PrometheusError(f"{self.service} at {self.label} sent something that is not JSON")
        if payload.get("status") != "success" or "data" not in payload:
            raise self._unexpected("answer", ValueError("no status success and data"))
        return payload["data"]

    def _unexpected(self, what: str, exc: Exception) -> PrometheusError:
        return PrometheusError(
            f"{self.service} at {self.label} sent an unreadable {what}: {clean_line(repr(exc))}"
        )

    async def query(self, promql: str) -> InstantResult:
        data = await self._get("/api/v1/query", {"query": promql})
        try:
            kind, raw = data["resultType"], data["result"]
            if kind == "scalar":
                timestamp, value = raw
                return InstantResult(promql, "scalar", (Sample((), finite(value), _stamp(timestamp)),))
            if kind == "string":
                raise PromQLError(f"the query returns a string ({clean_line(raw[1])!r}), not a number")
            if kind == "matrix":
                raise PromQLError("the query returns a range vector: use query_range, or drop the [range]")
            samples = tuple(
                Sample(_labels(item["metric"]), finite(item["value"][1]), _stamp(item["value"][0]))
                for item in raw
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise self._unexpected("query result", exc) from None
        return InstantResult(promql, "vector", samples)

    async def query_series(self, promql: str) -> list[dict[str, Any]]:
        """An instant vector as Prometheus wrote it, for a caller that reads thousands of series per refresh
        and keeps a few labels of each: `[{"metric": {...}, "value": [time, "number"]}, ...]`. NOTHING in it
        is cleaned or checked here beyond its shape: the caller passes the labels it keeps through
        console.text and its numbers through `finite`."""
        data = await self._get("/api/v1/query", {"query": promql})
        if not isinstance(data, dict) or data.get("resultType") != "vector":
            kind = data.get("resultType") if isinstance(data, dict) else None
            raise PromQLError(f"the query returns a {clean_line(kind or 'nothing')}, not an instant vector")
        result = data.get("result")
        if not isinstance(result, list):
            raise self._unexpected("query result", TypeError("result is not a list"))
        return result

    async def query_range(
        self, promql: str, start: datetime, end: datetime, step: float | str
    ) -> RangeResult:
        params = {
            "query": promql,
            "start": f"{start.timestamp():.3f}",
            "end": f"{end.timestamp():.3f}",
            "step": str(step),
        }
        data = await self._get("/api/v1/query_range", params)
        try:
            series = tuple(
                RangeSeries(_labels(item["metric"]), _points(item["values"])) for item in data["result"]
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise self._unexpected("range result", exc) from None
        return RangeResult(promql, series)

    async def targets(self) -> tuple[TargetInfo, ...]:
        data = await self._get("/api/v1/targets", {"state": "active"})
        try:
            found = []
            for item in data.get("activeTargets") or ():
                labels = item.get("labels") or {}
                health = item.get("health")
                found.append(
                    TargetInfo(
                        job=clean_line(labels.get("job") or item.get("scrapePool") or ""),
                        instance=clean_line(labels.get("instance") or ""),
                        health=health if health in ("up", "down") else "unknown",
                        last_error=_text(item.get("lastError")),
                        last_scrape=_time(item.get("lastScrape")),
                        scrape_url=clean_line(item.get("scrapeUrl") or ""),
                        scrape_interval_s=parse_duration(item.get("scrapeInterval")),
                        last_scrape_duration_s=finite(item.get("lastScrapeDuration")),
                    )
                )
        except (AttributeError, TypeError) as exc:
            raise self._unexpected("target list", exc) from None
        return tuple(found)

    async def alerts(self) -> tuple[AlertInfo, ...]:
        data = await self._get("/api/v1/alerts")
        try:
            found = []
            for item in data["alerts"]:
                labels = item.get("labels") or {}
                notes = item.get("annotations") or {}
                state = item.get("state")
                if state not in ("firing", "pending"):
                    continue  # "inactive" alerts are not listed by this endpoint; be safe anyway
                found.append(
                    AlertInfo(
                        name=clean_line(labels.get("alertname") or "unnamed alert"),
                        state=state,
                        severity=_text(labels.get("severity")),
                        labels=_labels(labels),
                        summary=_text(notes.get("summary") or notes.get("description")),
                        description=clean_text(notes["description"]) if notes.get("description") else None,
                        active_at=_time(item.get("activeAt")),
                    )
                )
        except (AttributeError, TypeError, KeyError) as exc:
            raise self._unexpected("alert list", exc) from None
        return tuple(found)

    async def metric_names(self) -> tuple[str, ...]:
        return await self._strings("/api/v1/label/__name__/values", None, "metric name list")

    async def label_names(self, match: str | None = None) -> tuple[str, ...]:
        """The label names Prometheus holds; with `match` (a series selector such as `up` or
        `{job="dcgm"}`), only those of the series it selects. Cleaned, sorted as Prometheus sends them."""
        return await self._strings("/api/v1/labels", _match(match), "label name list")

    async def label_values(self, label: str, match: str | None = None) -> tuple[str, ...]:
        """The values `label` takes; with `match`, only in the series it selects. Cleaned one-line text.

        A name that is not a classic label name (`[A-Za-z_][A-Za-z0-9_]*`) is refused before any request:
        it goes into the URL's path, where a `/` or `..` would ask for another endpoint.
        """
        if not _LABEL_NAME.fullmatch(label):
            raise PrometheusError(f"not a label name: {clean_line(label, limit=80)!r}")
        return await self._strings(f"/api/v1/label/{label}/values", _match(match), "label value list")

    async def _strings(self, path: str, params: Mapping[str, str] | None, what: str) -> tuple[str, ...]:
        raw = await self._get(path, params)
        if not isinstance(raw, list):
            raise self._unexpected(what, TypeError(type(raw).__name__))
        return tuple(clean_line(item) for item in raw)


def decode_json(body: bytes) -> Any:
    """The JSON value in `body`, or None when it is not UTF-8 JSON.

    orjson: UTF-8 only (as Prometheus speaks), strict (no bare NaN), nesting past 1,024 levels refused with
    a ValueError like any other malformed body (the standard json module raised RecursionError there), and
    several times faster than json on a fleet's answers (a 2,000-node refresh is megabytes of JSON).
    """
    try:
        return orjson.loads(body)
    except (ValueError, RecursionError):  # orjson.JSONDecodeError is a ValueError
        return None


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}


def parse_duration(raw: object) -> float | None:
    """Prometheus's durations ("15s", "1m30s", "500ms") in seconds; anything else is unknown."""
    if not isinstance(raw, str) or not raw or len(raw) > 32:
        return None
    parts = _DURATION.findall(raw)
    if not parts or "".join(number + unit for number, unit in parts) != raw:
        return None
    return sum(float(number) * _UNIT_S[unit] for number, unit in parts)


def _match(selector: str | None) -> dict[str, str] | None:
    return {"match[]": selector} if selector else None


def _size(count: int) -> str:
    return f"{count / 2**20:g} MiB" if count >= 2**20 else f"{count} bytes"


def _stamp(raw: object) -> float:
    """A sample's unix time; an unreadable one is 0 (the epoch), which no screen mistakes for now."""
    return finite(raw) or 0.0


def _points(raw: Any) -> tuple[tuple[float, float], ...]:
    points = []
    for stamp, value in raw:
        number = finite(value)
        if number is not None:
            points.append((_stamp(stamp), number))
    return tuple(points)


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
