"""Opening one SSH connection: asyncssh's options from the inventory, what ~/.ssh/config makes of the host,
the handshake under its deadline and a handshake slot, and every way it fails said as a ConnectError.

SSHTransport (console/transport/ssh.py) keeps the connection, its channels and its jump hosts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import asyncssh

from console.inventory.model import Node, SSHSettings
from console.transport.base import ConnectError
from console.transport.hostkeys import HostKeyCheck
from console.transport.pool import connect_slot
from console.transport.sshstream import describe


class _CutOffWrites(logging.Filter):
    """asyncio's "socket.send() raised exception." after we cut a forwarded answer off (an endless
    Prometheus body, a deadline): asyncssh's port forward still delivers what was in flight to the local
    socket we closed. Expected, and nothing an operator can act on, in cron mail or under the TUI."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "socket.send() raised exception."


logging.getLogger("asyncio").addFilter(_CutOffWrites())


class SSHClient(asyncssh.SSHClient):
    """asyncssh asks it about any host key known_hosts does not trust; it tells the transport of a loss."""

    def __init__(
        self, check: HostKeyCheck, lost: Callable[[asyncssh.SSHClientConnection | None], None]
    ) -> None:
        self._check = check
        self._lost = lost
        self._conn: asyncssh.SSHClientConnection | None = None

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self._conn = conn

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        return self._check.validate(host, addr, port, key)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(self._conn)


def connect_options(
    ssh: SSHSettings, check: HostKeyCheck, client_factory: Callable[[], SSHClient]
) -> dict[str, Any]:
    """asyncssh.connect's options for these settings: keys only, never a password or the agent forwarded."""
    options: dict[str, Any] = {
        "known_hosts": check.known_hosts(),
        "connect_timeout": ssh.connect_timeout,
        "keepalive_interval": ssh.keepalive_interval,
        "keepalive_count_max": 3,
        "password": None,
        "kbdint_auth": False,
        "password_auth": False,
        # Never, whatever ~/.ssh/config says (ForwardAgent yes): a node's root could use the agent.
        "agent_forwarding": False,
        "client_factory": client_factory,
    }
    if ssh.user:
        options["username"] = ssh.user
    if ssh.port:
        options["port"] = ssh.port
    if ssh.identity_file:
        options["client_keys"] = [os.path.expanduser(ssh.identity_file)]
    return options


async def resolve(host: str, options: dict[str, Any], address: str) -> asyncssh.SSHClientConnectionOptions:
    """What ~/.ssh/config makes of this host (HostName, Port, HostKeyAlias, ProxyJump), for asyncssh."""
    try:
        # config=(): read ~/.ssh/config as connect() does (Options' own default reads no file at all).
        resolved: asyncssh.SSHClientConnectionOptions
        resolved = await asyncssh.SSHClientConnectionOptions.construct(config=(), host=host, **options)
        return resolved
    except asyncssh.KeyImportError as exc:
        raise ConnectError(f"{address}: cannot use identity file: {exc}") from exc
    except (OSError, ValueError, asyncssh.Error) as exc:  # a bad ~/.ssh/config, a missing key file
        raise ConnectError(f"{address}: {describe(exc)}") from exc


async def handshake(
    node: Node, options: dict[str, Any], check: HostKeyCheck, where: str
) -> tuple[asyncssh.SSHClientConnection, float]:
    """The connection and its handshake's seconds (never the wait for a slot); failures as ConnectError."""
    ssh = node.ssh
    try:
        # connect_timeout covers TCP, banner, key exchange and auth: a hung sshd cannot hold us.
        # Waiting for a handshake slot (bounded concurrent connects) does not count against it.
        async with connect_slot():
            started = time.monotonic()  # the handshake itself, not the wait for a slot
            conn = await asyncio.wait_for(
                asyncssh.connect(node.host, **options), timeout=ssh.connect_timeout + 1
            )
    except asyncssh.HostKeyNotVerifiable as exc:
        raise check.refused(exc) from exc
    except asyncssh.PermissionDenied as exc:
        raise ConnectError(f"{where}: authentication failed ({exc.reason})") from exc
    except asyncssh.KeyImportError as exc:
        raise ConnectError(f"{where}: cannot use identity file: {exc}") from exc
    except TimeoutError as exc:
        raise ConnectError(f"{where}: connect timed out after {ssh.connect_timeout:g}s") from exc
    except (OSError, asyncssh.Error) as exc:
        raise ConnectError(f"{where}: {describe(exc)}") from exc
    return conn, time.monotonic() - started
