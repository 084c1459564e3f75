"""SSHTransport: one persistent asyncssh connection per node, reused for every command and stream."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncssh

from console.inventory.model import Node
from console.transport.base import (
    ByteReader,
    ByteWriter,
    CommandResult,
    CommandTimeout,
    ConnectError,
    HostKeyError,
    TransportError,
)
from console.transport.pool import DEFAULT_MAX_SESSIONS, ChannelBudget, ChannelSlot, connect_slot

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
REFUSED_RETRY_FIRST_S = 0.01  # sshd frees a closed session a moment after we see it close
REFUSED_RETRY_MAX_S = 0.2
EXIT_STATUS_WAIT_S = 2.0


# Parsed known_hosts files, shared by every transport: parsing one of N entries per connect is O(N²) for a
# fleet (300 nodes: 90,000 key decodes). Re-read when the file changes (accept-new appends to it).
_KNOWN_HOSTS: dict[str, tuple[tuple[int, int, int], asyncssh.SSHKnownHosts]] = {}


def _parsed_known_hosts(path: Path) -> asyncssh.SSHKnownHosts:
    stat = path.stat()
    version = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    cached = _KNOWN_HOSTS.get(str(path))
    if cached is None or cached[0] != version:
        cached = _KNOWN_HOSTS[str(path)] = (version, asyncssh.read_known_hosts(str(path)))
    return cached[1]


class _HostKeyPolicyClient(asyncssh.SSHClient):
    """Called by asyncssh only for a key known_hosts does not trust: accept-new records it, strict refuses."""

    def __init__(self, transport: SSHTransport) -> None:
        self._transport = transport

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        return self._transport._accept_new_key(host, port, key)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport._connection_lost()


class SSHTransport:
    """Commands, unix sockets and TCP streams to one node over a single SSH connection.

    Never prompts: no password or keyboard-interactive auth, and an encrypted key without an agent fails.

    Session channels (commands and streams) go through a `ChannelBudget` of `max_sessions` (sshd's
    MaxSessions): beyond it they queue, within their own deadline, instead of being refused.
    """

    def __init__(
        self, node: Node, *, jump: SSHTransport | None = None, max_sessions: int = DEFAULT_MAX_SESSIONS
    ) -> None:
        self._node = node
        self._jump = jump
        self._max_sessions = max_sessions
        self._budget = ChannelBudget(max_sessions)
        self._lingering: set[asyncio.Task[None]] = set()
        self._conn: asyncssh.SSHClientConnection | None = None
        self._lock = asyncio.Lock()
        self._failures = 0
        self._retry_at = 0.0
        self._last_error: ConnectError | None = None
        self._had_known_entry = False
        self._forwards: dict[tuple[str, str, int], tuple[asyncssh.SSHListener, str, int]] = {}
        self._forward_dir: str | None = None
        self._connect_seconds: float | None = None
        self._connected_at: datetime | None = None

    @property
    def jump(self) -> SSHTransport | None:
        """The transport of the jump host this node is reached through, when it is an inventory node."""
        return self._jump

    @property
    def node_name(self) -> str:
        return self._node.name

    @property
    def is_local(self) -> bool:
        return False

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    @property
    def connect_seconds(self) -> float | None:
        """The last real handshake's duration (a reused connection keeps it; None before the first)."""
        return self._connect_seconds

    @property
    def connected_at(self) -> datetime | None:
        """When the current connection was made, UTC; None while there is none."""
        return self._connected_at if self.connected else None

    @property
    def budget(self) -> ChannelBudget:
        """The session-channel budget of the current connection (a new one per connection)."""
        return self._budget

    @property
    def address(self) -> str:
        port = self._node.ssh.port
        return f"{self._node.host}:{port}" if port else self._node.host

    def _known_hosts_path(self) -> Path:
        return Path(os.path.expanduser(self._node.ssh.known_hosts))

    def _known_hosts_option(self) -> asyncssh.SSHKnownHosts:
        """The parsed known_hosts to verify against; missing is an error unless accept-new may create it."""
        path = self._known_hosts_path()
        if not path.exists():
            if self._node.ssh.host_key_policy != "accept-new":
                raise HostKeyError(
                    f"{self.address}: known_hosts file {path} does not exist; host key cannot be verified "
                    "(add the node's key, or set ssh.host_key_policy: accept-new)"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
        port = self._node.ssh.port or 22
        known = _parsed_known_hosts(path)
        matches = known.match(self._node.host, "", port)
        self._had_known_entry = bool(matches[0] or matches[1])
        return known

    def _accept_new_key(self, host: str, port: int, key: asyncssh.SSHKey) -> bool:
        if self._node.ssh.host_key_policy != "accept-new" or self._had_known_entry:
            return False
        pattern = host if port == 22 else f"[{host}]:{port}"
        line = f"{pattern} {key.export_public_key().decode().strip()}\n"
        with self._known_hosts_path().open("a", encoding="utf-8") as known_hosts:
            known_hosts.write(line)
        return True

    def _connection_lost(self) -> None:
        self._conn = None

    def _connect_options(self) -> dict[str, Any]:
        ssh = self._node.ssh
        options: dict[str, Any] = {
            "known_hosts": self._known_hosts_option(),
            "connect_timeout": ssh.connect_timeout,
            "keepalive_interval": ssh.keepalive_interval,
            "keepalive_count_max": 3,
            "password": None,
            "kbdint_auth": False,
            "password_auth": False,
        }
        if ssh.user:
            options["username"] = ssh.user
        if ssh.port:
            options["port"] = ssh.port
        if ssh.identity_file:
            options["client_keys"] = [os.path.expanduser(ssh.identity_file)]
        return options

    async def connect(self, *, force: bool = False) -> None:
        """Reuse the open connection, or make one; after a failure wait out the backoff unless forced."""
        if self.connected:
            return
        async with self._lock:
            if self.connected:
                return
            if not force and self._last_error is not None and time.monotonic() < self._retry_at:
                wait = self._retry_at - time.monotonic()
                raise ConnectError(f"{self._last_error} (next try in {wait:.0f}s)")
            try:
                self._conn = await self._open()
                self._budget = ChannelBudget(self._max_sessions)  # a fresh connection: every slot free
            except ConnectError as exc:
                self._failures += 1
                backoff = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (self._failures - 1))
                self._retry_at = time.monotonic() + backoff * random.uniform(0.8, 1.2)
                self._last_error = exc
                raise
            self._failures = 0
            self._last_error = None

    async def _open(self) -> asyncssh.SSHClientConnection:
        ssh = self._node.ssh
        options = self._connect_options()
        if self._jump is not None:
            options["tunnel"] = await self._jump.connection()  # before our handshake slot: no deadlock
        elif ssh.jump:
            options["tunnel"] = ssh.jump
        try:
            # connect_timeout covers TCP, banner, key exchange and auth: a hung sshd cannot hold us.
            # Waiting for a handshake slot (bounded concurrent connects) does not count against it.
            async with connect_slot():
                started = time.monotonic()  # the handshake itself, not the wait for a slot
                conn = await asyncio.wait_for(
                    asyncssh.connect(
                        self._node.host, client_factory=lambda: _HostKeyPolicyClient(self), **options
                    ),
                    timeout=ssh.connect_timeout + 1,
                )
        except asyncssh.HostKeyNotVerifiable as exc:
            if self._had_known_entry:
                raise HostKeyError(
                    f"{self.address}: host key does NOT match {self._known_hosts_path()} — refused "
                    "(the host was reinstalled, or someone is in the middle: verify before updating it)"
                ) from exc
            raise HostKeyError(
                f"{self.address}: unknown host key, not in {self._known_hosts_path()} — refused "
                "(verify and add it, or set ssh.host_key_policy: accept-new)"
            ) from exc
        except asyncssh.PermissionDenied as exc:
            raise ConnectError(f"{self.address}: authentication failed ({exc.reason})") from exc
        except asyncssh.KeyImportError as exc:
            raise ConnectError(f"{self.address}: cannot use identity file: {exc}") from exc
        except TimeoutError as exc:
            raise ConnectError(f"{self.address}: connect timed out after {ssh.connect_timeout:g}s") from exc
        except (OSError, asyncssh.Error) as exc:
            raise ConnectError(f"{self.address}: {_describe(exc)}") from exc
        self._connect_seconds = time.monotonic() - started
        self._connected_at = datetime.now(UTC)
        return conn

    async def connection(self) -> asyncssh.SSHClientConnection:
        """The live connection (for jump hosts behind which other nodes sit)."""
        await self.connect()
        assert self._conn is not None
        return self._conn

    async def _session(
        self, command: str, deadline: float, *, stream: bool
    ) -> tuple[asyncssh.SSHClientProcess[str], ChannelSlot]:
        """A session channel running `command`, within the budget; queued (never refused) until `deadline`.

        sshd answers "open failed" beyond MaxSessions, and also for a moment after a session closed (it
        frees sessions lazily): both are retried until the deadline.
        """
        conn = await self.connection()
        budget = self._budget
        started = time.monotonic()
        retry = REFUSED_RETRY_FIRST_S

        def no_channel() -> CommandTimeout:
            return CommandTimeout(f"{self.node_name}: no channel within {deadline:g}s for {command!r}")

        while True:
            slot = budget.try_acquire(stream=stream)
            if slot is None:
                try:
                    slot = await asyncio.wait_for(
                        budget.acquire(stream=stream), max(0.0, deadline - (time.monotonic() - started))
                    )
                except TimeoutError as exc:
                    raise no_channel() from exc
            try:
                remaining = max(0.0, deadline - (time.monotonic() - started))
                process = await asyncio.wait_for(
                    conn.create_process(command, encoding="utf-8", errors="replace"), timeout=remaining
                )
            except asyncssh.ChannelOpenError as exc:
                slot.release()
                remaining = deadline - (time.monotonic() - started)
                if conn.is_closed() or not _refused_for_sessions(exc, budget):
                    raise self._command_failed(exc) from exc
                if remaining <= retry:
                    raise no_channel() from exc
                await asyncio.sleep(retry)
                retry = min(REFUSED_RETRY_MAX_S, retry * 2)
                continue
            except TimeoutError as exc:
                slot.release()
                raise no_channel() from exc
            except (OSError, asyncssh.Error) as exc:
                slot.release()
                raise self._command_failed(exc) from exc
            except BaseException:
                slot.release()
                raise
            return process, slot

    def _done_with(self, process: asyncssh.SSHClientProcess[str], slot: ChannelSlot) -> None:
        """Close the channel; give its slot back once sshd has let the session go.

        A process that ended frees its session now. One still running (cut at our deadline, a stream) keeps
        its session on the node until it exits, so the slot stays taken until the channel has closed.
        """
        process.close()  # closing the channel is the real cancel on the node's side
        if process.exit_status is not None or process.exit_signal is not None:
            slot.release()
            return
        task = asyncio.ensure_future(_release_when_closed(process, slot))
        self._lingering.add(task)
        task.add_done_callback(self._lingering.discard)

    async def run(self, command: str, *, timeout: float | None = None) -> CommandResult:
        deadline = timeout if timeout is not None else self._node.ssh.command_timeout
        started = time.monotonic()
        process, slot = await self._session(command, deadline, stream=False)
        try:
            remaining = max(0.0, deadline - (time.monotonic() - started))
            stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=remaining)
        except TimeoutError as exc:
            raise CommandTimeout(f"{self.node_name}: {command!r} still running after {deadline:g}s") from exc
        except (OSError, asyncssh.Error) as exc:
            raise self._command_failed(exc) from exc
        finally:
            self._done_with(process, slot)
        exit_status = process.exit_status
        if exit_status is None:  # killed by a signal, or the channel closed without a status
            exit_status = -1
        return CommandResult(
            command=command,
            exit_status=exit_status,
            stdout=str(stdout or ""),
            stderr=str(stderr or ""),
            duration_s=time.monotonic() - started,
        )

    async def open_stream(self, command: str, *, timeout: float | None = None) -> SSHLineStream:
        """Start a long-lived `command`; it holds one of the streams' slots until closed."""
        deadline = timeout if timeout is not None else self._node.ssh.command_timeout
        try:
            process, slot = await self._session(command, deadline, stream=True)
        except ValueError as exc:  # the budget leaves no slot to streams
            raise TransportError(f"{self.node_name}: {exc}") from exc
        return SSHLineStream(self, process, slot)

    async def stream(self, command: str, *, timeout: float | None = None) -> AsyncIterator[str]:
        """The lines `command` prints as they come; leaving the loop (or cancelling it) ends the process."""
        lines = await self.open_stream(command, timeout=timeout)
        try:
            while (line := await lines.readline()) is not None:
                yield line
        finally:
            await lines.close()

    def _command_failed(self, exc: BaseException) -> TransportError:
        if self._conn is not None and self._conn.is_closed():
            self._conn = None
        return TransportError(f"{self.node_name}: {_describe(exc)}")

    async def open_unix_socket(self, path: str) -> tuple[ByteReader, ByteWriter]:
        conn = await self.connection()
        reader, writer = await conn.open_unix_connection(path, encoding=None)
        return reader, writer

    async def open_tcp(self, host: str, port: int) -> tuple[ByteReader, ByteWriter]:
        conn = await self.connection()
        reader, writer = await conn.open_connection(host, port, encoding=None)
        return reader, writer

    async def forward_unix_socket(self, remote_path: str) -> str:
        """A local unix socket (in a private 0700 dir) forwarded to `remote_path` on the node; reused."""
        key = ("unix", remote_path, 0)
        if key in self._forwards and self.connected:
            return self._forwards[key][1]
        conn = await self.connection()
        if self._forward_dir is None:
            self._forward_dir = tempfile.mkdtemp(prefix=f"opsconsole-{self.node_name}-")  # mode 0700
        local = os.path.join(self._forward_dir, f"fwd-{len(self._forwards)}.sock")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(local)
        listener = await conn.forward_local_path(local, remote_path)
        self._forwards[key] = (listener, local, 0)
        return local

    async def forward_tcp(self, host: str, port: int) -> int:
        """A 127.0.0.1 port on this machine forwarded to host:port as seen from the node; reused."""
        key = ("tcp", host, port)
        if key in self._forwards and self.connected:
            return self._forwards[key][2]
        conn = await self.connection()
        listener = await conn.forward_local_port("127.0.0.1", 0, host, port)
        self._forwards[key] = (listener, "127.0.0.1", listener.get_port())
        return listener.get_port()

    async def close(self) -> None:
        for listener, _, _ in self._forwards.values():
            listener.close()
        self._forwards.clear()
        if self._forward_dir is not None:
            shutil.rmtree(self._forward_dir, ignore_errors=True)
            self._forward_dir = None
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            await conn.wait_closed()
        lingering, self._lingering = set(self._lingering), set()
        for task in lingering:
            task.cancel()
        if lingering:
            await asyncio.wait(lingering)


