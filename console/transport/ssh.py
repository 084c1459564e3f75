"""SSHTransport: one persistent asyncssh connection per node, reused for every command and stream."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncssh

from console.inventory.model import Node
from console.transport.base import (
    ByteReader,
    ByteWriter,
    CommandResult,
    CommandTimeout,
    ConnectError,
    OutputTooLarge,
    TransportError,
)
from console.transport.bounded import read_capped, too_large
from console.transport.hostkeys import HostKeyCheck
from console.transport.jumps import hops, jump_node
from console.transport.pool import DEFAULT_MAX_SESSIONS, ChannelBudget, ChannelSlot
from console.transport.ssh_connect import SSHClient, connect_options, handshake, resolve
from console.transport.sshstream import SSHLineStream, describe
from console.transport.tempdirs import private_dir

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
REFUSED_RETRY_FIRST_S = 0.01  # sshd frees a closed session a moment after we see it close
REFUSED_RETRY_MAX_S = 0.2

__all__ = ["SSHLineStream", "SSHTransport"]


class SSHTransport:
    """Commands, unix sockets and TCP streams to one node over a single SSH connection.

    Never prompts: no password or keyboard-interactive auth, and an encrypted key without an agent fails.

    Session channels (commands and streams) go through a `ChannelBudget` of `max_sessions` (sshd's
    MaxSessions): beyond it they queue, within their own deadline, instead of being refused.
    """

    def __init__(
        self,
        node: Node,
        *,
        jump: SSHTransport | None = None,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        label: str | None = None,
    ) -> None:
        """`jump`: the shared transport of the jump host (transports_for makes them); without it a text
        `ssh.jump`, or a `ProxyJump` from ~/.ssh/config, gets hop transports of this one's own."""
        self._node = node
        self._jump = jump
        self._label = label
        self._own_hops: dict[str, list[SSHTransport]] = {}  # jump spec -> its hops, first to last
        self._riders: set[int] = set()  # a shared text-jump hop: the transports connected through it
        self._max_sessions = max_sessions
        self._budget = ChannelBudget(max_sessions)
        self._lingering: set[asyncio.Task[None]] = set()
        self._conn: asyncssh.SSHClientConnection | None = None
        self._lock = asyncio.Lock()
        self._failures = 0
        self._retry_at = 0.0
        self._last_error: ConnectError | None = None
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
        """How messages name this host: the inventory's host:port, or "jump host SPEC" for a hop."""
        if self._label is not None:
            return self._label
        port = self._node.ssh.port
        return f"{self._node.host}:{port}" if port else self._node.host

    def _known_hosts_path(self) -> Path:
        return Path(self._node.ssh.known_hosts).expanduser()

    def _connection_lost(self, conn: asyncssh.SSHClientConnection | None) -> None:
        if conn is None or conn is self._conn:
            self._conn = None

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

    def _hops(self, spec: str) -> list[SSHTransport]:
        """Transports of this node's own for a text jump (`a,b`: through a, then b), made once and kept."""
        if spec not in self._own_hops:
            made: list[SSHTransport] = []
            for hop in hops(spec):
                try:
                    node = jump_node(hop, self._node)
                except ValueError as exc:
                    raise ConnectError(f"{self.address}: {exc}") from exc
                before = made[-1] if made else None
                made.append(SSHTransport(node, jump=before, label=f"jump host {hop}", max_sessions=1))
            self._own_hops[spec] = made
        return self._own_hops[spec]

    async def _tunnel(self, config_jump: object) -> asyncssh.SSHClientConnection | None:
        """What the node is reached through: an inventory jump node, a text jump, a ProxyJump, or nothing."""
        jump = self._jump
        if jump is None and self._label is None:  # hops never take a further ProxyJump: no loops
            spec = self._node.ssh.jump or (config_jump if isinstance(config_jump, str) else None)
            if spec:
                jump = self._hops(spec)[-1]
        if jump is None:
            return None
        jump._riders.add(id(self))
        try:
            return await jump.connection()
        except ConnectError as exc:  # keep the kind (HostKeyError): say which node it was on the way to
            raise type(exc)(f"{self.address}: via {exc}") from exc

    async def _open(self) -> asyncssh.SSHClientConnection:
        ssh = self._node.ssh
        check = HostKeyCheck(self._known_hosts_path(), ssh.host_key_policy, label=self.address)
        options = connect_options(ssh, check, lambda: SSHClient(check, self._connection_lost))
        resolved = await resolve(self._node.host, options, self.address)
        check.alias = resolved.host_key_alias
        where = self.address  # and where ~/.ssh/config sent us, when that is somewhere else
        if (resolved.host, resolved.port) != (self._node.host, ssh.port or 22):
            where += f" ({resolved.host}:{resolved.port} by ~/.ssh/config)"
        # Before our handshake slot (no deadlock); tunnel=None also keeps asyncssh from opening a ProxyJump
        # of its own, which would check the jump host against ~/.ssh/known_hosts, not the inventory's.
        options["tunnel"] = await self._tunnel(resolved.tunnel)
        conn, self._connect_seconds = await handshake(self._node, options, check, where)
        self._connected_at = datetime.now(UTC)
        return conn

    async def connection(self) -> asyncssh.SSHClientConnection:
        """The live connection (for jump hosts behind which other nodes sit)."""
        await self.connect()
        assert self._conn is not None
        return self._conn

    async def _session(
        self, command: str, deadline: float, *, stream: bool
    ) -> tuple[asyncssh.SSHClientProcess[bytes], ChannelSlot]:
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
                    conn.create_process(command, encoding=None), timeout=remaining
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

    def _done_with(self, process: asyncssh.SSHClientProcess[bytes], slot: ChannelSlot) -> None:
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
        """Run `command`; its output is kept up to MAX_OUTPUT_BYTES, past that OutputTooLarge."""
        deadline = timeout if timeout is not None else self._node.ssh.command_timeout
        _refuse_nul(self.node_name, command)
        started = time.monotonic()
        process, slot = await self._session(command, deadline, stream=False)
        try:
            remaining = max(0.0, deadline - (time.monotonic() - started))
            output = await asyncio.wait_for(_read_all(process), timeout=remaining)
        except TimeoutError as exc:
            raise CommandTimeout(f"{self.node_name}: {command!r} still running after {deadline:g}s") from exc
        except (OSError, asyncssh.Error) as exc:
            raise self._command_failed(exc) from exc
        finally:
            self._done_with(process, slot)  # past the cap too: closing the channel stops the node's side
        if output is None:
            raise too_large(self.node_name, command)
        stdout, stderr = output
        exit_status = process.exit_status
        if exit_status is None:  # killed by a signal, or the channel closed without a status
            exit_status = -1
        return CommandResult(
            command=command,
            exit_status=exit_status,
            stdout=stdout.decode("utf-8", "replace"),
            stderr=stderr.decode("utf-8", "replace"),
            duration_s=time.monotonic() - started,
        )

    async def open_stream(self, command: str, *, timeout: float | None = None) -> SSHLineStream:
        """Start a long-lived `command`; it holds one of the streams' slots until closed."""
        deadline = timeout if timeout is not None else self._node.ssh.command_timeout
        _refuse_nul(self.node_name, command)
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
        if lines.too_large:
            raise OutputTooLarge(f"{self.node_name}: {lines.error}")

    def _command_failed(self, exc: BaseException) -> TransportError:
        if self._conn is not None and self._conn.is_closed():
            self._conn = None
        return TransportError(f"{self.node_name}: {describe(exc)}")

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
            self._forward_dir = private_dir(self.node_name)  # mode 0700
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
        hops, self._own_hops = [hop for made in self._own_hops.values() for hop in made], {}
        for hop in reversed(hops):  # the last hop rides on the one before it
            await hop.close()
        jump = self._jump
        if jump is not None and jump._label is not None and id(self) in jump._riders:
            # A text-jump hop shared by transports_for: closed with the last node that went through it
            # (an inventory node used as a jump is a node of its own, closed with the others).
            jump._riders.discard(id(self))
            if not jump._riders:
                await jump.close()


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


async def _release_when_closed(process: asyncssh.SSHClientProcess[bytes], slot: ChannelSlot) -> None:
    try:
        await process.wait_closed()
    finally:
        slot.release()


async def _read_all(process: asyncssh.SSHClientProcess[bytes]) -> tuple[bytes, bytes] | None:
    """stdout and stderr to their end, then the exit status; None past MAX_OUTPUT_BYTES (reading stopped)."""
    output = await read_capped([process.stdout, process.stderr])
    if output is None:
        return None
    await process.wait_closed()
    return output[0], output[1]


def _refuse_nul(node: str, command: str) -> None:
    # sshd hands the command to the shell as a C string: it would run only the text before a NUL.
    if "\0" in command:
        raise TransportError(f"{node}: refused to run a command containing a NUL character")
