"""The console's session: everything the screens ask of the fleet, without Textual.

A `ConsoleSession` holds the inventory, the snapshot source, the latest snapshot of every node and their
metric history, the audit log, and the two backends the screens act through: Prometheus (PromQL, targets,
alerts, metric names) and node actions (container logs and restarts). The live backends talk to the real
fleet through the source's transports; recorded ones (console/demo/) drive the demo and the UI tests.
It also keeps what outlives a run (console/persisted.py): the PromQL history and the chosen theme.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from console.actions import ActionError, ActionResult, AuditLog, require_confirmation
from console.actions import docker as docker_actions
from console.actions.logs import LogEvent, LogQuery, stream_logs
from console.checks.levels import NodeVerdict, node_levels
from console.checks.model import CheckResult
from console.checks.prometheus_rules import evaluate_prometheus, prometheus_node
from console.checks.rules import evaluate
from console.collectors.docker import close_docker_clients
from console.collectors.prometheus import (
    AlertInfo,
    InstantResult,
    PrometheusError,
    PrometheusSnapshot,
    PrometheusUnreachable,
    RangeResult,
    TargetInfo,
    open_prometheus,
)
from console.fleet_from_prometheus import PromFleet
from console.history import MetricHistory
from console.inventory.model import Inventory, Node, PrometheusSettings
from console.persisted import HISTORY_LIMIT, QueryHistory, Settings, config_dir, state_dir
from console.poll import SnapshotSource

# Kept importable from here, where the screens and tests have always found them.
__all__ = [
    "HISTORY_LIMIT",
    "WINDOWS",
    "ConsoleSession",
    "FleetProblems",
    "LiveActions",
    "LivePrometheus",
    "QueryHistory",
    "Settings",
    "config_dir",
    "state_dir",
]
from console.snapshots import NodeSnapshot
from console.streams.source import StreamingSource
from console.timewindow import TimeWindow
from console.transport import Transport
from console.wizards import fixes as _fixes  # noqa: F401  registers the catalogue's fix names with the checks
from console.wizards import stack_checks as _stack  # noqa: F401  registers the AI stack's check rules

WINDOWS: dict[str, timedelta] = {
    "5m": timedelta(minutes=5),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
}
RANGE_POINTS = 120  # points per series in a range query: about one per column of a wide graph
CLOSE_TIMEOUT_S = 1.0  # quitting never waits longer than this for connections to close politely
RELIST_AFTER_ACTION_S = 5.0
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FleetProblems:
    """The fleet's Prometheus problems, last asked: for a count in the fleet header.

    `firing`: alerts firing (one per alert name, as the checks screen lists them); `down`: scrape targets
    down. With `error` Prometheus could not be asked and the counts say nothing (`count` is None).
    """

    taken_at: datetime
    firing: int = 0
    down: int = 0
    error: str | None = None

    @property
    def count(self) -> int | None:
        return None if self.error is not None else self.firing + self.down

    @classmethod
    def of(cls, snapshot: PrometheusSnapshot) -> FleetProblems:
        firing = {alert.name for alert in snapshot.alerts if alert.state == "firing"}
        down = sum(1 for target in snapshot.targets if target.health == "down")
        return cls(snapshot.taken_at, len(firing), down, snapshot.error)


class PrometheusAccess(Protocol):
    async def query(self, promql: str) -> InstantResult: ...

    async def query_range(self, promql: str, start: datetime, end: datetime, step: float) -> RangeResult: ...

    async def targets(self) -> tuple[TargetInfo, ...]: ...

    async def alerts(self) -> tuple[AlertInfo, ...]: ...

    async def metric_names(self) -> tuple[str, ...]: ...

    async def label_names(self, match: str | None = None) -> tuple[str, ...]: ...

    async def label_values(self, label: str, match: str | None = None) -> tuple[str, ...]: ...


class NodeActions(Protocol):
    def tail_logs(
        self, node: Node, container: str, lines: int, follow: bool, audit: AuditLog | None
    ) -> AsyncIterator[str]: ...

    def stream_logs(self, node: Node, container: str, query: LogQuery) -> AsyncIterator[LogEvent]: ...

    async def restart(self, node: Node, container: str, audit: AuditLog) -> ActionResult: ...


class LivePrometheus:
    """The inventory's Prometheus, opened per request (through `via`'s tunnel, which the transport reuses)."""

    def __init__(self, settings: PrometheusSettings, via: Transport | None) -> None:
        self.settings = settings
        self.via = via

    async def query(self, promql: str) -> InstantResult:
        with await open_prometheus(self.settings, self.via) as client:
            return await client.query(promql)

    async def query_range(self, promql: str, start: datetime, end: datetime, step: float) -> RangeResult:
        with await open_prometheus(self.settings, self.via) as client:
            return await client.query_range(promql, start, end, step)

    async def targets(self) -> tuple[TargetInfo, ...]:
        with await open_prometheus(self.settings, self.via) as client:
            return await client.targets()

    async def alerts(self) -> tuple[AlertInfo, ...]:
        with await open_prometheus(self.settings, self.via) as client:
            return await client.alerts()

    async def metric_names(self) -> tuple[str, ...]:
        with await open_prometheus(self.settings, self.via) as client:
            return await client.metric_names()

    async def label_names(self, match: str | None = None) -> tuple[str, ...]:
        with await open_prometheus(self.settings, self.via) as client:
            return await client.label_names(match)

    async def label_values(self, label: str, match: str | None = None) -> tuple[str, ...]:
        with await open_prometheus(self.settings, self.via) as client:
            return await client.label_values(label, match)


class LiveActions:
    """Container actions on the real nodes, over each node's own transport (console/actions/docker.py)."""

    def __init__(self, transports: Mapping[str, Transport]) -> None:
        self.transports = transports

    def _transport(self, node: Node) -> Transport:
        transport = self.transports.get(node.name)
        if transport is None:
            raise ActionError(f"{node.name}: no connection to this node")
        return transport

    def tail_logs(
        self, node: Node, container: str, lines: int, follow: bool, audit: AuditLog | None
    ) -> AsyncIterator[str]:
        transport = self._transport(node)
        return docker_actions.tail_logs(transport, node, container, lines, follow, audit=audit)

    def stream_logs(self, node: Node, container: str, query: LogQuery) -> AsyncIterator[LogEvent]:
        return stream_logs(self._transport(node), node, container, query)

    async def restart(self, node: Node, container: str, audit: AuditLog) -> ActionResult:
        return await docker_actions.restart_container(
            self._transport(node), node, container, audit=audit, confirmed=True
        )


