"""The fleet from Prometheus: a fixed set of PromQL queries per refresh, whatever the number of nodes.

Prometheus does the per-node arithmetic (CPU rates, the fullest filesystem, GPU means and maxima, container
restarts), so each query answers a handful of series per node and the client's work is a lookup per series.
The queries run concurrently, each under the client's one deadline per exchange; one that fails leaves its
figures unknown for every node and is named in `failed`, the others still count.

A node's name is the `node_label` label's value (default `instance`) without any `:port`; DCGM's series also
carry `Hostname`, which wins for GPU figures when present. Labels are remote text: a name is cleaned once
(console/text.py) and capped; values are finite or None.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from console.collectors.gpu_prometheus import instance_host
from console.collectors.prometheus import PrometheusClient, PrometheusError
from console.model.prom_fleet import PromFleetSnapshot, PromNode
from console.text import clean_line

MAX_NODES = 20_000  # past this a refresh is a runaway label, not a fleet
# Filesystems that are not the node's own disks: network, memory and image layers.
OTHER_FS = (
    "tmpfs|devtmpfs|ramfs|overlay|squashfs|iso9660|nfs.*|cifs|smb.*|fuse\\\\..*|ceph.*|glusterfs|lustre"
)
NET_SKIP = "lo|veth.*|docker.*|br-.*|cni.*|flannel.*|cali.*|virbr.*"
TAG = "opsconsole"  # the label each merged query sets to say which figure a series is


def _tagged(parts: Mapping[str, str]) -> str:
    """Several per-node expressions as one query: each series carries its figure's name in label TAG."""
    return " or ".join(f'label_replace({expr}, "{TAG}", "{tag}", "", "")' for tag, expr in parts.items())


def fleet_queries(node_label: str = "instance", window: str = "1m") -> dict[str, str]:
    """The refresh's queries by name (a fixed set: the count never depends on the fleet's size)."""
    by = f"by ({node_label})"
    gpu_by = f"by ({node_label}, Hostname)"
    gpu = {
        "util": "DCGM_FI_DEV_GPU_UTIL or gpu_utilization_percent",
        "temp": "DCGM_FI_DEV_GPU_TEMP or gpu_temperature_celsius",
        "power": "DCGM_FI_DEV_POWER_USAGE or gpu_power_draw_watts",
        "used": "DCGM_FI_DEV_FB_USED or gpu_memory_usage_bytes / 1048576",
        "total": "DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE or gpu_memory_total_bytes / 1048576",
    }
    return {
        "vitals": _tagged(
            {
                "cpu": f'100 * (1 - avg {by} (rate(node_cpu_seconds_total{{mode="idle"}}[{window}])))',
                "mem_total": f"max {by} (node_memory_MemTotal_bytes)",
                "mem_available": f"max {by} (node_memory_MemAvailable_bytes)",
                "load1": f"max {by} (node_load1)",
            }
        ),
        "disk": (
            f'topk {by} (1, 100 * (1 - node_filesystem_avail_bytes{{fstype!~"{OTHER_FS}"}}'
            f' / node_filesystem_size_bytes{{fstype!~"{OTHER_FS}"}}))'
        ),
        "network": _tagged(
            {
                "rx": f'sum {by} (rate(node_network_receive_bytes_total{{device!~"{NET_SKIP}"}}[{window}]))',
                "tx": f'sum {by} (rate(node_network_transmit_bytes_total{{device!~"{NET_SKIP}"}}[{window}]))',
            }
        ),
        "gpus": _tagged(
            {
                "count": f"count {gpu_by} ({gpu['temp']})",
                "util": f"avg {gpu_by} ({gpu['util']})",
                "temp": f"max {gpu_by} ({gpu['temp']})",
                "power": f"sum {gpu_by} ({gpu['power']})",
                "used": f"sum {gpu_by} ({gpu['used']})",
                "total": f"sum {gpu_by} ({gpu['total']})",
            }
        ),
        "containers": _tagged(
            {
                "running": f'count {by} (container_last_seen{{name!=""}})',
                "restarts": f'sum {by} (changes(container_start_time_seconds{{name!=""}}[1h]))',
            }
        ),
        "alerts": f'count {by} (ALERTS{{alertstate="firing"}})',
        "health": _tagged(
            {
                "up": f"min {by} (up)",
                "fresh": (
                    f"max by ({node_label}, job) (timestamp("
                    '{__name__=~"node_load1|DCGM_FI_DEV_GPU_TEMP|gpu_temperature_celsius"}))'
                ),
            }
        ),
    }


