"""Service probes through the node's SSH connection, and the node's listener table.

Each HTTP probe opens a direct-tcpip stream from the node to 127.0.0.1:PORT (`Transport.open_tcp`; a plain
connection for a local node) and speaks HTTP/1.1 itself, so a service can stay bound to localhost and still be
checked. HTTPS runs TLS in memory (`ssl.MemoryBIO` + `SSLObject`), because an SSH channel is not a socket.
Certificates are not verified: these are the node's own localhost services; the subject and expiry are kept.
What a service answers (its reason phrase, its certificate's subject, a stray banner) is cleaned by
console/text.py before it is kept.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncssh

from console.collectors.listeners import (
    LISTENERS_COMMAND,
    Listener,
    ListenerParseError,
    parse_proc_net_tcp,
)
from console.inventory.model import HttpProbe, Node, ServiceSpec
from console.model.services import ProbeOutcome as ProbeOutcome
from console.model.services import ProbeResult as ProbeResult
from console.model.services import ServicesSnapshot as ServicesSnapshot
from console.text import clean_line
from console.transport.base import ByteReader, ByteWriter, Transport, TransportError

# --- HTTP/1.1 and TLS spoken by hand over a byte stream (an SSH channel is not a socket)

USER_AGENT = "opsconsole"
CHUNK = 16 * 1024
MAX_HEAD = 64 * 1024  # we never read more of a response than this
BODY_GRACE_S = 1.0  # how long a 400's body may take to arrive when we look into it
_STATUS_LINE = re.compile(rb"^HTTP/\d(?:\.\d)? (\d{3})(?: ([^\r\n]*))?\r?\n")
# What servers answer to plain HTTP on a TLS port: nginx, then Apache and Go's net/http.
_PLAIN_TO_TLS = (b"plain http request was sent to https port", b"http request to an https server")


def build_request(host: str, port: int, path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {_hostport(host, port)}\r\nConnection: close\r\n"
        f"User-Agent: {USER_AGENT}\r\nAccept: */*\r\n\r\n"
    ).encode("ascii")


def looks_like_tls(data: bytes) -> bool:
    """A TLS record header: alert (0x15) or handshake (0x16), then major version 3."""
    return len(data) >= 2 and data[0] in (0x15, 0x16) and data[1] == 0x03


def mentions_plain_to_tls(data: bytes) -> bool:
    lowered = data.lower()
    return any(text in lowered for text in _PLAIN_TO_TLS)


def tls_handshake_mismatch(exc: BaseException, first_bytes: bytes) -> bool:
    """Whether a failed TLS handshake means the port speaks plain HTTP: what came back is HTTP text (a 400
    for our ClientHello), which OpenSSL reports as WRONG_VERSION_NUMBER. Another protocol's banner (SSH, say)
    gets the same OpenSSL error but is not a scheme mismatch, so the reply itself must look like HTTP."""
    head = first_bytes.lstrip().lower()
    if head.startswith(b"http/"):
        return True
    return getattr(exc, "reason", None) == "WRONG_VERSION_NUMBER" and head.startswith(
        (b"<html", b"<!doctype")
    )


class PlainStream:
    def __init__(self, reader: ByteReader, writer: ByteWriter) -> None:
        self._reader, self._writer = reader, writer

    async def send(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def recv(self) -> bytes:
        return await self._reader.read(CHUNK)


def _client_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # localhost services with self-signed certs; see the module doc
    context.set_alpn_protocols(["http/1.1"])
    return context


class TlsStream:
    """TLS in memory over another stream: bytes are pumped between the SSLObject's BIOs and the stream."""

    def __init__(self, inner: PlainStream) -> None:
        self._inner = inner
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = _client_context().wrap_bio(self._incoming, self._outgoing)
        self._eof = False
        self.first_bytes = b""  # the start of what the server sent, to tell plain HTTP from TLS

    async def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            await self._inner.send(data)

    async def _fill(self) -> None:
        data = await self._inner.recv()
        if len(self.first_bytes) < 64:
            self.first_bytes += data[: 64 - len(self.first_bytes)]
        if data:
            self._incoming.write(data)
        else:
            self._eof = True
            self._incoming.write_eof()

    async def handshake(self) -> None:
        """Complete the handshake. Our last flight (TLS 1.3: Finished) stays buffered and leaves with the
        first send(): one write, not two, so the node's sshd forwards one segment and Nagle's algorithm on
        its socket to the service cannot hold the request back for a delayed ACK (~40 ms)."""
        while True:
            try:
                self._tls.do_handshake()
                return
            except ssl.SSLWantReadError:
                await self._flush()
                await self._fill()

    async def send(self, data: bytes) -> None:
        self._tls.write(data)
        await self._flush()

    async def recv(self) -> bytes:
        while True:
            try:
                return self._tls.read(CHUNK)
            except ssl.SSLWantReadError:
                await self._flush()
                if self._eof:
                    return b""
                await self._fill()
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):  # close_notify, or a bare close after the body
                return b""

    def certificate(self) -> tuple[str | None, datetime | None]:
        """The server certificate's subject and expiry, when it sent one we can read."""
        der = self._tls.getpeercert(binary_form=True)
        if not der:
            return None, None
        try:
            from cryptography import x509  # asyncssh's own dependency

            cert = x509.load_der_x509_certificate(der)
            return clean_line(cert.subject.rfc4514_string(), limit=300), cert.not_valid_after_utc
        except (ImportError, ValueError):
            return None, None