class ConsoleSession:
    """What the app holds: the fleet, its latest state, and the actions and queries the screens run."""

    def __init__(
        self,
        inventory: Inventory,
        source: SnapshotSource,
        *,
        transports: Mapping[str, Transport] | None = None,
        audit: AuditLog | None = None,
        prometheus: PrometheusAccess | None = None,
        actions: NodeActions | None = None,
        clock: Callable[[], datetime] | None = None,
        history: MetricHistory | None = None,
        query_history: QueryHistory | None = None,
        settings: Settings | None = None,
        prom_fleet: PromFleet | None = None,
    ) -> None:
        self.inventory = inventory
        # fleet: {source: prometheus}: the nodes the series name besides the inventory's (one read a refresh)
        self.prom_fleet = prom_fleet
        self.source = source
        self.transports = dict(transports or {})
        self.audit = audit or AuditLog()
        self.prometheus = prometheus
        self.actions = (
            actions if actions is not None else (LiveActions(self.transports) if transports else None)
        )
        self.clock = clock or (lambda: datetime.now(UTC))
        self.history = history or MetricHistory()
        self.query_history = query_history or QueryHistory()
        self.settings = settings or Settings()
        self.latest: dict[str, NodeSnapshot] = {}
        self.prometheus_problems: FleetProblems | None = None  # set by each fleet_checks()
        # node -> (the snapshot and node it was judged on, the verdict): judged once per snapshot
        self._verdicts: dict[str, tuple[NodeSnapshot | None, Node, NodeVerdict]] = {}
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._closed = False

    @classmethod
    def live(cls, inventory: Inventory, nodes: Sequence[Node] | None = None) -> ConsoleSession:
        """The real fleet: one persistent transport per node, Prometheus through the inventory's `via`."""
        source = StreamingSource(inventory, tuple(nodes) if nodes is not None else None)
        prometheus = None
        if inventory.prometheus is not None:
            prometheus = LivePrometheus(inventory.prometheus, source.prometheus_transport())
        prom_fleet = PromFleet.live(inventory, source.prometheus_transport())
        return cls(
            inventory, source, transports=source.transports, prometheus=prometheus, prom_fleet=prom_fleet
        )

    # --- the fleet -------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()

    def node(self, name: str) -> Node:
        return self.inventory.node(name)

    def seed(self, snapshots: Sequence[NodeSnapshot]) -> None:
        """Take earlier polls as if they had just been made (a recorded past, oldest first)."""
        for snapshot in snapshots:
            self.record(snapshot)

    def record(self, snapshot: NodeSnapshot) -> None:
        self.latest[snapshot.node] = snapshot
        self.history.record(snapshot)

    async def _tracked(self, work: Awaitable[T]) -> T:
        """Run `work` as a task close() can cancel: quitting must not wait for a node or Prometheus."""
        task = asyncio.ensure_future(work)
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.cancel()  # the caller went away (a worker cancelled): so does the work
            raise

    async def poll(self, node: Node, *, force: bool = False) -> NodeSnapshot:
        """One poll of a node; never raises (a bug in a poll shows as that node's error)."""
        try:
            snapshot = await self._tracked(self.source.poll(node, force=force))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            snapshot = NodeSnapshot(node.name, self.now(), reachable=False, error=f"internal error: {error}")
        self.record(snapshot)
        return snapshot

    def checks(self, node: Node) -> tuple[CheckResult, ...]:
        """The node's check results from its latest snapshot (the rules `--check` runs); () before any."""
        return self.verdict(node).results

    def verdict(self, node: Node) -> NodeVerdict:
        """The node's check results and the levels the tables colour by, judged once per snapshot."""
        snapshot = self.latest.get(node.name)
        cached = self._verdicts.get(node.name)
        if cached is not None and cached[0] is snapshot and cached[1] is node:
            return cached[2]
        if snapshot is not None and self.prom_fleet is not None and node.name in self.prom_fleet.nodes:
            verdict = self.prom_fleet.verdict(node, snapshot)  # judged from its series (no SSH)
        else:
            results = evaluate(node, snapshot) if snapshot is not None else ()
            verdict = NodeVerdict(results, node_levels(node, snapshot, results))
        self._verdicts[node.name] = (snapshot, node, verdict)
        return verdict

    async def fleet_checks(self) -> tuple[CheckResult, ...]:
        """The checks that belong to the fleet (its Prometheus), asked now; () without a Prometheus."""
        settings = self.inventory.prometheus
        if settings is None or self.prometheus is None:
            return ()
        started = self.now()
        try:
            targets, alerts = await self._tracked(
                asyncio.gather(self.prometheus.targets(), self.prometheus.alerts())
            )
            snapshot = PrometheusSnapshot(self.now(), settings.url, targets, alerts)
        except PrometheusError as exc:
            snapshot = PrometheusSnapshot(started, settings.url, error=str(exc))
        self.prometheus_problems = FleetProblems.of(snapshot)
        return evaluate_prometheus(prometheus_node(self.inventory), snapshot)

    # --- actions ---------------------------------------------------------------------------------------

    def _actions(self) -> NodeActions:
        if self.actions is None:
            raise ActionError("this console has no connection to act through")
        return self.actions

    def tail_logs(
        self, node: Node, container: str, *, lines: int = 200, follow: bool = True
    ) -> AsyncIterator[str]:
        """The container's last `lines` lines, then (with follow) new ones until the iterator is closed."""
        return self._actions().tail_logs(node, container, lines, follow, self.audit)

    def stream_logs(
        self, node: Node, container: str, query: LogQuery | None = None
    ) -> AsyncIterator[LogEvent]:
        """The log view's stream (console/actions/logs.py): LogStatus and LogLine events, Docker's
        timestamps, tail/since, a follow that reconnects across restarts. Closing it closes the stream."""
        return self._actions().stream_logs(node, container, query or LogQuery())

    async def restart_container(self, node: Node, container: str, *, confirmed: bool = False) -> ActionResult:
        """Restart a container: nothing happens without confirmed=True (NotConfirmed); always audited."""
        require_confirmation("docker.restart", container, confirmed)
        try:
            result = await self._actions().restart(node, container, self.audit)
        except asyncio.CancelledError:
            raise
        except BaseException:
            await self.relist_containers(node)  # a failed restart changes the state without a Docker event
            raise
        await self.relist_containers(node)
        return result

    async def relist_containers(self, node: Node) -> None:
        """List the node's containers now (a refresh or an action); the next poll shows the result."""
        with contextlib.suppress(Exception):  # a list that fails shows as the node's Docker error
            await self._tracked(self.source.relist_containers(node, RELIST_AFTER_ACTION_S))

    # --- Prometheus ------------------------------------------------------------------------------------

    def _prometheus(self) -> PrometheusAccess:
        if self.prometheus is None:
            raise PrometheusUnreachable("the inventory has no prometheus section")
        return self.prometheus

    async def query(self, promql: str) -> InstantResult:
        return await self._tracked(self._prometheus().query(promql))

    def window(self, name: str) -> tuple[datetime, datetime, float]:
        """(start, end, step seconds) of the last `name` (5m, 1h, 6h, 24h): about RANGE_POINTS points."""
        span = WINDOWS[name]
        end = self.now()
        return end - span, end, max(1.0, span.total_seconds() / RANGE_POINTS)

    async def query_range(self, promql: str, window: str | TimeWindow) -> RangeResult:
        """A range query over the last `window` (see `window`), or over a typed TimeWindow."""
        if isinstance(window, TimeWindow):
            start, end, step = window.start, window.end, window.step
        else:
            start, end, step = self.window(window)
        return await self._tracked(self._prometheus().query_range(promql, start, end, step))

    async def targets(self) -> tuple[TargetInfo, ...]:
        return await self._tracked(self._prometheus().targets())

    async def alerts(self) -> tuple[AlertInfo, ...]:
        return await self._tracked(self._prometheus().alerts())

    async def metric_names(self) -> tuple[str, ...]:
        return await self._tracked(self._prometheus().metric_names())

    async def label_names(self, match: str | None = None) -> tuple[str, ...]:
        """Label names (of the series `match` selects); for completion."""
        return await self._tracked(self._prometheus().label_names(match))

    async def label_values(self, label: str, match: str | None = None) -> tuple[str, ...]:
        """The values of `label` (in the series `match` selects); for completion."""
        return await self._tracked(self._prometheus().label_values(label, match))

    def remember_query(self, promql: str) -> list[str]:
        return self.query_history.add(promql, at=self.now())

    # --- settings and teardown -------------------------------------------------------------------------

    @property
    def theme(self) -> str | None:
        theme = self.settings.get("theme")
        return theme if isinstance(theme, str) else None

    def remember_theme(self, theme: str) -> None:
        self.settings.set("theme", theme)

    async def close(self, *, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Cancel what is in flight, then close connections, waiting at most `timeout` seconds in all.

        Quitting must be immediate even while a node or Prometheus hangs: what has not closed by then is
        abandoned (the process is exiting; the kernel closes its sockets).
        """
        if self._closed:
            return
        self._closed = True
        for task in list(self._in_flight):
            task.cancel()
        closing = asyncio.ensure_future(self._close_connections())
        done, _ = await asyncio.wait({closing, *self._in_flight}, timeout=timeout)
        if closing not in done:
            closing.cancel()
        for task in (closing, *self._in_flight):
            task.add_done_callback(_retrieve)

    async def _close_connections(self) -> None:
        for transport in self.transports.values():
            with contextlib.suppress(Exception):  # the connection may be gone: nothing left to release
                await close_docker_clients(transport)
        await self.source.close()


def _retrieve(task: asyncio.Task[Any]) -> None:
    """An abandoned task's late error is of no interest at exit: mark it seen so nothing is printed."""
    if not task.cancelled():
        task.exception()
