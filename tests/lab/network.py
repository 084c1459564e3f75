"""Network helpers of the real-sshd lab: free ports, SSH banners, a listener that never speaks."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading

from tests.lab.common import LAB_HOST


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LAB_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def read_banner(port: int, timeout: float = 1.0) -> bytes:
    """The first line a server on port sends ("SSH-2.0-..."), b"" when it sends none in time."""
    with socket.create_connection((LAB_HOST, port), timeout=timeout) as sock:
        data = b""
        with contextlib.suppress(TimeoutError):
            while b"\n" not in data:
                chunk = sock.recv(256)
                if not chunk:
                    break
                data += chunk
        return data.split(b"\n", 1)[0]


class _SilentListener:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte: an sshd hung before its banner."""

    def __init__(self) -> None:
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.bind((LAB_HOST, 0))
        self._server.listen(128)
        self._server.setblocking(False)
        self.port: int = self._server.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lab-silent-{self.port}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._server, selectors.EVENT_READ)
            while not self._stop.is_set():
                if not selector.select(timeout=0.1):
                    continue
                with contextlib.suppress(BlockingIOError, OSError):
                    conn, _ = self._server.accept()
                    self._held.append(conn)  # hold it open, say nothing

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        for conn in self._held:
            conn.close()
        self._held.clear()
        self._server.close()