def node_name(raw: object) -> str | None:
    """ "gpu-a:9100" → "gpu-a", "[::1]:9100" → "::1"; cleaned and capped; empty is none."""
    if not isinstance(raw, str) or not raw:
        return None
    return clean_line(instance_host(raw), limit=253) or None


_INF = float("inf")


def _number(raw: object) -> float | None:
    """A sample's value as Prometheus writes it ("12.5", "NaN", "+Inf"): finite or None."""
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if value != value or value in (_INF, -_INF) else value


class _Fleet:
    """Figures gathered per node name before they become frozen PromNodes.

    This loop runs once per series (tens of thousands per refresh at 2,000 nodes), so it is kept to a few
    dict operations: each distinct label value is cleaned once (`names`), malformed items are skipped.
    """

    def __init__(self, node_label: str) -> None:
        self.node_label = node_label
        self.figures: dict[str, dict[str, Any]] = {}
        self.names: dict[object, str | None] = {}  # raw label value → cleaned node name
        self.dropped = 0

    def _figures(self, labels: dict[str, Any]) -> dict[str, Any] | None:
        raw = labels.get("Hostname") or labels.get(self.node_label)
        name = self.names.get(raw, "")
        if name == "":
            name = self.names[raw] = node_name(raw)
        if name is None:
            return None
        figures = self.figures.get(name)
        if figures is None:
            if len(self.figures) >= MAX_NODES:
                self.dropped += 1
                return None
            figures = self.figures[name] = {}
        return figures

    def read(self, result: list[Any], fields: Mapping[str | None, str]) -> None:
        """Series whose TAG label (or, untagged, None) names a field: that field := the series' value."""
        for item in result:
            try:
                labels, value = item["metric"], item["value"][1]
                field = fields.get(labels.get(TAG))
                figures = self._figures(labels) if field is not None else None  # a label may be a list
            except (TypeError, KeyError, IndexError, AttributeError):
                continue
            if figures is not None and field is not None:
                number = _number(value)
                figures[field] = round(number) if field in _COUNTS and number is not None else number

    def read_disk(self, result: list[Any]) -> None:
        for item in result:
            try:
                labels, value = item["metric"], item["value"][1]
                figures = self._figures(labels)
            except (TypeError, KeyError, IndexError, AttributeError):
                continue
            if figures is not None:
                figures["disk_fullest_pct"] = _number(value)
                figures["disk_fullest_mount"] = (
                    clean_line(str(labels.get("mountpoint") or ""), limit=256) or None
                )

    def read_health(self, result: list[Any], now: float, intervals: Mapping[str, float]) -> None:
        # A job the targets API does not list (series scraped with honor_labels keep their own `job`) is
        # measured against the slowest interval Prometheus scrapes at: never stale too early.
        fallback = max(intervals.values(), default=None)
        for item in result:
            try:
                labels, value = item["metric"], _number(item["value"][1])
                tag = labels.get(TAG)
                figures = self._figures(labels)
            except (TypeError, KeyError, IndexError, AttributeError):
                continue
            if figures is None or value is None:
                continue
            if tag == "up":
                figures["up"] = value >= 1.0 and figures.get("up", True)
            elif tag == "fresh" and value > figures.get("newest_sample_at", -_INF):
                figures["newest_sample_at"] = value
                figures["age_s"] = max(0.0, now - value)
                figures["ahead_s"] = value - now if value > now else None
                figures["scrape_interval_s"] = intervals.get(str(labels.get("job"))) or fallback


_FIELDS: dict[str, dict[str | None, str]] = {
    "vitals": {
        "cpu": "cpu_pct",
        "mem_total": "mem_total_bytes",
        "mem_available": "mem_available_bytes",
        "load1": "load1",
    },
    "network": {"rx": "net_rx_bps", "tx": "net_tx_bps"},
    "gpus": {
        "count": "gpu_count",
        "util": "gpu_util_pct",
        "temp": "gpu_temp_max_c",
        "power": "gpu_power_w",
        "used": "gpu_mem_used_mib",
        "total": "gpu_mem_total_mib",
    },
    "containers": {"running": "containers_running", "restarts": "container_restarts"},
    "alerts": {None: "alerts_firing"},
}
_COUNTS = {"gpu_count", "containers_running", "container_restarts", "alerts_firing"}


