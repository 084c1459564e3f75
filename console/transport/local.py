"""LocalTransport: asyncio subprocesses on this machine, with the same deadlines as SSH."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from datetime import datetime

from console.transport.base import ByteReader, ByteWriter, CommandResult, CommandTimeout


class LocalTransport:
    def __init__(self, node_name: str, *, command_timeout: float = 30.0) -> None:
        self._node_name = node_name
        self._command_timeout = command_timeout

    @property
    def node_name(self) -> str:
        return self._node_name

    @property
    def is_local(self) -> bool:
        return True

    @property
    def connected(self) -> bool:
        return True

    @property
    def connect_seconds(self) -> float | None:
        return None  # nothing to connect to

    @property
    def connected_at(self) -> datetime | None:
        return None

    async def connect(self, *, force: bool = False) -> None:
        return None

    async def run(self, command: str, *, timeout: float | None = None) -> CommandResult:
        deadline = timeout if timeout is not None else self._command_timeout
        started = time.monotonic()
        # A session of its own, so a timeout can kill the whole process group, not just the shell.
        process = await asyncio.create_subprocess_shell(
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=deadline)
        except TimeoutError as exc:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            raise CommandTimeout(f"{self._node_name}: {command!r} still running after {deadline:g}s") from exc
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            raise
        return CommandResult(
            command=command,
            exit_status=process.returncode if process.returncode is not None else -1,
            stdout=stdout.decode("utf-8", "replace"),
            stderr=stderr.decode("utf-8", "replace"),
            duration_s=time.monotonic() - started,
        )

    async def open_unix_socket(self, path: str) -> tuple[ByteReader, ByteWriter]:
        return await asyncio.open_unix_connection(path)

    async def open_tcp(self, host: str, port: int) -> tuple[ByteReader, ByteWriter]:
        return await asyncio.open_connection(host, port)

    async def forward_unix_socket(self, remote_path: str) -> str:
        return remote_path  # already on this machine

    async def forward_tcp(self, host: str, port: int) -> int:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"a local node reaches {host}:{port} directly; no forward needed")
        return port

    async def close(self) -> None:
        return None
