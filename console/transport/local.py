"""LocalTransport: asyncio subprocesses on this machine, with the same deadlines as SSH."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from datetime import datetime

from console.transport.base import ByteReader, ByteWriter, CommandResult, CommandTimeout
from console.transport.bounded import READ_CHUNK, read_capped, too_large


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
            output = await asyncio.wait_for(_read_all(process), timeout=deadline)
        except TimeoutError as exc:
            await _end(process)
            raise CommandTimeout(f"{self._node_name}: {command!r} still running after {deadline:g}s") from exc
        except asyncio.CancelledError:
            _kill(process)
            _ending.add(task := asyncio.ensure_future(_end(process)))  # reaped, without holding the cancel
            task.add_done_callback(_ending.discard)
            raise
        if output is None:
            await _end(process)
            raise too_large(self._node_name, command)
        stdout, stderr = output
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


REAP_S = 1.0
_ending: set[asyncio.Future[None]] = set()


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


async def _discard(reader: asyncio.StreamReader | None) -> None:
    while reader is not None and await reader.read(READ_CHUNK):
        pass


async def _end(process: asyncio.subprocess.Process) -> None:
    """Kill the group, then read the pipes to their end and reap it, so asyncio closes its transport.

    A pipe we stopped reading stays paused and keeps the transport open after the process died (it would
    complain on stderr when collected). A process that escaped the group may hold the pipes: after REAP_S
    the transport is closed as it is.
    """
    _kill(process)
    try:
        await asyncio.wait_for(
            asyncio.gather(_discard(process.stdout), _discard(process.stderr), process.wait()), REAP_S
        )
    except (TimeoutError, OSError):
        transport = getattr(process, "_transport", None)  # asyncio keeps no public close for it
        if transport is not None:
            transport.close()


async def _read_all(process: asyncio.subprocess.Process) -> tuple[bytes, bytes] | None:
    """stdout and stderr to their end, then the exit; None past MAX_OUTPUT_BYTES (reading stopped)."""
    assert process.stdout is not None
    assert process.stderr is not None
    output = await read_capped([process.stdout, process.stderr])
    if output is None:
        return None
    await process.wait()
    return output[0], output[1]
