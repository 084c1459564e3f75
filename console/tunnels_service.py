"""Tunnels kept open: each listens on 127.0.0.1 here and rides its node's one persistent SSH connection.

A listener, once bound, stays bound for as long as its tunnel is open, across dropped connections, so its
port stays ours and a scraper sees the target refuse while the node is away (up == 0), not vanish. One
supervisor per node keeps the connection: connect, check each tunnel's remote end (a direct-tcpip channel
opened and closed), wait for the connection to close, then reconnect after a jittered exponential backoff.
A tunnel is `up` (its remote end answered), `connecting` (the connection is being made), `down` (the last
error says why) or `closed` (by the operator). Textual-free: the CLI (`tunnels up`) and the TUI use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from console.model.tunnels import TunnelSpec, TunnelState, TunnelView
from console.text import clean_line
from console.transport.base import ByteReader, ByteWriter, Transport

CHUNK = 64 * 1024
OPEN_TIMEOUT_S = 10.0  # one channel open through SSH (a carried connection, a remote-end check)
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
STABLE_S = 30.0  # a connection that held this long was not flapping
JITTER = 0.25  # each wait is the backoff times 1 +/- this: many tunnels never retry in step


def backoff_delay(failures: int, *, first: float = BACKOFF_FIRST_S, most: float = BACKOFF_MAX_S) -> float:
    """The wait before try number failures+1: doubling from `first` up to `most`, jittered."""
    base = min(most, first * 2 ** max(0, failures - 1))
    return float(base * random.uniform(1 - JITTER, 1 + JITTER))


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {OPEN_TIMEOUT_S:g}s"
    return clean_line(str(exc) or type(exc).__name__)


@dataclass
class _Tunnel:
    spec: TunnelSpec
    state: TunnelState = "closed"
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    error: str | None = None
    server: asyncio.Server | None = None
    port: int | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    carried: set[asyncio.Task[None]] = field(default_factory=set)

    def view(self) -> TunnelView:
        return TunnelView(
            self.spec,
            self.state,
            self.since,
            self.port,
            self.error,
            self.bytes_in,
            self.bytes_out,
            len(self.carried),
        )


class TunnelService:
    """The planned tunnels over `transports` (node name -> its transport, shared with whoever else uses
    it). `on_change(view)` is called on every state change (not on traffic). Use `async with` or call
    `start()` and `aclose()`."""

    def __init__(
        self,
        specs: tuple[TunnelSpec, ...],
        transports: Mapping[str, Transport],
        *,
        on_change: Callable[[TunnelView], None] | None = None,
        backoff_first: float = BACKOFF_FIRST_S,
        backoff_max: float = BACKOFF_MAX_S,
    ) -> None:
        self._tunnels = {spec.name: _Tunnel(spec) for spec in specs}
        self._transports = transports
        self._on_change = on_change
        self._first, self._most = backoff_first, backoff_max
        self._supervisors: dict[str, asyncio.Task[None]] = {}
        self._recheck: dict[str, asyncio.Event] = {}
        self.changed = asyncio.Event()  # set on every state change; whoever waits clears it

    async def __aenter__(self) -> TunnelService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def views(self) -> tuple[TunnelView, ...]:
        return tuple(tunnel.view() for tunnel in self._tunnels.values())

    def view(self, name: str) -> TunnelView:
        return self._tunnels[name].view()

    async def start(self) -> None:
        for name in self._tunnels:
            await self.open(name)

    def _set(self, tunnel: _Tunnel, state: TunnelState, error: str | None = None) -> None:
        if (tunnel.state, tunnel.error) == (state, error):
            return
        if tunnel.state != state:
            tunnel.since = datetime.now(UTC)
        tunnel.state, tunnel.error = state, error
        self.changed.set()
        if self._on_change is not None:
            self._on_change(tunnel.view())

    async def open(self, name: str) -> TunnelView:
        """Bind the tunnel's local end (if not yet) and have its node's supervisor carry it."""
        tunnel = self._tunnels[name]
        if tunnel.server is None:
            spec = tunnel.spec
            transport = self._transports.get(spec.node)
            if transport is None:
                self._set(tunnel, "down", f"node {spec.node} is not connected by this console")
                return tunnel.view()
            try:
                tunnel.server = await asyncio.start_server(
                    lambda r, w: self._carry(tunnel, transport, r, w), "127.0.0.1", spec.local_port or 0
                )
            except OSError as exc:
                taken = exc.errno == errno.EADDRINUSE
                why = "is in use" if taken else f"cannot be opened: {exc.strerror or exc}"
                self._set(tunnel, "down", f"127.0.0.1:{spec.local_port or 0} {why}")
                return tunnel.view()
            tunnel.port = int(tunnel.server.sockets[0].getsockname()[1])
            self._set(tunnel, "connecting", tunnel.error)
        self._supervise(tunnel.spec.node)
        return tunnel.view()

    async def close(self, name: str) -> TunnelView:
        """Unbind the local end and end its carried connections; the node's connection stays."""
        tunnel = self._tunnels[name]
        server, tunnel.server = tunnel.server, None
        if server is not None:
            server.close()
        carried = set(tunnel.carried)
        for task in carried:
            task.cancel()
        if carried:
            await asyncio.wait(carried)
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        tunnel.port = None
        self._set(tunnel, "closed")
        return tunnel.view()

    async def aclose(self) -> None:
        supervisors, self._supervisors = list(self._supervisors.values()), {}
        for task in supervisors:
            task.cancel()
        if supervisors:
            await asyncio.wait(supervisors)
        for name in self._tunnels:
            await self.close(name)

    # --- the node's connection ---------------------------------------------------------------------------

    def _open_on(self, node: str) -> list[_Tunnel]:
        return [t for t in self._tunnels.values() if t.spec.node == node and t.server is not None]

    def _supervise(self, node: str) -> None:
        task = self._supervisors.get(node)
        if task is not None and not task.done():
            self._recheck.setdefault(node, asyncio.Event()).set()  # a tunnel opened: check it now
            return
        self._recheck[node] = asyncio.Event()
        self._supervisors[node] = asyncio.create_task(self._keep(node), name=f"tunnels:{node}")

    async def _keep(self, node: str) -> None:
        transport = self._transports[node]
        failures = 0
        while self._open_on(node):
            for tunnel in self._open_on(node):
                if tunnel.state != "up":
                    self._set(tunnel, "connecting", tunnel.error)
            try:
                await transport.connect(force=True)
            except Exception as exc:  # the node's trouble, whatever it is: said on each tunnel, retried
                failures += 1
                for tunnel in self._open_on(node):
                    self._set(tunnel, "down", f"{node}: {_why(exc)}")
                await self._pause(node, backoff_delay(failures, first=self._first, most=self._most))
                continue
            started = asyncio.get_running_loop().time()
            lost = await self._while_connected(node, transport)
            for tunnel in self._open_on(node):
                self._set(tunnel, "connecting", f"{node}: {lost}")
            # A connection that held a while starts the backoff afresh; one that keeps dropping backs off.
            held = asyncio.get_running_loop().time() - started
            failures = 1 if held > STABLE_S else failures + 1
            await self._pause(node, backoff_delay(failures, first=self._first, most=self._most))

    async def _pause(self, node: str, seconds: float) -> None:
        """Wait `seconds`, or less when a tunnel of the node opens (cancellable)."""
        event = self._recheck[node]
        event.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)

    async def _while_connected(self, node: str, transport: Transport) -> str:
        """Check the tunnels' remote ends until the connection closes; returns why it ended."""
        closed = asyncio.ensure_future(_closed(transport))
        checks = 0
        try:
            while not closed.done():
                event = self._recheck[node]
                event.clear()  # before the checks: a tunnel opened meanwhile sets it again
                down = 0
                for tunnel in self._open_on(node):
                    if tunnel.state != "up" or checks == 0:
                        down += not await self._check(tunnel, transport)
                checks += 1
                # A tunnel whose remote end refused is checked again after a backoff; otherwise only a
                # newly opened tunnel (or a failed carried connection) wakes this before the close.
                wait = backoff_delay(checks, first=self._first, most=self._most) if down else None
                woke = asyncio.ensure_future(event.wait())
                try:
                    await asyncio.wait({closed, woke}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    woke.cancel()
            return closed.result()
        finally:
            closed.cancel()

    async def _check(self, tunnel: _Tunnel, transport: Transport) -> bool:
        spec = tunnel.spec
        try:
            async with asyncio.timeout(OPEN_TIMEOUT_S):
                _, writer = await transport.open_tcp(spec.remote_host, spec.remote_port)
        except Exception as exc:  # refused, unreachable, the channel denied: the tunnel is down, and why
            self._set(tunnel, "down", f"{spec.node}: {spec.remote} did not answer: {_why(exc)}")
            return False
        _close(writer)
        self._set(tunnel, "up")
        return True

    # --- one carried connection --------------------------------------------------------------------------

    async def _carry(
        self,
        tunnel: _Tunnel,
        transport: Transport,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        tunnel.carried.add(task)
        spec = tunnel.spec
        try:
            try:
                async with asyncio.timeout(OPEN_TIMEOUT_S):
                    remote_reader, remote_writer = await transport.open_tcp(
                        spec.remote_host, spec.remote_port
                    )
            except Exception as exc:  # this connection is refused; the tunnel's state says why
                if tunnel.state == "up":
                    self._set(tunnel, "down", f"{spec.node}: {spec.remote}: {_why(exc)}")
                    self._recheck.setdefault(spec.node, asyncio.Event()).set()
                _close(writer)
                return
            if tunnel.state != "up":
                self._set(tunnel, "up")
            try:
                await asyncio.gather(
                    self._pipe(reader, remote_writer, tunnel, "bytes_out"),
                    self._pipe(remote_reader, writer, tunnel, "bytes_in"),
                )
            finally:
                _close(remote_writer)
                _close(writer)
        finally:
            tunnel.carried.discard(task)

    @staticmethod
    async def _pipe(reader: Any, writer: ByteWriter, tunnel: _Tunnel, counter: str) -> None:
        source: ByteReader = reader
        try:
            while data := await source.read(CHUNK):
                writer.write(data)
                setattr(tunnel, counter, getattr(tunnel, counter) + len(data))
                await writer.drain()
            write_eof = getattr(writer, "write_eof", None)
            if write_eof is not None:
                with contextlib.suppress(OSError, RuntimeError):
                    write_eof()
        except Exception:  # either end went away: the other is closed by the caller
            pass


async def _closed(transport: Transport) -> str:
    """Returns once the node's connection has closed (never, for a local node), with why."""
    connection = getattr(transport, "connection", None)
    if connection is None:
        await asyncio.Event().wait()
    try:
        conn = await connection()  # type: ignore[misc]
        await conn.wait_closed()
    except Exception as exc:
        return f"connection lost: {_why(exc)}"
    return "connection lost"


def _close(writer: ByteWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()
