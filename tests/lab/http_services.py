"""Small REAL HTTP and HTTPS servers on the lab's loopback, for the service-probe and bind-audit tests.

`LabHttpServer` is Python's ThreadingHTTPServer on (bind, ephemeral port) answering every GET with a chosen
status; with a `SelfSignedCert` it speaks TLS (real OpenSSL, handshake in the connection's own thread). Any
bind address works (0.0.0.0 and :: too, to be seen in the listener table) but tests only ever connect to
loopback. Every server is a context manager; close() stops its thread and closes its socket.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERT_COMMON_NAME = "opsconsole-lab"


@dataclass(frozen=True)
class SelfSignedCert:
    cert_path: Path
    key_path: Path
    not_after: dt.datetime

    @classmethod
    def create(cls, directory: Path, *, days: int = 2) -> SelfSignedCert:
        """A throwaway P-256 certificate for CN=opsconsole-lab, SAN 127.0.0.1 and ::1, valid for `days`."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CERT_COMMON_NAME)])
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        not_after = now + dt.timedelta(days=days)
        san = x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1"))]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(not_after)
            .add_extension(san, critical=False)
            .sign(key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / "lab-cert.pem", directory / "lab-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)
        return cls(cert_path, key_path, not_after)


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    version: str
    headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.owner.requests.append(
            SeenRequest(self.command, self.path, self.request_version, dict(self.headers.items()))
        )
        body = f"status {self.server.owner.status}\n".encode()
        self.send_response(self.server.owner.status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests assert on .requests instead
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LabHttpServer

    def server_bind(self) -> None:
        # HTTPServer.server_bind would look the address up in DNS (getfqdn); there is none here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def finish_request(self, request: Any, client_address: Any) -> None:
        context = self.owner.tls_context
        if context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(10)
        try:
            # Handshake here, in the connection's thread, so a slow or wrong client never blocks accept().
            wrapped = context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.owner.errors.append(f"{type(exc).__name__}: {getattr(exc, 'reason', None) or exc}")
            return
        try:
            super().finish_request(wrapped, client_address)
        finally:
            wrapped.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.owner.errors.append("handler error")


@dataclass(eq=False)
class LabHttpServer:
    """A real HTTP(S) server in a thread of the test process; `.port` once constructed."""

    bind: str = "127.0.0.1"
    status: int = 200
    cert: SelfSignedCert | None = None
    requests: list[SeenRequest] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    tls_context: ssl.SSLContext | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        family = socket.AF_INET6 if ":" in self.bind else socket.AF_INET
        server_class = type("_LabServer", (_Server,), {"address_family": family})
        if self.cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert.cert_path, self.cert.key_path)
            self.tls_context = context
        self._server: _Server = server_class((self.bind, 0), _Handler)
        self._server.owner = self
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"lab-http-{self.bind}-{self.port}",
            daemon=True,
        )
        self._thread.start()

    @property
    def scheme(self) -> str:
        return "https" if self.cert is not None else "http"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LabHttpServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never answers; records each client's (host, port)."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.port: int = self._sock.getsockname()[1]
        self.peers: list[tuple[str, int]] = []
        self.connected = threading.Event()  # set once a client is in
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lab-silent-http-{self.port}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self._held.append(conn)
            self.peers.append((peer[0], peer[1]))
            self.connected.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self._held:
            conn.close()
        self._sock.close()

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def tcp_socket_owner(local_port: int, remote_port: int) -> tuple[int, str, int] | None:
    """(pid, command name, uid) of the process holding the socket 127.0.0.1:local_port -> :remote_port."""
    wanted_local, wanted_remote = f"0100007F:{local_port:04X}", f"0100007F:{remote_port:04X}"
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted_local and fields[2] == wanted_remote:
            inode = fields[9]
            break
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) == target:
                    return int(proc.name), (proc / "comm").read_text().strip(), proc.stat().st_uid
        except OSError:  # the process went away, or is not ours to look into
            continue
    return None
