"""Jump hosts named as text (`ssh.jump: "user@host:port"`, or `ProxyJump` in ~/.ssh/config).

Each hop becomes an SSHTransport of its own, so it is verified against the inventory's known_hosts under the
node's host_key_policy, logs in with the node's identity file, never forwards the agent, and a failure names
the jump host and the file it was checked against.
"""

from __future__ import annotations

from dataclasses import replace

from console.inventory.model import Node


def parse_jump(spec: str) -> tuple[str | None, str, int | None]:
    """`[ssh://][user@]host[:port]` (host may be `[v6]`) → (user, host, port); None where not given."""
    text = spec.strip()
    if text.startswith("ssh://"):
        text = text[len("ssh://") :]
    user, at, rest = text.rpartition("@")
    port: int | None = None
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        if tail.startswith(":") and tail[1:].isdigit():
            port = int(tail[1:])
    elif rest.count(":") == 1:
        host, _, port_text = rest.partition(":")
        port = int(port_text) if port_text.isdigit() else None
    else:
        host = rest
    if not host or (port is not None and not 1 <= port <= 65535):
        raise ValueError(f"cannot read jump host {spec!r}: expected [user@]host[:port]")
    return (user if at else None) or None, host, port


def jump_node(spec: str, via: Node) -> Node:
    """A Node for one hop of `via`'s jump: the hop's address, `via`'s keys, known_hosts, policy, timeouts."""
    user, host, port = parse_jump(spec)
    ssh = replace(via.ssh, user=user, port=port, jump=None)
    return Node(name=spec, host=host, ssh=ssh)


def hops(spec: str) -> list[str]:
    """The hops of a ProxyJump value, first to last (`a,b`: through a, then b)."""
    return [hop.strip() for hop in spec.split(",") if hop.strip()]