@dataclass(frozen=True, slots=True)
class WireResponse:
    raw: bytes  # what came back, at most MAX_HEAD (+ a 400's body)
    status: int | None = None  # None: not an HTTP response (or nothing at all)
    reason: str = ""
    latency_s: float | None = None
    reset: bool = False  # the server reset the connection instead of closing it


async def read_response(stream: PlainStream | TlsStream, request: bytes, started: float) -> WireResponse:
    """Send the request; read the status line (timed) and the head, bounded; a 400's body only briefly."""
    await stream.send(request)
    raw, latency, reset = b"", None, False
    while len(raw) < MAX_HEAD and b"\r\n\r\n" not in raw and b"\n\n" not in raw:
        try:
            chunk = await stream.recv()
        except ConnectionResetError:  # what a TLS server does to plain HTTP, on a local connection
            chunk, reset = b"", True
        if not chunk:
            break
        raw += chunk
        if latency is None and b"\n" in raw:
            latency = time.monotonic() - started
        if not b"HTTP/".startswith(raw[:5]):
            break  # not HTTP: no point in waiting for more
    match = _STATUS_LINE.match(raw)
    if match is None:
        return WireResponse(raw[:MAX_HEAD], reset=reset)
    status = int(match.group(1))
    if status == 400 and not mentions_plain_to_tls(raw):
        raw += await _more_body(stream)
    reason = clean_line((match.group(2) or b"").decode("latin-1").strip(), limit=100)
    return WireResponse(raw, status, reason, latency)


async def _more_body(stream: PlainStream | TlsStream) -> bytes:
    body = b""
    try:
        async with asyncio.timeout(BODY_GRACE_S):
            while len(body) < 4096:
                chunk = await stream.recv()
                if not chunk:
                    break
                body += chunk
    except TimeoutError:
        pass
    return body[:4096]


class _Finding(Exception):
    def __init__(self, result: ProbeResult) -> None:
        super().__init__(result.detail)
        self.result = result


def _now() -> datetime:
    return datetime.now(UTC)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def probe_host(spec: ServiceSpec) -> str:
    """Where the probe connects on the node: ::1 for a service bound there, else 127.0.0.1."""
    return "::1" if spec.bind == "::1" else "127.0.0.1"


