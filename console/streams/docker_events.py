"""Containers from Docker's events stream: the latest DockerSnapshot per node, re-listed only on change.

The watcher subscribes to `GET /events` (container events) through the node's forwarded socket, lists once,
then lists again only after an event that makes the list stale (`needs_relist`: start, die, health_status,
...; never the exec_* of every healthcheck run), a short debounce letting a burst (kill, die, stop) coalesce
into one list; plus a slow, jittered safety re-list in case an event was lost. A re-list is Docker API calls
over the SSH connection's direct-streamlocal channels: no process on the node (the engine facts' host probe
runs only when they are older than `engine_max_age`).

The subscription asks for events since a few seconds before the list, in dockerd's own time, so a change
between subscribing and listing is never missed (dockerd still streams live events when a skewed clock puts
`since` in its future). When the stream ends (dockerd restarted, connection lost) the watcher re-lists, which
records the error if there is one, and subscribes again after a backoff.

Docker does not announce every change: a restart loop that gives up, or a restart whose start fails, moves a
container from `restarting` to `exited` with no event. So `relist_now()` lists on demand: the operator's
refresh, after every container action, and each poll while a container is restarting. It also cuts a
re-subscribe backoff short.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from datetime import UTC, datetime, timedelta

from console.collectors.docker import collect_docker, needs_relist, watch_events
from console.collectors.docker_model import ContainerInfo, DockerSnapshot
from console.inventory.model import Node
from console.tasks import cancel_and_wait
from console.text import clean_line
from console.transport.base import Transport
from console.transport.pool import backoff, jittered

SAFETY_RELIST_S = 300.0
DEBOUNCE_S = 0.05
ENGINE_MAX_AGE_S = 600.0
SINCE_MARGIN_S = 5.0

# The watcher of each transport, so the node's basics shell can read its running containers' cgroups.
_WATCHERS: weakref.WeakKeyDictionary[Transport, DockerWatcher] = weakref.WeakKeyDictionary()


def running_containers(transport: Transport) -> tuple[ContainerInfo, ...]:
    """The running containers (with their init's pid) of the latest list of transport's watcher, if any."""
    watcher = _WATCHERS.get(transport)
    latest = watcher.latest if watcher is not None else None
    if latest is None:
        return ()
    return tuple(container for container in latest.containers if container.pid is not None)


class DockerWatcher:
    """The latest DockerSnapshot of one node, kept current by its events stream."""

    def __init__(
        self,
        transport: Transport,
        node: Node,
        *,
        safety_every: float = SAFETY_RELIST_S,
        debounce: float = DEBOUNCE_S,
        engine_max_age: float = ENGINE_MAX_AGE_S,
        timeout: float | None = None,
    ) -> None:
        self.transport = transport
        self.node = node
        self.safety_every = safety_every
        self.debounce = debounce
        self.engine_max_age = engine_max_age
        self.timeout = timeout if timeout is not None else node.ssh.command_timeout
        self.relists = 0  # container lists made (the first one included)
        self.failed_relists = 0  # lists that came back with an error
        self.events = 0  # events that made the list stale
        self.subscriptions = 0
        self._latest: DockerSnapshot | None = None
        self._listed = asyncio.Event()
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._started_lists = 0  # lists begun, and finished: relist_now waits for one begun after its call
        self._finished_lists = 0
        self._list_done = asyncio.Condition()
        _WATCHERS[transport] = self

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def latest(self) -> DockerSnapshot | None:
        return self._latest

    def start(self) -> None:
        if not self.running:
            self._task = asyncio.create_task(self._run(), name=f"docker-events {self.node.name}")

    async def first(self, timeout: float) -> DockerSnapshot | None:
        """The latest list, waiting up to `timeout` for the first one after start."""
        self.start()
        if not self._listed.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._listed.wait(), timeout)
        return self._latest

    async def relist_now(self, timeout: float) -> DockerSnapshot | None:
        """A list begun after this call, waiting up to `timeout`; else the latest one (None before any)."""
        if not self.running:
            return await self.first(timeout)
        wanted = self._started_lists + 1
        self._dirty.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._list_done:
                await self._list_done.wait_for(lambda: self._finished_lists >= wanted)
        return self._latest

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _relist(self) -> None:
        self._dirty.clear()
        self._started_lists += 1
        self._latest = await collect_docker(
            self.transport, self.node, timeout=self.timeout, engine_max_age=self.engine_max_age
        )
        self.relists += 1
        self.failed_relists += self._latest.error is not None
        self._listed.set()
        async with self._list_done:
            self._finished_lists += 1
            self._list_done.notify_all()

    async def _failed(self, exc: Exception) -> None:
        """A round that raised: the latest list says why, and whoever waits for a list is let go."""
        self._latest = DockerSnapshot(
            self.node.name,
            datetime.now(UTC),
            None,
            error=f"internal error: {type(exc).__name__}: {clean_line(exc)}",
        )
        self.failed_relists += 1
        self._listed.set()
        async with self._list_done:
            self._finished_lists = self._started_lists
            self._list_done.notify_all()

    async def _watch(self, since: datetime) -> None:
        """Mark the list stale on every event that needs it; returns when the stream ends."""
        async for event in watch_events(self.transport, self.node, since=since):
            if needs_relist(event):
                self.events += 1
                self._dirty.set()

    async def _run(self) -> None:
        failures = 0
        while True:
            since = datetime.now(UTC) - timedelta(seconds=SINCE_MARGIN_S)
            watching = asyncio.create_task(self._watch(since), name=f"docker-watch {self.node.name}")
            self.subscriptions += 1
            try:
                await self._relist()
                if self._latest is not None and self._latest.error is None:
                    failures = 0
                await self._follow(watching)
            except Exception as exc:  # one bad round must not end the watcher: say so, back off, go on
                await self._failed(exc)
            finally:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await watching
            failures += 1  # the stream ended: subscribe (and list) again after a backoff...
            with contextlib.suppress(TimeoutError):  # ...or at once when someone asks for a list
                await asyncio.wait_for(self._dirty.wait(), backoff(failures, cap=60.0))

    async def _follow(self, watching: asyncio.Task[None]) -> None:
        """Re-list on events (debounced) and on the safety timer until the events stream ends."""
        while not watching.done():
            dirty = asyncio.ensure_future(self._dirty.wait())
            try:
                await asyncio.wait(
                    {watching, dirty},
                    timeout=jittered(self.safety_every),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                dirty.cancel()
            if watching.done() and not self._dirty.is_set():
                return
            if self._dirty.is_set():
                await asyncio.sleep(self.debounce)  # let the rest of a burst arrive
            await self._relist()
