"""A container's logs for the log view and the CLI: tail and since choices, Docker's timestamps, and a follow
that survives the container restarting. Every line is cleaned (`console.text.clean_text`) and capped, and
memory stays bounded whatever the container prints (a line that never ends, a `\\r` progress bar).

    async for event in stream_logs(transport, node, "comfy", LogQuery(tail=1000, since=600)):
        if isinstance(event, LogLine): ...    # event.text, event.stream, event.time
        else: ...                             # LogStatus: event.state, event.detail

Reading logs changes nothing on the node: it is not audited. Closing the generator closes the stream.
"""

from __future__ import annotations

import asyncio
import calendar
import re
import struct
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import aiodocker
import aiohttp

from console.actions import DETAIL_LIMIT, ActionError
from console.collectors.docker import DOCKER_CALL_ERRORS, docker_client
from console.inventory.model import Node
from console.text import clean_line, clean_text
from console.transport.base import Transport

LINE_LIMIT = 4096  # characters of one log line kept (after cleaning)
PENDING_LIMIT = 64 * 1024  # bytes of a line not yet ended kept while waiting for its newline
FRAME_LIMIT = 1024 * 1024  # bytes of one multiplexed frame read (dockerd's log messages are <= 16 KiB)
TAIL_CHOICES: tuple[int | None, ...] = (100, 1000, None)  # None: the whole log
SINCE_CHOICES: tuple[float | None, ...] = (None, 600.0, 3600.0)  # seconds back; None: no limit
RETRY_MAX_S = 5.0

_STREAMS = {1: "stdout", 2: "stderr"}
_STAMP = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) ")

_LIVE = ("running", "paused")  # states whose log stream stays open

LogState = Literal["connecting", "following", "reconnecting", "waiting", "ended"]


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Which lines: the last `tail` (None: all) of those newer than `since` seconds ago (None: any)."""

    tail: int | None = 200
    since: float | None = None
    follow: bool = True

    def describe(self) -> str:
        what = "all lines" if self.tail is None else f"last {self.tail} lines"
        if self.since is not None:
            what += f" of the last {_duration(self.since)}"
        return what + (", following" if self.follow else "")


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line as the operator may see it: cleaned, capped, no newline; `time` is Docker's (UTC)."""

    text: str
    stream: str = "stdout"  # stdout or stderr ("stdout" for a TTY container: Docker cannot tell)
    time: datetime | None = None

    def shown(self, timestamps: bool) -> str:
        if not timestamps or self.time is None:
            return self.text
        return f"{self.time.isoformat(timespec='milliseconds').replace('+00:00', 'Z')} {self.text}"


@dataclass(frozen=True, slots=True)
class LogStatus:
    """Where the stream is. connecting: no answer yet; following: connected, new lines come as written
    (`detail` says "no output yet" until one did); reconnecting: the stream broke or the container
    restarted; waiting: the container is stopped, waiting for it to start again; ended: nothing more."""

    state: LogState
    detail: str


LogEvent = LogLine | LogStatus


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


def parse_stamp(raw: bytes) -> tuple[datetime | None, bytes]:
    """Docker's `timestamps=1` prefix (RFC 3339, nanoseconds) split off a line; (None, raw) without one."""
    match = _STAMP.match(raw)
    if match is None:
        return None, raw
    base, fraction, zone = (part.decode("ascii") if part else "" for part in match.groups())
    zone = "+00:00" if zone == "Z" else zone
    try:
        when = datetime.fromisoformat(f"{base}.{fraction[:6].ljust(6, '0')}{zone}").astimezone(UTC)
    except ValueError:
        return None, raw
    return when, raw[match.end() :]


def _docker_since(when: datetime) -> str:
    """A `since` parameter Docker reads exactly (seconds.nanoseconds; a float would round)."""
    return f"{calendar.timegm(when.utctimetuple())}.{when.microsecond * 1000:09d}"