def probe_url(spec: ServiceSpec, scheme: str | None = None) -> str:
    http = spec.http or HttpProbe()
    return f"{scheme or http.scheme}://{_hostport(probe_host(spec), spec.port)}{http.path}"


def _mismatch(spec: ServiceSpec, used: str) -> ProbeResult:
    right = "http" if used == "https" else "https"
    fix = probe_url(spec, right)
    what = "HTTPS used against a plain-HTTP port" if used == "https" else "plain HTTP used against a TLS port"
    return ProbeResult(
        spec.name, None, None, "tls_mismatch", f"{what}: use {fix}", url=probe_url(spec), fix_url=fix
    )


async def _open(transport: Transport, spec: ServiceSpec, host: str) -> tuple[PlainStream, ByteWriter]:
    url = probe_url(spec)
    try:
        reader, writer = await transport.open_tcp(host, spec.port)
    except ConnectionRefusedError as exc:
        raise _Finding(ProbeResult(spec.name, None, None, "down", f"{url}: connection refused", url)) from exc
    except asyncssh.ChannelOpenError as exc:
        if "refused" in exc.reason.lower():
            detail = f"{url}: connection refused"
            raise _Finding(ProbeResult(spec.name, None, None, "down", detail, url)) from exc
        detail = f"{url}: the node's sshd would not open the stream: {clean_line(exc.reason, limit=200)}"
        raise _Finding(
            ProbeResult(spec.name, None, None, "error", detail, url, transport_failed=True)
        ) from exc
    except (TransportError, asyncssh.Error) as exc:
        detail = f"{url}: {clean_line(exc, limit=300)}"
        raise _Finding(
            ProbeResult(spec.name, None, None, "error", detail, url, transport_failed=True)
        ) from exc
    except OSError as exc:
        raise _Finding(
            ProbeResult(spec.name, None, None, "down", f"{url}: {clean_line(exc.strerror or exc)}", url)
        ) from exc
    return PlainStream(reader, writer), writer


async def _speaks_tls(transport: Transport, spec: ServiceSpec, host: str) -> bool:
    """A second look at a port that closed on plain HTTP without a word: does it complete a TLS handshake?"""
    try:
        plain, writer = await _open(transport, spec, host)
    except _Finding:
        return False
    tls = TlsStream(plain)
    try:
        await tls.handshake()
        return True
    except (OSError, asyncssh.Error, TransportError):
        return looks_like_tls(tls.first_bytes)
    finally:
        writer.close()


async def _probe(transport: Transport, spec: ServiceSpec, http: HttpProbe, started: float) -> ProbeResult:
    host, url = probe_host(spec), probe_url(spec)
    plain, writer = await _open(transport, spec, host)
    tls: TlsStream | None = None
    try:
        stream: PlainStream | TlsStream = plain
        if http.scheme == "https":
            tls = TlsStream(plain)
            try:
                await tls.handshake()
            except OSError as exc:  # ssl.SSLError is an OSError
                if tls_handshake_mismatch(exc, tls.first_bytes):
                    return _mismatch(spec, "https")
                said = f" (the port said {tls.first_bytes[:24]!r})" if tls.first_bytes else ""
                why = clean_line(getattr(exc, "reason", None) or exc, limit=200)
                detail = f"{url}: TLS handshake failed: {why}{said}"
                return ProbeResult(spec.name, None, None, "error", detail, url)
            stream = tls
        response = await read_response(stream, build_request(host, spec.port, http.path), started)
    except (TransportError, asyncssh.Error) as exc:
        detail = f"{url}: {clean_line(exc, limit=300)}"
        return ProbeResult(spec.name, None, None, "error", detail, url, transport_failed=True)
    except OSError as exc:
        return ProbeResult(spec.name, None, None, "error", f"{url}: {clean_line(exc, limit=300)}", url)
    finally:
        writer.close()
    return await _judge(transport, spec, http, response, tls)


