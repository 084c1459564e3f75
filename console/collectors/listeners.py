"""What is actually listening on a node: a pure parser of `/proc/net/tcp` and `/proc/net/tcp6`.

Both files are read in one round trip (`cat /proc/net/tcp /proc/net/tcp6`); a node without IPv6 has no tcp6,
so `cat` exits 1 but still prints the IPv4 table, which is used. Only sockets in state 0A (TCP_LISTEN) count.

The kernel prints each address as the raw in-memory words in hex: IPv4 as one 32-bit word, IPv6 as four, each
word in the host's byte order (little-endian on x86-64 and arm64, the only nodes we run on; pass
`byteorder="big"` for the odd s390x). Ports are plain big hex.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Literal

from console.model.inventory import ServiceSpec
from console.model.services import BindFinding as BindFinding
from console.model.services import BindVerdict as BindVerdict
from console.model.services import Family as Family
from console.model.services import Listener as Listener
from console.model.services import Published as Published
from console.model.services import effective_ip as effective_ip

LISTENERS_COMMAND = "cat /proc/net/tcp /proc/net/tcp6"
TCP_LISTEN = "0A"
MAX_LISTENERS = 4096  # listening sockets kept from one table (a node has dozens)

ByteOrder = Literal["little", "big"]


class ListenerParseError(ValueError):
    """The text is not a /proc/net/tcp table at all."""


def _decode_address(hex_address: str, byteorder: ByteOrder) -> tuple[str, Family]:
    raw = bytes.fromhex(hex_address)
    if len(raw) not in (4, 16):
        raise ValueError(f"address of {len(raw)} bytes")
    # Each 32-bit word is in host order: reverse the bytes within every word on a little-endian host.
    words = [raw[i : i + 4] for i in range(0, len(raw), 4)]
    packed = b"".join(word[::-1] if byteorder == "little" else word for word in words)
    if len(packed) == 4:
        return str(ipaddress.IPv4Address(packed)), "ipv4"
    ip6 = ipaddress.IPv6Address(packed)
    if ip6.ipv4_mapped is not None:
        return f"::ffff:{ip6.ipv4_mapped}", "ipv6"
    return str(ip6), "ipv6"


def parse_proc_net_tcp(text: str, *, byteorder: ByteOrder = "little") -> tuple[Listener, ...]:
    """Every LISTEN socket in one or more concatenated /proc/net/tcp{,6} tables, deduplicated and sorted.

    Lines that are not table rows are ignored; text without any table header raises ListenerParseError.
    """
    seen_header = False
    listeners: set[Listener] = set()
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "sl" and "local_address" in fields:
            seen_header = True
            continue
        # "0: 0100007F:1F90 00000000:0000 0A ..." -> slot, local, remote, state
        if len(fields) < 4 or not fields[0].endswith(":") or fields[3].upper() != TCP_LISTEN:
            continue
        hex_address, sep, hex_port = fields[1].partition(":")
        if not sep:
            continue
        try:
            address, family = _decode_address(hex_address, byteorder)
            port = int(hex_port, 16)
        except ValueError:
            continue
        if len(listeners) < MAX_LISTENERS:
            listeners.add(Listener(address, port, family))
    if not seen_header:
        raise ListenerParseError(f"not a /proc/net/tcp table: {text.strip()[:120]!r}")
    return tuple(sorted(listeners, key=lambda item: (item.port, item.family, item.address)))


def listeners_on(listeners: tuple[Listener, ...], port: int) -> tuple[Listener, ...]:
    return tuple(listener for listener in listeners if listener.port == port)


# --- the bind audit: what listens (or is published) against what the inventory says


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return effective_ip(address or "0.0.0.0")
    except ValueError:
        return None


def is_wider(actual: str, expected: str) -> bool:
    """Whether listening on `actual` exposes more than binding `expected` would ("" counts as 0.0.0.0).

    Loopback is never wider than anything; a wildcard is wider than anything but a wildcard; a specific
    interface address is wider than another specific one (it is reachable from somewhere it should not be).
    """
    have, want = _ip(actual), _ip(expected)
    if have is None or want is None:
        return actual != expected
    return not (want.is_unspecified or have == want or have.is_loopback)


def _publisher(entry: Published) -> str:
    container, host_ip, _ = entry
    return f"{container.lstrip('/')} on {host_ip or '0.0.0.0'}"


def _audit_one(
    name: str, port: int, bind: str, listeners: tuple[Listener, ...], published: tuple[Published, ...]
) -> BindFinding:
    listening = tuple(sorted({listener.address for listener in listeners if listener.port == port}))
    publishing = tuple(entry for entry in published if entry[2] == port)
    wide_listening = [address for address in listening if is_wider(address, bind)]
    wide_published = [entry for entry in publishing if is_wider(entry[1], bind)]
    exposed = tuple(dict.fromkeys([*wide_listening, *(entry[1] or "0.0.0.0" for entry in wide_published)]))
    published_text = tuple(_publisher(entry) for entry in publishing)
    if exposed:
        parts = []
        if wide_listening:
            parts.append("listening on " + ", ".join(f"{_hostport(a, port)}" for a in wide_listening))
        if wide_published:
            parts.append("published by " + ", ".join(_publisher(entry) for entry in wide_published))
        detail = f"{'; '.join(parts)}; inventory says {_hostport(bind, port)}"
        return BindFinding(
            name, port, bind, "exposed", listening, published_text, exposed, bool(wide_published), detail
        )
    if not listening and not publishing:
        return BindFinding(name, port, bind, "not_listening", detail=f"nothing listening on {port}")
    where = ", ".join([*(_hostport(a, port) for a in listening), *published_text])
    return BindFinding(
        name, port, bind, "ok", listening, published_text, detail=f"{where} (inventory: {bind})"
    )


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def audit_binds(
    services: Sequence[ServiceSpec],
    listeners: Sequence[Listener],
    published: Sequence[Published] = (),
) -> tuple[BindFinding, ...]:
    """One finding per service with `bind` set, in inventory order. Pure: feed it the listener table and,
    when the node runs Docker, its published ports (Docker's iptables DNAT bypasses the listener table when
    docker-proxy is off, so both are needed)."""
    table, pub = tuple(listeners), tuple(published)
    return tuple(
        _audit_one(spec.name, spec.port, spec.bind, table, pub) for spec in services if spec.bind is not None
    )
