"""Recorded stand-ins for the live fleet: the demo (`opsconsole --demo`), screenshots, tests and benchmarks.

- `RecordedSource`: answers each poll with the node's recorded snapshot (or the next of a recorded series).
- `RecordedPrometheus`: answers PromQL, targets, alerts, metric and label names from recorded results.
- `RecordedActions`: container logs and restarts from recorded lines; a restart changes the recorded
  container the way `docker restart` changes the real one (running, started now).

The fleet itself (inventory, snapshots, Prometheus answers, logs) is built in console/demo/fleet.py.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from console.actions import ActionResult, AuditLog
from console.actions.logs import LogEvent, LogLine, LogQuery, LogStatus
from console.collectors.prometheus import (
    AlertInfo,
    InstantResult,
    PrometheusError,
    PromQLError,
    RangeResult,
    RangeSeries,
    TargetInfo,
)
from console.inventory.model import Node
from console.snapshots import NodeSnapshot


class RecordedSource:
    """Answers each poll with the node's recorded snapshot, after `delay` (or the node's own entry in
    `delays`) seconds, to mimic the network. With `series`, a node's polls walk its recorded series in turn
    (cycling), so values move from one refresh to the next."""

    def __init__(
        self,
        snapshots: Mapping[str, NodeSnapshot],
        *,
        delay: float = 0.0,
        delays: Mapping[str, float] | None = None,
        series: Mapping[str, Sequence[NodeSnapshot]] | None = None,
    ) -> None:
        self.snapshots = dict(snapshots)
        self.delay = delay
        self.delays = dict(delays or {})
        self.series = {name: tuple(items) for name, items in (series or {}).items() if items}
        self.polls: dict[str, int] = {}

    async def poll(self, node: Node, *, force: bool = False) -> NodeSnapshot:
        count = self.polls.get(node.name, 0)
        self.polls[node.name] = count + 1
        delay = self.delays.get(node.name, self.delay)
        if delay:
            await asyncio.sleep(delay)
        series = self.series.get(node.name)
        if series is not None:
            return series[count % len(series)]
        return self.snapshots[node.name]

    async def relist_containers(self, node: Node, timeout: float) -> None:
        return None  # recorded containers change only with the recording

    async def close(self) -> None:
        return None


def _unbalanced(promql: str) -> str | None:
    """Prometheus's message for an unclosed bracket, so the recorded explorer shows errors in place."""
    closing = {"(": ")", "[": "]", "{": "}"}
    names = {"(": "parenthesis", "[": "bracket", "{": "brace"}
    stack: list[str] = []
    for position, char in enumerate(promql, start=1):
        if char in closing:
            stack.append(char)
        elif char in closing.values() and (not stack or closing[stack.pop()] != char):
            return f"parse error at char {position}: unexpected right {char!r}"
    if stack:
        return f"parse error at char {len(promql) + 1}: unclosed left {names[stack[-1]]}"
    return None