async def collect_prom_fleet(
    client: PrometheusClient, *, node_label: str = "instance", window: str = "1m"
) -> PromFleetSnapshot:
    """Every node the fleet's series name, from len(fleet_queries()) + 1 requests. Never raises for
    Prometheus trouble: a query that fails is named in `failed`; all failing is `error`."""
    started = time.monotonic()
    queries = fleet_queries(node_label, window)

    async def intervals() -> dict[str, float]:
        # The targets API says each job's scrape interval: what "stale" is measured against.
        return {t.job: t.scrape_interval_s for t in await client.targets() if t.scrape_interval_s}

    names = [*queries, "targets"]
    answers = await asyncio.gather(
        *(client.query_series(promql) for promql in queries.values()), intervals(), return_exceptions=True
    )
    failed: list[str] = []
    for name, answer in zip(names, answers, strict=True):
        if isinstance(answer, PrometheusError):
            failed.append(f"{name}: {answer}")
        elif isinstance(answer, BaseException):
            raise answer  # a bug or a cancellation, not Prometheus trouble
    job_intervals = answers[-1] if isinstance(answers[-1], dict) else {}
    now = time.time()
    fleet = _Fleet(node_label)
    for name, answer in zip(queries, answers[:-1], strict=True):
        if not isinstance(answer, list):
            continue
        if name == "disk":
            fleet.read_disk(answer)
        elif name == "health":
            fleet.read_health(answer, now, job_intervals)
        else:
            fleet.read(answer, _FIELDS[name])
    if any(failed.startswith("alerts:") for failed in failed):
        for figures in fleet.figures.values():
            figures["alerts_firing"] = None  # not "none firing": the question went unanswered
    taken = datetime.now(UTC)
    if len(failed) == len(names):
        return PromFleetSnapshot(
            taken,
            client.label,
            queries=len(names),
            failed=tuple(failed),
            error=failed[0].split(": ", 1)[1],
            duration_s=time.monotonic() - started,
        )
    if fleet.dropped:
        failed.append(f"nodes: more than {MAX_NODES} names; {fleet.dropped} series left out")
    nodes = tuple(
        PromNode(name, **figures)
        for name, figures in sorted(fleet.figures.items())
        # A target that answers but whose series all name other nodes (Prometheus itself, a federation or
        # an aggregating exporter scraped with honor_labels) is not a node; a target that is down is.
        if figures.keys() != {"up"} or figures["up"] is not True
    )
    return PromFleetSnapshot(
        taken,
        client.label,
        nodes,
        queries=len(names),
        failed=tuple(failed),
        duration_s=time.monotonic() - started,
    )


class PromFleetReader:
    """The fleet's series, read at most once per scrape interval however often the screen refreshes.

    Prometheus's numbers change when it scrapes, so reading the whole fleet more often than its targets'
    shortest scrape interval (or than `min_interval_s`, the console's refresh) only repeats the last answer
    at full cost. Between reads, `read()` returns the last snapshot; `force=True` reads now.
    """

    def __init__(
        self,
        client: PrometheusClient,
        *,
        node_label: str = "instance",
        window: str = "1m",
        min_interval_s: float = 2.0,
    ) -> None:
        self.client = client
        self.node_label = node_label
        self.window = window
        self.min_interval_s = min_interval_s
        self.last: PromFleetSnapshot | None = None
        self.reads = 0
        self._read_at: float | None = None

    def interval_s(self) -> float:
        """How long a read stays current: the shortest scrape interval among the nodes just read."""
        intervals = [
            n.scrape_interval_s for n in (self.last.nodes if self.last else ()) if n.scrape_interval_s
        ]
        return max(self.min_interval_s, min(intervals, default=self.min_interval_s))

    def due(self) -> bool:
        return self._read_at is None or time.monotonic() - self._read_at >= self.interval_s()

    async def read(self, *, force: bool = False) -> PromFleetSnapshot:
        if self.last is not None and not force and not self.due():
            return self.last
        self._read_at = time.monotonic()
        self.last = await collect_prom_fleet(self.client, node_label=self.node_label, window=self.window)
        self.reads += 1
        return self.last
