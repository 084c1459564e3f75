"""The `ssh` command line for an operator's shell on a node, made from the settings the console connects with.

The console's own connections (console/transport/ssh.py) log in as the inventory's user, on its port, with its
identity file, through its jump hosts, verified against the inventory's known_hosts under its host_key_policy,
never forwarding the agent. The shell key (`s`) runs OpenSSH's `ssh` with the same: an argv list, never a
string for a shell.

OpenSSH hands nothing of its command line (`-o`, `-i`) to the `ssh` it starts for a `-J` hop; only `-F` goes
along. So every shell gets a config file of its own (`-F`): a block per hop of the inventory's (its identity,
known_hosts and policy), then, for every host, the node's known_hosts and policy and no forwarding (a
ProxyJump from ~/.ssh/config is checked against the inventory's file, as the console does), then
~/.ssh/config, read as the console reads it. OpenSSH takes the first value it finds, so the inventory wins.

Node names, hosts, users and jump specs come from the inventory: any that could be read as an option or
that a shell would split (OpenSSH runs a `-J` hop through one) is refused.
"""

from __future__ import annotations

import math
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from console.inventory.model import Node
from console.transport.jumps import hops, jump_node
from console.transport.tempdirs import private_dir

SERVER_ALIVE_COUNT_MAX = 3  # as the console's keepalive_count_max
# A host or user as OpenSSH and the shell that runs a -J hop read them: no spaces, quotes or metacharacters.
_HOST = re.compile(r"[A-Za-z0-9_.:%\[\]-]+")
# `%` only as the scope id of an IPv6 literal (fe80::1%eth0): OpenSSH expands %-tokens in the command it
# builds for a -J hop, so `%` anywhere else would be read as a token (or refused by ssh as an unknown one).
_SCOPED_V6 = re.compile(r"\[?[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*%[A-Za-z0-9_.-]+\]?")
# `$` only last (a machine account): anywhere else the hop's shell would expand it ($IFS splits the word).
_USER = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?")
_CONFIG_PATH = re.compile(r"[A-Za-z0-9_./+-]+")  # goes unquoted into the command OpenSSH runs for a hop


class ShellRefused(ValueError):
    """The node's settings cannot be given to `ssh` safely (the message says which value and why)."""


def _word(kind: str, value: str, pattern: re.Pattern[str], node: Node) -> str:
    if value.startswith("-"):
        raise ShellRefused(f"{node.name}: {kind} {value!r} starts with '-' (ssh would read it as an option)")
    if not pattern.fullmatch(value):
        raise ShellRefused(f"{node.name}: {kind} {value!r} has characters ssh or a shell would misread")
    return value


def _path(kind: str, value: str, node: Node) -> str:
    """A file path as an OpenSSH config value: quoted, `%` doubled (IdentityFile and UserKnownHostsFile
    expand %-tokens). Quotes, backslashes, control characters and ${ (expanded, no escape) are refused."""
    path = os.path.expanduser(value)
    if any(ch in path for ch in '"\\') or "${" in path or any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        raise ShellRefused(f"{node.name}: {kind} {value!r} has characters an ssh config cannot hold")
    return '"' + path.replace("%", "%%") + '"'


def _host(hop: Node) -> str:
    host = _word("host", hop.host, _HOST, hop)
    if "%" in host and not _SCOPED_V6.fullmatch(host):
        raise ShellRefused(
            f"{hop.name}: host {host!r} has '%' outside an IPv6 scope id (ssh reads it as a token)"
        )
    return host


def _policy(node: Node) -> str:
    return "accept-new" if node.ssh.host_key_policy == "accept-new" else "yes"


def _spec(hop: Node, expansions: int) -> str:
    """`[user@]host[:port]` for -J ([v6] in brackets: ssh refuses a bare one). Each ssh in the chain builds
    its hop's command from the rest of the spec and %-expands it, so a scope id's `%` is doubled once for each
    expansion the hop goes through."""
    host = _host(hop).strip("[]").replace("%", "%" * 2**expansions)
    user = _word("user", hop.ssh.user, _USER, hop) + "@" if hop.ssh.user else ""
    if ":" in host:
        host = f"[{host}]"
    return user + host if hop.ssh.port is None else f"{user}{host}:{hop.ssh.port}"


def jump_chain(node: Node, nodes: Mapping[str, Node] | None = None) -> list[Node]:
    """The hops to `node`, first to last, each with the settings the console reaches it with: an inventory
    node (itself maybe behind a jump) or a text jump (`a,b`) with the node's own keys and known_hosts."""
    chain: list[Node] = []
    seen = {node.name}
    current = node
    while spec := current.ssh.jump:
        named = (nodes or {}).get(spec)
        if named is not None and named.transport == "ssh":
            if named.name in seen:
                raise ShellRefused(f"{node.name}: jump hosts go round in a loop through {named.name}")
            seen.add(named.name)
            chain.insert(0, named)
            current = named
            continue
        try:
            chain[:0] = [jump_node(hop, current) for hop in hops(spec)]
        except ValueError as exc:
            raise ShellRefused(f"{node.name}: {exc}") from exc
        break
    return chain