@dataclass
class _Splitter:
    """Bytes of one stream into lines, holding at most PENDING_LIMIT bytes of an unfinished line."""

    stream: str
    pending: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[LogLine]:
        lines: list[LogLine] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            self._add(data[start:] if end < 0 else data[start:end])
            if end < 0:
                return lines
            lines.append(self._line())
            start = end + 1

    def flush(self) -> list[LogLine]:
        return [self._line()] if self.pending else []

    def _add(self, part: bytes) -> None:
        self.pending += part
        if len(self.pending) <= PENDING_LIMIT:
            return
        # A progress bar redraws with \r: only what follows the last one is still on screen.
        redraw = self.pending.rfind(b"\r")
        if redraw > 0:
            stamp = _STAMP.match(self.pending)
            keep = bytes(self.pending[: stamp.end()]) if stamp else b""
            self.pending[:] = keep + self.pending[redraw:]
        del self.pending[PENDING_LIMIT:]

    def _line(self) -> LogLine:
        when, raw = parse_stamp(bytes(self.pending))
        self.pending.clear()
        text = clean_text(raw.decode("utf-8", errors="replace").rstrip("\r"), limit=LINE_LIMIT)
        return LogLine(text, self.stream, when)


async def _frames(
    response: aiohttp.ClientResponse, tty: bool
) -> AsyncGenerator[list[tuple[int, bytes]], None]:
    """Batches of (stream 1/2, bytes) from Docker's multiplexed log stream, one batch per chunk received
    (parsing frames out of a buffer, not two awaits per frame); raw chunks (as stdout) for a TTY."""
    content = response.content
    if tty:
        async for chunk in content.iter_any():
            yield [(1, chunk)]
        return
    buffer = bytearray()
    skip = 0  # bytes still to drop of a frame larger than FRAME_LIMIT
    async for chunk in content.iter_any():
        if skip:
            cut = min(skip, len(chunk))
            skip, chunk = skip - cut, chunk[cut:]
        buffer += chunk
        frames: list[tuple[int, bytes]] = []
        at = 0
        while len(buffer) - at >= 8:
            kind, length = struct.unpack_from(">BxxxL", buffer, at)
            take = min(length, FRAME_LIMIT)
            if len(buffer) - at - 8 < take:
                break  # the frame's end has not come yet (at most FRAME_LIMIT bytes wait)
            frames.append((kind if kind in _STREAMS else 1, bytes(buffer[at + 8 : at + 8 + take])))
            at += 8 + take
            if length > take:  # larger than any dockerd writes: keep the head, never hold the rest
                held = min(length - take, len(buffer) - at)
                at += held
                skip = length - take - held
        del buffer[:at]
        if frames:
            yield frames


