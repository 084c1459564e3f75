"""The TUI's fleet from Prometheus (`fleet: {source: prometheus}`): the nodes the series name, as rows.

One fleet-level read per refresh (`PromFleetReader`, which reads Prometheus at most once per scrape
interval), never one poll per node: each discovered node becomes a `NodeSnapshot` whose `prom` holds its
aggregates (`PromNode`), judged by `evaluate_prom_node` and shown by the sections' column cells
(console/sections/prom_columns.py). The inventory's own nodes stay polled over SSH and win: a node the
inventory lists is never taken from the series.

Nodes that appear in a later read are added; a node the series stop naming is kept, unreachable, with
PROM_GONE and its last figures (never silently dropped); when Prometheus does not answer at all, every
discovered node says so (its numbers are not shown as fresh).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from operator import attrgetter

from console.checks.fleet_checks import FLEET
from console.checks.gpu_rules import TEMPERATURE
from console.checks.model import CheckResult, Status
from console.checks.prom_fleet_rules import evaluate_prom_node
from console.checks.rules import planned_checks
from console.collectors.gpu_prometheus import collect_gpus_from_prometheus
from console.collectors.prom_fleet import PromFleetReader, node_name
from console.collectors.prometheus import PrometheusClient, PrometheusError, open_prometheus
from console.inventory.model import DISCOVERED_GROUP, FleetSettings, Inventory, Node, PrometheusSettings
from console.model.gpu import GpuSnapshot
from console.model.levels import NodeLevels, NodeVerdict
from console.model.node import PROM_GONE, NodeSnapshot
from console.model.prom_fleet import PromFleetSnapshot, PromNode
from console.model.prometheus import AlertInfo
from console.transport import Transport


class FleetReader:
    """What the fleet asks of Prometheus: the whole fleet (`read`), and one node's GPUs (`node_gpus`).
    The live one opens its client on first use (through the inventory's `via` tunnel); tests pass a
    stand-in with the same two methods."""

    async def read(self) -> PromFleetSnapshot:
        raise NotImplementedError

    async def node_gpus(self, node: Node) -> GpuSnapshot:
        raise NotImplementedError


class LiveFleetReader(FleetReader):
    def __init__(self, settings: PrometheusSettings, fleet: FleetSettings, via: Transport | None) -> None:
        self.settings, self.fleet, self.via = settings, fleet, via
        self.reader: PromFleetReader | None = None
        self._client: PrometheusClient | None = None

    async def client(self) -> PrometheusClient:
        if self._client is None:
            self._client = await open_prometheus(self.settings, self.via)
        return self._client

    async def read(self) -> PromFleetSnapshot:
        if self.reader is None:
            try:
                client = await self.client()
            except PrometheusError as exc:
                return PromFleetSnapshot(datetime.now(UTC), self.settings.url, error=str(exc))
            self.reader = PromFleetReader(
                client, node_label=self.fleet.node_label, window=self.fleet.rate_window
            )
        return await self.reader.read()

    async def node_gpus(self, node: Node) -> GpuSnapshot:
        return await collect_gpus_from_prometheus(await self.client(), node)


# What a row shows of a node's figures: all but how old its series are (a stale node's age is added, to the
# second). One attrgetter call per node, not a dataclass rebuilt: a read of 2,000 nodes runs on the loop.
# `ahead_s` is new every read for a node whose clock runs ahead: what the row says of it is `clock_skew`.
_HIDDEN = ("age_s", "newest_sample_at", "ahead_s")
_SHOWN = attrgetter(*(f.name for f in fields(PromNode) if f.name not in _HIDDEN))


def discovered(name: str, template: Node | None = None) -> Node:
    """A node the series name and the inventory does not: what `defaults` and the group `prometheus` set
    (`template`: Inventory.discovered_node) or the built-in defaults; never reached over SSH."""
    if template is None:
        return Node(name=name, host=name, groups=(DISCOVERED_GROUP,))
    return replace(template, name=name, host=name, groups=(DISCOVERED_GROUP,))


@dataclass(frozen=True, slots=True)
class FleetMerge:
    """What one read changed: nodes seen for the first time, and the snapshots to show (one per node)."""

    added: tuple[Node, ...] = ()
    snapshots: tuple[NodeSnapshot, ...] = ()


class PromFleet:
    """The discovered nodes and their latest snapshots, merged read after read."""

    def __init__(self, inventory: Inventory, reader: FleetReader) -> None:
        self.reader = reader
        self.known = frozenset(node.name for node in inventory.nodes)  # SSH-polled: they win
        self.node_label = inventory.fleet.node_label
        self.template = inventory.discovered_node
        self.nodes: dict[str, Node] = {}
        self.gone: set[str] = set()
        self.figures: dict[str, PromNode] = {}  # each node's latest figures (a gone node's last ones)
        self._shown: dict[str, tuple[object, ...]] = {}  # what each node's row was last given, not its age
        self.last: PromFleetSnapshot | None = None
        self._planned: dict[str, tuple[tuple[str, str | None], ...]] = {}

    @classmethod
    def live(cls, inventory: Inventory, via: Transport | None) -> PromFleet | None:
        if inventory.fleet.source != "prometheus" or inventory.prometheus is None:
            return None
        return cls(inventory, LiveFleetReader(inventory.prometheus, inventory.fleet, via))

    async def read(self) -> PromFleetSnapshot:
        return await self.reader.read()

    async def node_gpus(self, node: Node) -> GpuSnapshot:
        return await self.reader.node_gpus(node)

    def merge(self, fleet: PromFleetSnapshot) -> FleetMerge:
        """The rows this read changes; nothing when it is the read already merged (the reader returns
        its last snapshot until Prometheus has scraped again)."""
        if fleet is self.last:
            return FleetMerge()
        self.last = fleet
        at = fleet.taken_at
        if fleet.error is not None:
            reason = f"Prometheus did not answer: {fleet.error}"
            self._shown.clear()  # the next answer redraws every row
            return FleetMerge(
                snapshots=tuple(
                    NodeSnapshot(name, at, reachable=False, error=reason, prom=self.figures.get(name))
                    for name in self.nodes
                )
            )
        added: list[Node] = []
        snapshots: list[NodeSnapshot] = []
        seen: set[str] = set()
        for prom in fleet.nodes:
            name = prom.name
            if name in self.known:
                continue
            seen.add(name)
            if name not in self.nodes:
                node = self.nodes[name] = discovered(name, self.template)
                added.append(node)
            self.figures[name] = prom
            # A row changes when a figure does (or the node turns stale, or a stale one ages by a second),
            # not because its series are a scrape newer: on a quiet fleet a read redraws nothing.
            stale_age = round(prom.age_s) if prom.stale and prom.age_s is not None else None
            shown = (_SHOWN(prom), stale_age, prom.clock_skew)
            if self._shown.get(name) == shown and name not in self.gone:
                continue
            self.gone.discard(name)
            self._shown[name] = shown
            snapshots.append(NodeSnapshot(name, at, reachable=True, prom=prom))
        for name in self.nodes.keys() - seen - self.gone:  # said once; the row keeps saying it
            self.gone.add(name)
            snapshots.append(
                NodeSnapshot(name, at, reachable=False, error=PROM_GONE, prom=self.figures.get(name))
            )
        return FleetMerge(tuple(added), tuple(snapshots))

    def node_alerts(self, alerts: tuple[AlertInfo, ...], name: str) -> tuple[AlertInfo, ...]:
        """The firing alerts whose node label (or DCGM's Hostname) names this node."""
        labels = (self.node_label, "Hostname")
        return tuple(
            alert
            for alert in alerts
            if alert.state == "firing"
            and any(key in labels and node_name(value) == name for key, value in alert.labels)
        )

    def planned(self, node: Node) -> tuple[tuple[str, str | None], ...]:
        planned = self._planned.get(node.name)
        if planned is None:
            planned = self._planned[node.name] = tuple(planned_checks(node))
        return planned

    def verdict(self, node: Node, snapshot: NodeSnapshot) -> NodeVerdict:
        """A discovered node's results (from its series) and the levels its cells are coloured by."""
        prom = snapshot.prom
        if prom is None or not snapshot.reachable:
            summary = snapshot.error or "not in Prometheus's series"
            return NodeVerdict((CheckResult(node.name, FLEET, Status.UNKNOWN, summary),))
        results = evaluate_prom_node(node, prom, self.planned(node))
        return NodeVerdict(results, prom_levels(results, prom.gpu_count))


def prom_levels(results: tuple[CheckResult, ...], gpu_count: int | None) -> NodeLevels:
    """What a discovered node's cells are coloured by: the results' statuses, no comparison of its own."""
    temperature = next((result for result in results if result.check == TEMPERATURE), None)
    return NodeLevels(temperature=temperature.status if temperature is not None and gpu_count else None)