# OpenSSH refuses a session beyond MaxSessions with code 2 ("open failed"); others may use 1 or 4.
_SESSION_LIMIT_CODES = frozenset(
    {asyncssh.OPEN_CONNECT_FAILED, asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, asyncssh.OPEN_RESOURCE_SHORTAGE}
)


def _refused_for_sessions(exc: asyncssh.ChannelOpenError, budget: ChannelBudget) -> bool:
    """A refusal that other sessions explain (open now, or closed a moment ago): worth queueing again.

    With nothing else open, a refused session is the node's policy, not a limit: fail at once.
    """
    recent = time.monotonic() - budget.last_release < 1.0
    return exc.code in _SESSION_LIMIT_CODES and (budget.in_use > 0 or recent)


async def _release_when_closed(process: asyncssh.SSHClientProcess[str], slot: ChannelSlot) -> None:
    try:
        await process.wait_closed()
    finally:
        slot.release()


class SSHLineStream:
    """A long-lived process on the node over one session channel (see base.LineStream)."""

    def __init__(
        self, transport: SSHTransport, process: asyncssh.SSHClientProcess[str], slot: ChannelSlot
    ) -> None:
        self._transport = transport
        self._process = process
        self._slot = slot
        self._closed = False
        self._error: str | None = None

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def command(self) -> str:
        return str(self._process.command or "")

    @property
    def exit_status(self) -> int | None:
        return self._process.exit_status

    @property
    def exit_signal(self) -> str | None:
        signal = self._process.exit_signal
        return str(signal[0]) if signal else None

    async def readline(self) -> str | None:
        if self._closed:
            return None
        try:
            line = await self._process.stdout.readline()
        except (OSError, asyncssh.Error) as exc:
            self._error = _describe(exc)
            return None
        if not line:
            # sshd may send the exit status just after the end of output: wait (briefly) for it.
            with contextlib.suppress(TimeoutError, OSError, asyncssh.Error):
                await asyncio.wait_for(self._process.wait_closed(), EXIT_STATUS_WAIT_S)
            return None
        return line[:-1] if line.endswith("\n") else line

    def write(self, text: str) -> None:
        if self._closed:
            raise TransportError(f"{self._transport.node_name}: stream already closed")
        try:
            self._process.stdin.write(text)
        except (OSError, asyncssh.Error) as exc:
            raise TransportError(f"{self._transport.node_name}: {_describe(exc)}") from exc

    async def close(self) -> None:
        """TERM the process (sshd passes the signal on), close the channel; never waits on the node."""
        if self._closed:
            return
        self._closed = True
        if self._process.exit_status is None and self._process.exit_signal is None:
            with contextlib.suppress(OSError, asyncssh.Error):
                self._process.terminate()
        self._transport._done_with(self._process, self._slot)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, asyncssh.DisconnectError):
        return f"disconnected: {exc.reason}"
    if isinstance(exc, asyncssh.ChannelOpenError):
        return f"channel refused: {exc.reason}"
    text = str(exc) or type(exc).__name__
    return text[:300]