class _Silent(TimeoutError):
    """Docker did not answer (inspect, or the log request's headers) within the node's command timeout."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"Docker did not answer within {seconds:g}s")


def describe_docker_error(exc: BaseException, container: str) -> str:
    """One clean line for a failed Docker call about `container` (restarts and log views alike)."""
    if isinstance(exc, aiodocker.DockerError):
        if exc.status == 404:
            return f"no container {container!r}"
        # dockerd's message quotes the tenant's command and paths raw (C1, bidi, ESC): data, never control
        return clean_line(f"Docker API error {exc.status}: {exc.message}", limit=DETAIL_LIMIT)
    if isinstance(exc, _Silent):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return "timed out"
    return clean_line(str(exc) or type(exc).__name__, limit=DETAIL_LIMIT)


class _Follower:
    def __init__(self, transport: Transport, node: Node, container: str, query: LogQuery) -> None:
        self.transport, self.node, self.container, self.query = transport, node, container, query
        self.last: datetime | None = None  # the newest line's time: a reconnect asks Docker from there
        self.count = 0

    @property
    def deadline(self) -> float:
        return self.node.ssh.command_timeout

    async def inspect(self) -> dict[str, Any]:
        """The container's inspect, within the node's command timeout (_Silent past it)."""
        try:
            async with asyncio.timeout(self.deadline):
                client = await docker_client(self.transport, self.node)
                info: dict[str, Any] = await client.containers.container(self.container).show()
        except TimeoutError as exc:
            raise _Silent(self.deadline) from exc
        return info

    async def open(self, info: dict[str, Any], first: bool) -> aiohttp.ClientResponse:
        params: dict[str, str] = {"stdout": "1", "stderr": "1", "timestamps": "1"}
        params["follow"] = "1" if self.query.follow else "0"
        if first:
            params["tail"] = "all" if self.query.tail is None else str(max(self.query.tail, 0))
            if self.query.since is not None:
                params["since"] = str(int(datetime.now(UTC).timestamp() - self.query.since))
        else:  # after a restart: everything since the last line seen, or since the new run started
            params["tail"] = "all"
            started = _started(info)
            since = self.last or started
            if since is not None:
                params["since"] = _docker_since(since)
        # The deadline covers the request up to the response headers; the body (a follow) has none.
        try:
            async with asyncio.timeout(self.deadline):
                client = await docker_client(self.transport, self.node)
                response: aiohttp.ClientResponse = await client._do_query(
                    f"containers/{info.get('Id') or self.container}/logs",
                    "GET",
                    params=params,
                    timeout=aiohttp.ClientTimeout(),
                )
        except TimeoutError as exc:
            raise _Silent(self.deadline) from exc
        return response

    async def lines(self, response: aiohttp.ClientResponse, tty: bool) -> AsyncGenerator[LogLine, None]:
        splitters = {kind: _Splitter(name) for kind, name in _STREAMS.items()}
        try:
            async for frames in _frames(response, tty):
                for kind, data in frames:
                    for line in splitters[kind].feed(data):
                        if self._new(line):
                            yield line
        except (aiohttp.ClientError, OSError):
            pass  # the stream broke: what came is shown, the caller decides whether to reconnect
        finally:
            response.close()
        for splitter in splitters.values():
            for line in splitter.flush():
                if self._new(line):
                    yield line

    def _new(self, line: LogLine) -> bool:
        if line.time is not None:
            if self.last is not None and line.time <= self.last:
                return False  # already shown before a reconnect
            self.last = line.time
        self.count += 1
        return True


def _started(info: dict[str, Any]) -> datetime | None:
    when, _ = parse_stamp(str(info.get("State", {}).get("StartedAt", "")).encode() + b" ")
    return when


def _state(info: dict[str, Any]) -> str:
    return str(info.get("State", {}).get("Status", "unknown"))


async def stream_logs(
    transport: Transport,
    node: Node,
    container: str,
    query: LogQuery | None = None,
    *,
    reconnect: bool = True,
    poll_s: float = 1.0,
) -> AsyncGenerator[LogEvent, None]:
    """The container's log as LogStatus and LogLine events (see the module doc).

    Without follow: the lines, then LogStatus("ended"). With follow: lines as they come; when the stream ends
    (the container stopped or restarted, the connection broke) and `reconnect`, it waits for the container
    to run again and goes on from the last line shown, without repeats. Raises ActionError only when the
    first connection fails (no such container, no daemon); later trouble is a "reconnecting" status.
    """
    query = query or LogQuery()
    follower = _Follower(transport, node, container, query)
    yield LogStatus("connecting", f"connecting to {node.name}…")
    delay = poll_s
    while True:
        try:
            info = await follower.inspect()
            response = await follower.open(info, first=True)
            break
        except _Silent as exc:
            # A daemon that accepts and never answers: say so and keep trying while the view follows;
            # a one-shot read (tail_logs) fails with the reason instead of hanging.
            if not (query.follow and reconnect):
                raise ActionError(f"{node.name}: logs of {container}: {exc}") from exc
            yield LogStatus("reconnecting", f"{exc}: retrying")
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
        except DOCKER_CALL_ERRORS as exc:
            raise ActionError(
                f"{node.name}: logs of {container}: {describe_docker_error(exc, container)}"
            ) from exc
    delay = poll_s
    while True:
        if query.follow:
            more = "" if follower.count else ", no output yet"
            yield LogStatus("following", f"following {query.describe().removesuffix(', following')}{more}")
        before = follower.count
        tty = bool(info.get("Config", {}).get("Tty"))
        async for line in follower.lines(response, tty):
            yield line
        if not query.follow:
            yield LogStatus("ended", f"{follower.count} lines")
            return
        if not reconnect:
            yield LogStatus("ended", "the log stream ended (the container stopped?)")
            return
        got = follower.count > before
        opened = False
        while not opened:
            try:
                info = await follower.inspect()
                if _state(info) not in _LIVE:  # stopped, or between two runs of a restart loop
                    yield LogStatus(
                        "waiting", f"{container} is {_state(info)}: waiting for it to start again"
                    )
                    while _state(info) not in _LIVE:
                        await asyncio.sleep(poll_s)
                        info = await follower.inspect()
                elif not got:
                    await asyncio.sleep(delay)  # ended at once, still running: do not spin
                yield LogStatus("reconnecting", f"{container} is {_state(info)}: reconnecting")
                response = await follower.open(info, first=False)
                opened, delay = True, poll_s
            except aiodocker.DockerError as exc:
                if exc.status == 404:
                    yield LogStatus("ended", f"{container} was removed")
                    return
                yield LogStatus("reconnecting", f"{describe_docker_error(exc, container)}: retrying")
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
            except DOCKER_CALL_ERRORS as exc:
                yield LogStatus("reconnecting", f"{describe_docker_error(exc, container)}: retrying")
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