def _per_host(node: Node) -> list[str]:
    ssh = node.ssh
    lines = [f"  UserKnownHostsFile {_path('known_hosts', ssh.known_hosts, node)}"]
    lines.append("  GlobalKnownHostsFile none")
    lines.append(f"  StrictHostKeyChecking {_policy(node)}")
    if ssh.identity_file:
        lines.append(f"  IdentityFile {_path('identity file', ssh.identity_file, node)}")
        lines.append("  IdentitiesOnly yes")
    return lines


def _common(node: Node) -> list[str]:
    """What every connection of the shell shares, the console's way: no forwarding, no password prompts,
    known hosts written as the console writes them, the node's deadlines."""
    ssh = node.ssh
    return [
        "  ForwardAgent no",
        "  ForwardX11 no",
        "  PasswordAuthentication no",
        "  KbdInteractiveAuthentication no",
        "  HashKnownHosts no",
        f"  ConnectTimeout {max(1, math.ceil(ssh.connect_timeout))}",
        f"  ServerAliveInterval {max(1, math.ceil(ssh.keepalive_interval))}",
        f"  ServerAliveCountMax {SERVER_ALIVE_COUNT_MAX}",
    ]


def ssh_config(node: Node, nodes: Mapping[str, Node] | None = None) -> str:
    """The `-F` file of a shell on `node`: each hop's own settings, then the node's for every host, then
    ~/.ssh/config (what it says for a host counts only where the inventory says nothing)."""
    lines = ["# opsconsole: a shell with the inventory's settings (removed when ssh exits)"]
    blocks: dict[str, list[str]] = {}
    for hop in jump_chain(node, nodes):
        block = _per_host(hop)
        host = _host(hop)
        if blocks.setdefault(host, block) != block:
            raise ShellRefused(f"{node.name}: two jump hosts on {host} with different settings")
    for host, block in blocks.items():
        lines += [f"Host {host}", *block]
    lines += ["Host *", *_per_host(node), *_common(node), "Include ~/.ssh/config", ""]
    return "\n".join(lines)


def ssh_argv(
    node: Node,
    nodes: Mapping[str, Node] | None = None,
    *,
    config_path: str,
    ssh: str = "ssh",
    command: Sequence[str] = (),
) -> list[str]:
    """`ssh` to `node` with the console's settings; `config_path` is where `ssh_config(node, nodes)` is.

    `command` runs instead of a login shell (ssh joins its words for the remote shell: tests only)."""
    if not _CONFIG_PATH.fullmatch(config_path):
        raise ShellRefused(f"{node.name}: the ssh config path {config_path!r} has characters ssh would split")
    ssh_settings = node.ssh
    host = _host(node)
    argv = [ssh, "-F", config_path]
    if ssh_settings.user:
        argv += ["-l", _word("user", ssh_settings.user, _USER, node)]
    if ssh_settings.port:
        argv += ["-p", str(ssh_settings.port)]
    if ssh_settings.identity_file:
        # -i takes the path as is, and expands %-tokens in it as the config does.
        identity = _path("identity file", ssh_settings.identity_file, node)[1:-1]
        argv += ["-i", identity, "-o", "IdentitiesOnly=yes"]
    known_hosts = _path("known_hosts", ssh_settings.known_hosts, node)
    argv += [
        "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "GlobalKnownHostsFile=none",
        "-o", f"StrictHostKeyChecking={_policy(node)}",
        "-a",  # never forward the agent: a node's root could use it
        "-x",
    ]  # fmt: skip
    chain = jump_chain(node, nodes)
    if chain:
        # The last hop is expanded once (by this ssh), each earlier one once more (by the next hop's ssh).
        argv += ["-J", ",".join(_spec(hop, len(chain) - i) for i, hop in enumerate(chain))]
    return [*argv, "--", host, *command]


def local_shell_argv(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The user's own shell, for a node the console reaches locally."""
    shell = environ.get("SHELL") or "/bin/sh"
    return [shell if os.path.isabs(shell) else shutil.which(shell) or "/bin/sh"]


@contextmanager
def prepared(
    node: Node,
    nodes: Mapping[str, Node] | None = None,
    *,
    ssh: str = "ssh",
    command: Sequence[str] = (),
) -> Iterator[list[str]]:
    """The argv of a shell on `node`, with its config written (0600, in a 0700 directory) for as long as the
    block runs. Raises ShellRefused before writing anything when a setting cannot be given to ssh."""
    text = ssh_config(node, nodes)
    directory = private_dir(f"shell-{node.name}")
    try:
        path = Path(directory) / "ssh_config"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        yield ssh_argv(node, nodes, config_path=str(path), ssh=ssh, command=command)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