RangeMaker = Callable[[datetime, datetime, float], tuple[RangeSeries, ...]]
_SELECTOR = re.compile(r"^\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*\{(.*)\}\s*$")
_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([^"]*)"')


def split_selector(promql: str) -> tuple[str, dict[str, str]]:
    """`metric{a="b", c="d"}` -> ("metric", {"a": "b", "c": "d"}): the one PromQL form recordings filter
    on (equality matchers only); anything else is looked up as written."""
    match = _SELECTOR.match(promql)
    if match is None:
        return promql.strip(), {}
    return match.group(1), dict(_MATCHER.findall(match.group(2)))


def _keep(labels: tuple[tuple[str, str], ...], wanted: dict[str, str]) -> bool:
    have = dict(labels)
    return all(have.get(key) == value for key, value in wanted.items())


class RecordedPrometheus:
    """The session's Prometheus access, answered from recordings. An unrecorded query returns no series."""

    def __init__(
        self,
        *,
        instant: Mapping[str, InstantResult] | None = None,
        ranges: Mapping[str, RangeMaker] | None = None,
        targets: tuple[TargetInfo, ...] = (),
        alerts: tuple[AlertInfo, ...] = (),
        metric_names: tuple[str, ...] = (),
        errors: Mapping[str, str] | None = None,
        delay: float = 0.0,
        label_error: str | None = None,
    ) -> None:
        self.instant = dict(instant or {})
        self.ranges = dict(ranges or {})
        self._targets = targets
        self._alerts = alerts
        self._metric_names = metric_names
        self.errors = dict(errors or {})
        self.delay = delay
        self.label_error = label_error  # set: the label endpoints fail so (an old or proxied Prometheus)
        self.queries: list[str] = []
        self.lookups: list[tuple[str, str | None]] = []  # (label or "labels", match) asked of the label API

    async def _answer(self, promql: str) -> None:
        self.queries.append(promql)
        if self.delay:
            await asyncio.sleep(self.delay)
        message = self.errors.get(promql.strip()) or _unbalanced(promql)
        if message is not None:
            raise PromQLError(message)

    async def query(self, promql: str) -> InstantResult:
        await self._answer(promql)
        name, wanted = split_selector(promql)
        found = self.instant.get(name)
        samples = tuple(s for s in found.samples if _keep(s.labels, wanted)) if found is not None else ()
        return InstantResult(promql, found.result_type if found is not None else "vector", samples)

    async def query_range(self, promql: str, start: datetime, end: datetime, step: float) -> RangeResult:
        await self._answer(promql)
        name, wanted = split_selector(promql)
        maker = self.ranges.get(name)
        series = maker(start, end, step) if maker is not None else ()
        return RangeResult(promql, tuple(s for s in series if _keep(s.labels, wanted)))

    async def targets(self) -> tuple[TargetInfo, ...]:
        return self._targets

    async def alerts(self) -> tuple[AlertInfo, ...]:
        return self._alerts

    async def metric_names(self) -> tuple[str, ...]:
        return self._metric_names

    async def _label_sets(self, what: str, match: str | None) -> list[dict[str, str]]:
        """The labels of the recorded instant series `match` selects (all without it)."""
        self.lookups.append((what, match))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.label_error is not None:
            raise PrometheusError(self.label_error)
        name, wanted = split_selector(match) if match else ("", {})
        return [
            {"__name__": key, **dict(sample.labels)}
            for key, result in self.instant.items()
            if not name or key == name
            for sample in result.samples
            if _keep(sample.labels, wanted)
        ]

    async def label_names(self, match: str | None = None) -> tuple[str, ...]:
        return tuple(sorted({key for labels in await self._label_sets("labels", match) for key in labels}))

    async def label_values(self, label: str, match: str | None = None) -> tuple[str, ...]:
        found = await self._label_sets(label, match)
        return tuple(sorted({labels[label] for labels in found if label in labels}))


class RecordedActions:
    """Container logs and restarts answered from recordings, audited like the real ones.

    `logs[(node, container)]` is what `docker logs --tail N` shows; with follow, `follow[(node, container)]`
    comes next, then nothing more until the reader stops. A restart of a container the source knows makes
    it running, started at `clock()`; an unknown container fails the way Docker's 404 does, and one listed
    in `failures` fails with that detail (Docker's own error text, as a node may word it).
    """

    def __init__(
        self,
        source: RecordedSource,
        *,
        logs: Mapping[tuple[str, str], Sequence[str]] | None = None,
        follow: Mapping[tuple[str, str], Sequence[str]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        restart_s: float = 1.2,
        failures: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        self.source = source
        self.logs = {key: tuple(lines) for key, lines in (logs or {}).items()}
        self.follow = {key: tuple(lines) for key, lines in (follow or {}).items()}
        self.clock = clock
        self.restart_s = restart_s
        self.restarts: list[tuple[str, str]] = []
        self.failures = dict(failures or {})

    async def tail_logs(
        self, node: Node, container: str, lines: int, follow: bool, audit: AuditLog | None
    ) -> AsyncIterator[str]:
        # Reading logs is not a mutation: never audited (the `audit` argument is kept for the interface).
        recorded = self.logs.get((node.name, container), ())
        for line in recorded[-lines:] if lines else ():
            yield line
        if not follow:
            return
        for line in self.follow.get((node.name, container), ()):
            await asyncio.sleep(0)
            yield line
        await asyncio.Event().wait()  # a quiet container: nothing more until the reader stops

    async def stream_logs(self, node: Node, container: str, query: LogQuery) -> AsyncIterator[LogEvent]:
        """The recorded lines as the live stream's events (times at `clock()`; `since` is not applied)."""
        yield LogStatus("connecting", f"connecting to {node.name}…")
        recorded = self.logs.get((node.name, container), ())
        tail = recorded if query.tail is None else recorded[-query.tail :] if query.tail else ()
        if query.follow:
            yield LogStatus("following", query.describe().removesuffix(", following"))
        for line in tail:
            yield LogLine(line, time=self.clock())
        if not query.follow:
            yield LogStatus("ended", f"{len(tail)} lines")
            return
        for line in self.follow.get((node.name, container), ()):
            await asyncio.sleep(0)
            yield LogLine(line, time=self.clock())
        await asyncio.Event().wait()  # a quiet container: nothing more until the reader stops

    async def restart(self, node: Node, container: str, audit: AuditLog) -> ActionResult:
        call = f"POST /containers/{container}/restart?t=10"
        audit_id = audit.intent(node=node.name, action="docker.restart", target=container, call=call)
        self.restarts.append((node.name, container))
        snapshot = self.source.snapshots.get(node.name)
        docker = snapshot.docker if snapshot is not None else None
        found = docker.container(container) if docker is not None else None
        failure = self.failures.get((node.name, container))
        if failure is not None:
            result = ActionResult(node.name, "docker.restart", container, call, False, failure)
        elif snapshot is None or docker is None or found is None:
            result = ActionResult(
                node.name, "docker.restart", container, call, False, f"no container {container!r}"
            )
        else:
            now = self.clock()
            restarted = replace(found, state="running", status="Up Less than a second", started_at=now)
            containers = tuple(restarted if item.name == container else item for item in docker.containers)
            self.source.snapshots[node.name] = replace(
                snapshot, docker=replace(docker, containers=containers)
            )
            detail = f"restarted in {self.restart_s:.1f}s: running since {now.isoformat()}"
            result = ActionResult(node.name, "docker.restart", container, call, True, detail, self.restart_s)
        audit.write(result, audit_id=audit_id)
        return result
