"""A fleet read from Prometheus: every node's figures from a fixed number of queries, whatever its size.

Prometheus does the per-node arithmetic (rates, sums, the hottest GPU), so each refresh moves a few series
per node: node_exporter's vitals, DCGM's (or the GPU simulator's) GPUs, cAdvisor's containers, firing alerts,
scrape health and how fresh each node's series are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

STALE_AFTER_INTERVALS = 3  # a series older than its scrape interval times this is stale
# Without a known scrape interval, samples this far in the future are clock skew, not a scrape's jitter.
SKEW_FALLBACK_S = 60.0


@dataclass(frozen=True, slots=True)
class PromNode:
    """One node as the fleet's series describe it, aggregated per node by Prometheus (the fleet view needs
    one row per node; a node's GPUs one by one are read when it is opened). A figure no series gave is None,
    never 0."""

    name: str  # the node label's value without any :port (or DCGM's Hostname)
    cpu_pct: float | None = None  # busy share of all CPUs over the rate window, 0-100
    mem_total_bytes: float | None = None
    mem_available_bytes: float | None = None
    load1: float | None = None
    disk_fullest_pct: float | None = None  # the fullest local filesystem (network and memory ones left out)
    disk_fullest_mount: str | None = None
    net_rx_bps: float | None = None  # bytes/s over the rate window, physical-looking interfaces
    net_tx_bps: float | None = None
    gpu_count: int | None = None  # GPUs with series (DCGM or the simulator)
    gpu_util_pct: float | None = None  # mean over the node's GPUs
    gpu_temp_max_c: float | None = None  # the hottest GPU
    gpu_power_w: float | None = None  # all GPUs together
    gpu_mem_used_mib: float | None = None
    gpu_mem_total_mib: float | None = None
    containers_running: int | None = None  # cAdvisor: containers seen (name != "")
    container_restarts: int | None = None  # cAdvisor: container starts within the last hour, all containers
    alerts_firing: int | None = 0  # firing alerts whose labels name this node (None: not known)
    up: bool | None = None  # every scrape target labelled with this node answered (None: none known)
    newest_sample_at: float | None = None  # unix seconds of the node's newest node_exporter/GPU sample
    age_s: float | None = None  # how old that sample was when the fleet was read (0 when in the future)
    ahead_s: float | None = None  # how far in the future that sample was (clock skew), when it was
    scrape_interval_s: float | None = None  # of the job that scraped it (the targets API)

    @property
    def mem_used_pct(self) -> float | None:
        if self.mem_total_bytes is None or self.mem_available_bytes is None or self.mem_total_bytes <= 0:
            return None
        return 100.0 * (1.0 - self.mem_available_bytes / self.mem_total_bytes)

    @property
    def stale(self) -> bool:
        """Older than its scrape interval × 3: the numbers are shown, but said to be old."""
        if self.age_s is None or self.scrape_interval_s is None:
            return False
        return self.age_s > self.scrape_interval_s * STALE_AFTER_INTERVALS

    @property
    def clock_skew(self) -> str | None:
        """Samples more than a scrape interval in the future (a pushing source's clock ahead of
        Prometheus's, or Prometheus's ahead of the console's): their age says nothing, so neither fresh nor
        stale can be told."""
        if self.ahead_s is None or self.ahead_s <= (self.scrape_interval_s or SKEW_FALLBACK_S):
            return None
        return f"clock skew: samples {self.ahead_s:.0f} s in the future"


@dataclass(frozen=True, slots=True)
class PromFleetSnapshot:
    """The whole fleet from one refresh: `queries` HTTP requests, independent of the number of nodes."""

    taken_at: datetime
    url: str
    nodes: tuple[PromNode, ...] = ()
    queries: int = 0
    failed: tuple[str, ...] = ()  # "what: why" for each query that did not answer (the rest still count)
    error: str | None = None  # nothing could be read at all
    duration_s: float | None = None

    def node(self, name: str) -> PromNode | None:
        return next((node for node in self.nodes if node.name == name), None)
