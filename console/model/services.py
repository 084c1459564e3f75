"""The services section's snapshot: each service's HTTP probe and the node's listener table from one poll, and
the bind audit's finding per service (where its port really listens or is published)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Family = Literal["ipv4", "ipv6"]


@dataclass(frozen=True, slots=True, order=True)
class Listener:
    """One listening TCP socket; `address` as people write it: 127.0.0.1, 0.0.0.0, ::1, ::ffff:127.0.0.1."""

    address: str
    port: int
    family: Family

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """The address, an IPv4-mapped IPv6 one (::ffff:a.b.c.d) given as the IPv4 address it stands for."""
        return effective_ip(self.address)

    @property
    def is_wildcard(self) -> bool:
        """Listening on every address of the node (0.0.0.0 or ::)."""
        return self.ip.is_unspecified

    @property
    def is_loopback(self) -> bool:
        return self.ip.is_loopback


def effective_ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address as an ip object, unwrapping IPv4-mapped IPv6; brackets ("[::1]") are allowed."""
    ip = ipaddress.ip_address(address.strip().strip("[]"))
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


ProbeOutcome = Literal["ok", "unexpected_status", "down", "timeout", "tls_mismatch", "error"]


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One HTTP probe. `latency_s` runs from opening the stream to the status line (channel open included)."""

    service: str
    status_code: int | None
    latency_s: float | None
    outcome: ProbeOutcome
    detail: str
    url: str = ""
    fix_url: str | None = None  # for a TLS mismatch: the URL that works
    transport_failed: bool = False  # an "error" of the path (SSH), not of the service
    tls_subject: str | None = None
    tls_not_after: datetime | None = None


@dataclass(frozen=True, slots=True)
class ServicesSnapshot:
    """A node's probes and listener table from one poll."""

    node: str
    taken_at: datetime
    probes: tuple[ProbeResult, ...] = ()
    listeners: tuple[Listener, ...] = ()
    error: str | None = None  # the node could not be reached: nothing was measured
    listeners_error: str | None = None  # the listener table could not be read (probes may still be fine)
    duration_s: float | None = None

    def probe(self, service: str) -> ProbeResult | None:
        return next((probe for probe in self.probes if probe.service == service), None)


BindVerdict = Literal["ok", "exposed", "not_listening"]
Published = tuple[str, str, int]  # (container name, host ip, host port) as Docker reports a published port


@dataclass(frozen=True, slots=True)
class BindFinding:
    """One audited service: where its port really listens or is published, against the inventory's `bind`."""

    service: str
    port: int
    expected: str  # the inventory's bind
    verdict: BindVerdict
    listening: tuple[str, ...] = ()  # addresses in the node's listener table on this port
    published: tuple[str, ...] = ()  # "container on host_ip" for Docker publishing this port
    exposed: tuple[str, ...] = ()  # the addresses wider than `expected`, from either source
    via_published: bool = False  # a Docker-published port is (one of) the wide ones
    detail: str = ""
