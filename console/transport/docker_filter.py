"""The read-only Docker API filter: a local unix-socket proxy in front of a node's forwarded Docker socket.

`ReadOnlyTransport.forward_unix_socket` hands this proxy's path to the Docker collectors instead of the
forwarded socket. It passes GET and HEAD requests without a body or an Upgrade, streaming the answers back
(keep-alive, Content-Length, chunked, the endless `GET /events`), and answers anything else `403` with a
JSON `{"message": ...}` as dockerd's own errors look, so even a buggy collector cannot restart a container.
Every request head is parsed strictly and written afresh, so dockerd reads exactly the request judged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from dataclasses import dataclass

from console.transport.base import Transport

MAX_HEAD = 64 * 1024
_CHUNK = 64 * 1024
# A reply larger than this is cut (the connection closed), so a node cannot make --check hold gigabytes;
# the list of 1000 containers with their labels is a few MiB. Endless streams (events, logs, stats) are
# read line by line by their readers, which bound each line, and are not cut here.
MAX_RELAY_BODY = 16 * 1024 * 1024
_STREAMS = re.compile(r"(/v[0-9.]+)?(/events|/containers/[^/?]+/(logs|stats))(\?.*)?")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_TARGET = re.compile(r"/[\x21-\x7e]*")
READ_METHODS = frozenset({"GET", "HEAD"})


class _Refused(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name), None)

    def encode(self) -> bytes:
        """Written afresh from what was parsed, so dockerd reads exactly the request that was judged."""
        lines = [f"{self.method} {self.target} {self.version}", *(f"{k}: {v}" for k, v in self.headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_request(head: bytes) -> _Request:
    """A request head (through the blank line), strictly: CRLF only, no folding, tokens where due."""
    lines = head.decode("latin-1").split("\r\n")
    if lines[-2:] != ["", ""] or any("\r" in line or "\n" in line for line in lines):
        raise _Refused(400, "Bad Request", "malformed request head")
    words = lines[0].split(" ")
    if len(words) != 3 or not _TOKEN.fullmatch(words[0]) or words[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise _Refused(400, "Bad Request", "malformed request line")
    if not _TARGET.fullmatch(words[1]):
        raise _Refused(400, "Bad Request", "request target must be an absolute path")
    headers = []
    for line in lines[1:-2]:
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name) or any(ord(c) < 32 and c != "\t" for c in value):
            raise _Refused(400, "Bad Request", "malformed header line")
        headers.append((name, value.strip(" \t")))
    return _Request(words[0], words[1], words[2], tuple(headers))


def judge(request: _Request) -> None:
    """Raise _Refused unless the request only reads: GET/HEAD, no body, no protocol upgrade."""
    call = f"{request.method} {request.target.split('?', 1)[0]}"
    if request.method not in READ_METHODS:
        raise _Refused(
            403, "Forbidden", f"opsconsole read-only mode: {call} refused (only GET and HEAD pass)"
        )
    body = [
        value for name, value in request.headers if name.lower() in ("content-length", "transfer-encoding")
    ]
    if any(value.strip() != "0" for value in body):  # Transfer-Encoding is never "0"
        raise _Refused(403, "Forbidden", f"opsconsole read-only mode: {call} with a body refused")
    connection = {token.strip().lower() for token in (request.header("connection") or "").split(",")}
    if request.header("upgrade") is not None or "upgrade" in connection or call.endswith("/attach/ws"):
        raise _Refused(403, "Forbidden", f"opsconsole read-only mode: {call} upgrade refused (attach)")


class _Gone(Exception):
    """The client or dockerd went away: drop the connection."""


class DockerApiFilter:
    """A unix-socket server here; each connection gets its own upstream connection to dockerd."""

    def __init__(self, inner: Transport, remote_path: str, path: str) -> None:
        self._inner, self._remote, self.path = inner, remote_path, path
        self._server: asyncio.AbstractServer | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._server = await asyncio.start_unix_server(self._accept, path=self.path, limit=MAX_HEAD)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=1.0)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        opened = [writer]
        try:
            await self._serve(_Buffered(reader), writer, opened)
        except (Exception, asyncio.CancelledError):
            pass  # a broken client, dockerd gone, the transport closing: this connection just ends
        finally:
            self._handlers.discard(task)
            for stream in opened:
                stream.close()

    async def _serve(
        self, client: _Buffered, writer: asyncio.StreamWriter, opened: list[asyncio.StreamWriter]
    ) -> None:
        upstream: asyncio.StreamReader | None = None
        while (head := await client.read_head()) is not None:
            try:
                request = parse_request(head)
                judge(request)
            except _Refused as refused:
                await _refuse(writer, refused)
                return
            if upstream is None:
                # Asked per connection: after an SSH reconnect the forward has a new local path.
                local = await self._inner.forward_unix_socket(self._remote)
                upstream, up_writer = await asyncio.open_unix_connection(local, limit=MAX_HEAD)
                opened.append(up_writer)
            opened[-1].write(request.encode())
            await opened[-1].drain()
            keep = await _relay_watching(client, upstream, writer, request)
            if not keep or (request.header("connection") or "").strip().lower() == "close":
                return


class _Buffered:
    """The client side: request heads, with bytes read ahead (a pipelined request) kept for the next one."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader, self.buffer = reader, b""

    async def read_head(self) -> bytes | None:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            if len(self.buffer) > MAX_HEAD:
                raise _Gone("request head too long")
            data = await self.reader.read(_CHUNK)
            if not data:
                return None  # closed between requests (or mid-head: nothing to answer)
            self.buffer += data
        head, self.buffer = self.buffer[: end + 4], self.buffer[end + 4 :]
        return head