async def _judge(
    transport: Transport, spec: ServiceSpec, http: HttpProbe, response: WireResponse, tls: TlsStream | None
) -> ProbeResult:
    url = probe_url(spec)
    subject, not_after = tls.certificate() if tls is not None else (None, None)
    if response.status is None:
        if http.scheme == "http" and (
            looks_like_tls(response.raw)
            or (not response.raw and await _speaks_tls(transport, spec, probe_host(spec)))
        ):
            return _mismatch(spec, "http")
        if response.raw:
            what = f"not an HTTP response: {response.raw[:40]!r}"
        else:
            what = f"{'reset' if response.reset else 'closed'} the connection without a response"
        return ProbeResult(spec.name, None, None, "error", f"{url}: {what}", url)
    if http.scheme == "http" and response.status == 400 and mentions_plain_to_tls(response.raw):
        return _mismatch(spec, "http")
    status, latency = response.status, response.latency_s
    if status == http.expect:
        took = f" in {latency * 1000:.1f} ms" if latency is not None else ""
        outcome: ProbeOutcome = "ok"
        detail = " ".join(f"HTTP {status} {response.reason}".split()) + took
    else:
        outcome, detail = "unexpected_status", f"HTTP {status}, expected {http.expect}"
    return ProbeResult(
        spec.name, status, latency, outcome, detail, url, tls_subject=subject, tls_not_after=not_after
    )


async def probe_service(transport: Transport, spec: ServiceSpec) -> ProbeResult:
    """Probe one service's HTTP endpoint through the transport, all within `http.timeout`; never raises."""
    http = spec.http or HttpProbe()
    url = probe_url(spec)
    started = time.monotonic()
    try:
        return await asyncio.wait_for(_probe(transport, spec, http, started), timeout=http.timeout)
    except _Finding as finding:
        return finding.result
    except TimeoutError:
        return ProbeResult(
            spec.name, None, None, "timeout", f"{url}: no answer within {http.timeout:g}s", url
        )
    except Exception as exc:  # never raise for a service: the rest of the node's checks must still report
        detail = f"{url}: probe failed: {type(exc).__name__}: {clean_line(exc, limit=300)}"
        return ProbeResult(spec.name, None, None, "error", detail, url)


async def read_listeners(
    transport: Transport, *, timeout: float | None = None
) -> tuple[tuple[Listener, ...], str | None]:
    """The node's listening TCP sockets from one `cat /proc/net/tcp /proc/net/tcp6`, or () and why not."""
    try:
        result = await transport.run(LISTENERS_COMMAND, timeout=timeout)
    except TransportError as exc:
        return (), clean_line(exc)
    try:
        return parse_proc_net_tcp(result.stdout), None
    except ListenerParseError:
        why = clean_line(" ".join((result.stderr or result.stdout)[:4096].split()), limit=200) or "no output"
        return (), f"cannot read /proc/net/tcp (exit {result.exit_status}): {why}"


async def collect_services(
    transport: Transport, node: Node, *, timeout: float | None = None
) -> ServicesSnapshot:
    """Every HTTP probe of the node concurrently, plus the listener table; never raises."""
    started = time.monotonic()
    if not node.services:
        return ServicesSnapshot(node.name, _now(), duration_s=0.0)
    try:
        await transport.connect()
    except TransportError as exc:
        return ServicesSnapshot(
            node.name, _now(), error=clean_line(exc), duration_s=time.monotonic() - started
        )
    async with asyncio.TaskGroup() as group:
        listing = group.create_task(read_listeners(transport, timeout=timeout))
        probing = [group.create_task(probe_service(transport, spec)) for spec in node.services if spec.http]
    listeners, listeners_error = listing.result()
    return ServicesSnapshot(
        node.name,
        _now(),
        probes=tuple(task.result() for task in probing),
        listeners=listeners,
        listeners_error=listeners_error,
        duration_s=time.monotonic() - started,
    )