async def _refuse(writer: asyncio.StreamWriter, refused: _Refused) -> None:
    body = ('{"message": "' + refused.message.replace("\\", "\\\\").replace('"', '\\"') + '"}\n').encode()
    head = (
        f"HTTP/1.1 {refused.status} {refused.reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + body)
    with contextlib.suppress(OSError):
        await writer.drain()


async def _relay_watching(
    client: _Buffered, upstream: asyncio.StreamReader, writer: asyncio.StreamWriter, request: _Request
) -> bool:
    """Relay one response while watching the client: gone → stop (ends an endless `GET /events`)."""
    limit = None if _STREAMS.fullmatch(request.target) else MAX_RELAY_BODY
    relay = asyncio.ensure_future(_relay_response(upstream, writer, request.method == "HEAD", limit))
    watch = asyncio.ensure_future(client.reader.read(_CHUNK))
    try:
        done, _ = await asyncio.wait({relay, watch}, return_when=asyncio.FIRST_COMPLETED)
        if watch in done:
            data = watch.result()
            if not data:
                raise _Gone("client closed")
            client.buffer += data  # a pipelined request: its turn comes after this response
        return await relay
    finally:
        relay.cancel()
        watch.cancel()  # still waiting for data, so no byte is lost
        # Let both unwind before the next read_head(): a StreamReader takes one waiting reader at a time.
        await asyncio.gather(relay, watch, return_exceptions=True)


async def _relay_response(
    upstream: asyncio.StreamReader, writer: asyncio.StreamWriter, head_only: bool, limit: int | None = None
) -> bool:
    """Copy one response through; True when the connection may carry another request.

    A body over `limit` bytes: a declared one is answered 502 instead, one that grows past it is cut off.
    """
    budget = _Budget(limit)
    while True:
        head = await upstream.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {
            key.strip().lower(): value.strip()
            for key, _, value in (line.partition(":") for line in lines[1:])
        }
        declared = headers.get("content-length", "")
        if limit is not None and not head_only and declared.isdigit() and int(declared) > limit:
            await _refuse(writer, _Refused(502, "Bad Gateway", f"Docker API reply larger than {limit} bytes"))
            return False
        writer.write(head)
        if status == 101:
            raise _Gone("upgrade")  # never asked for: refused on the way in
        if 100 <= status < 200:
            continue
        keep = headers.get("connection", "").lower() != "close" and lines[0].startswith("HTTP/1.1")
        if head_only or status in (204, 304):
            await writer.drain()
            return keep
        if "chunked" in headers.get("transfer-encoding", "").lower():
            await _relay_chunked(upstream, writer, budget)
            return keep
        if "content-length" in headers:
            await _relay_exactly(upstream, writer, int(headers["content-length"]), budget)
            return keep
        while data := await upstream.read(_CHUNK):  # until dockerd closes
            budget.spend(len(data))
            writer.write(data)
            await writer.drain()
        return False


class _Budget:
    """Body bytes one response may still relay (None: unbounded)."""

    def __init__(self, limit: int | None) -> None:
        self.left = limit

    def spend(self, size: int) -> None:
        if self.left is not None:
            self.left -= size
            if self.left < 0:
                raise _Gone("reply too large")  # the head is out: only closing can say so


async def _relay_exactly(
    upstream: asyncio.StreamReader, writer: asyncio.StreamWriter, size: int, budget: _Budget
) -> None:
    while size > 0:
        data = await upstream.read(min(size, _CHUNK))
        if not data:
            raise _Gone("dockerd closed mid-body")
        budget.spend(len(data))
        writer.write(data)
        await writer.drain()
        size -= len(data)


async def _relay_chunked(
    upstream: asyncio.StreamReader, writer: asyncio.StreamWriter, budget: _Budget
) -> None:
    """Chunk by chunk, flushed as each arrives: the events and log streams stay live."""
    while True:
        line = await upstream.readuntil(b"\r\n")
        writer.write(line)
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (trailer := await upstream.readuntil(b"\r\n")) != b"\r\n":
                writer.write(trailer)
            writer.write(b"\r\n")
            await writer.drain()
            return
        await _relay_exactly(upstream, writer, size + 2, budget)
