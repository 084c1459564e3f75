"""A node's power from its BMC: Redfish from the workstation (aiohttp), or `ipmitool dcmi power reading` on
the node over SSH.

Redfish: `/redfish/v1/Chassis` and, per chassis, the newer `EnvironmentMetrics` (`PowerWatts.Reading`) where
the chassis links one, else the older `Power` (`PowerControl[].PowerConsumedWatts`). One deadline covers the
whole read (every exchange: connect, headers and body, within what is left of it), bodies are capped at
MAX_RESPONSE_BYTES, TLS is verified unless the inventory says `verify_tls: false`, and only links under
`/redfish/v1/` on the same BMC are followed. A BMC that does not answer is an error reading (unknown).
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from console.collectors.pdu import PduError, secret
from console.collectors.prometheus import decode_json
from console.model.inventory import BmcSettings
from console.model.power import BmcPower, ChassisPower
from console.text import clean_line, finite

MAX_RESPONSE_BYTES = 1024 * 1024  # a Redfish resource is a few KiB; a BMC sending more is refused
MAX_CHASSIS = 32
_CHUNK = 64 * 1024
_ID_RE = re.compile(r"/redfish/v1/[A-Za-z0-9_.~%:@!$&'()*+,;=/-]*")

DCMI_COMMAND = "LC_ALL=C ipmitool dcmi power reading"
_DCMI_RE = re.compile(r"Instantaneous power reading:\s*(-?[0-9]+(?:\.[0-9]+)?)\s*Watts", re.IGNORECASE)


class RedfishError(Exception):
    """The BMC could not be read; the message says why, in one line."""


def _link(value: Any) -> str | None:
    """A resource link (`{"@odata.id": "/redfish/v1/..."}`) on this BMC, or None: never another host, never
    a path that climbs out with `..`."""
    target = value.get("@odata.id") if isinstance(value, dict) else None
    if not isinstance(target, str) or not _ID_RE.fullmatch(target) or ".." in target.split("/"):
        return None
    return target.split("#", 1)[0].rstrip("/") or None


class _Bmc:
    def __init__(self, session: aiohttp.ClientSession, base: str, deadline: float, label: str) -> None:
        self.session, self.base, self.deadline, self.label = session, base, deadline, label

    async def get(self, path: str) -> dict[str, Any]:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        async with asyncio.timeout(left):
            async with self.session.get(self.base + path) as response:
                landed = response.url
                if response.history and (
                    landed.origin() != URL(self.base).origin() or not landed.path.startswith("/redfish/v1")
                ):  # aiohttp follows redirects (dropping credentials off the origin): not this BMC's answer
                    where = clean_line(str(landed.origin()), limit=120)
                    raise RedfishError(f"{self.label}: {clean_line(path)} redirects off the BMC ({where})")
                if response.status in (401, 403):
                    raise RedfishError(f"{self.label} refused the credentials (HTTP {response.status})")
                if response.status != 200:
                    reason = clean_line(response.reason or "", limit=80)
                    raise RedfishError(
                        f"{self.label}: {clean_line(path)}: HTTP {response.status} {reason}".rstrip()
                    )
                too_large = (
                    f"{self.label} sent more than {MAX_RESPONSE_BYTES // 1024} KiB for {clean_line(path)}"
                )
                if response.content_length is not None and response.content_length > MAX_RESPONSE_BYTES:
                    raise RedfishError(too_large)
                body = bytearray()
                async for chunk in response.content.iter_chunked(_CHUNK):
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise RedfishError(too_large)
        data = decode_json(bytes(body))
        if not isinstance(data, dict):
            raise RedfishError(f"{self.label}: {clean_line(path)} is not a JSON object")
        return data


def _power_control(data: dict[str, Any]) -> float | None:
    """The first PowerControl entry's PowerConsumedWatts that is a finite, non-negative number."""
    entries = data.get("PowerControl")
    for entry in entries if isinstance(entries, list) else ():
        watts = finite(entry.get("PowerConsumedWatts")) if isinstance(entry, dict) else None
        if watts is not None and watts >= 0:
            return watts
    return None


def _reading(data: dict[str, Any]) -> float | None:
    sensor = data.get("PowerWatts")
    watts = finite(sensor.get("Reading")) if isinstance(sensor, dict) else None
    return watts if watts is not None and watts >= 0 else None


async def _chassis(bmc: _Bmc, path: str) -> tuple[ChassisPower | None, str | None]:
    """One chassis's reading, and the chassis it sits in (ContainedBy) to avoid counting it twice."""
    data = await bmc.get(path)
    ident = clean_line(data.get("Id") or path.rsplit("/", 1)[-1], limit=64)
    links = data.get("Links")
    parent = _link(links.get("ContainedBy")) if isinstance(links, dict) else None
    metrics, power = _link(data.get("EnvironmentMetrics")), _link(data.get("Power"))
    if metrics is not None:
        watts = _reading(await bmc.get(metrics))
        if watts is not None or power is None:
            return ChassisPower(ident, watts, "EnvironmentMetrics"), parent
    if power is not None:
        return ChassisPower(ident, _power_control(await bmc.get(power)), "Power"), parent
    return None, parent


async def read_redfish(node: str, bmc: BmcSettings, *, timeout: float | None = None) -> BmcPower:
    """The node's power by Redfish within `timeout` (default: the BMC's own); never raises for BMC trouble."""
    assert bmc.redfish is not None
    limit = bmc.timeout if timeout is None else min(timeout, bmc.timeout)
    parts = urlsplit(bmc.redfish)
    label = f"BMC {clean_line(parts.netloc, limit=80)}"
    via = f"redfish {clean_line(bmc.redfish, limit=120)}"
    now = datetime.now(UTC)
    try:
        password = secret(bmc.password_env, bmc.password_file, "BMC password")
        headers = {"Accept": "application/json"}
        if bmc.username is not None:
            token = base64.b64encode(f"{bmc.username}:{password or ''}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        context: ssl.SSLContext | bool = ssl.create_default_context() if bmc.verify_tls else False
        # One clock: the deadline below; aiohttp's own timeouts are off.
        off = aiohttp.ClientTimeout(total=None, connect=None, sock_read=None, sock_connect=None)
        connector = aiohttp.TCPConnector(ssl=context)
        async with (
            asyncio.timeout(max(limit, 0.0)),
            aiohttp.ClientSession(headers=headers, timeout=off, connector=connector) as session,
        ):
            client = _Bmc(session, f"{parts.scheme}://{parts.netloc}", time.monotonic() + limit, label)
            chassis = await _read_chassis(client, bmc.chassis)
    except TimeoutError:
        return BmcPower(node, now, via=via, error=f"{label} did not answer within {limit:.3g}s")
    except (RedfishError, PduError) as exc:
        return BmcPower(node, now, via=via, error=clean_line(str(exc)))
    except aiohttp.ClientError as exc:
        reason = clean_line(getattr(exc, "strerror", None) or exc, limit=200)
        return BmcPower(node, now, via=via, error=f"{label} unreachable: {reason}")
    counted = [power for power, parent in chassis if parent is None]
    watts = None
    if counted and all(power.watts is not None for power in counted):
        watts = finite(sum(power.watts for power in counted if power.watts is not None))  # inf: unknown
    error = None if counted else f"{label} reports no chassis power (neither EnvironmentMetrics nor Power)"
    return BmcPower(node, datetime.now(UTC), watts, tuple(power for power, _ in chassis), via, error)


async def _read_chassis(client: _Bmc, only: str | None) -> list[tuple[ChassisPower, str | None]]:
    if only is not None:
        paths = [f"/redfish/v1/Chassis/{only}"]
    else:
        collection = await client.get("/redfish/v1/Chassis")
        members = collection.get("Members")
        paths = [link for link in map(_link, members if isinstance(members, list) else ()) if link][
            :MAX_CHASSIS
        ]
    found: list[tuple[str, ChassisPower, str | None]] = []
    for path in paths:
        power, parent = await _chassis(client, path)
        if power is not None:
            found.append((path, power, parent))
    # A chassis inside another that also reports (a blade in its enclosure) is not counted twice: only the
    # outermost ones are summed. `parent` is kept only when that chassis reported too.
    reported = {path for path, _, _ in found}
    return [(power, parent if parent in reported else None) for _, power, parent in found]


def parse_dcmi(node: str, stdout: str, stderr: str, status: int) -> BmcPower:
    """`ipmitool dcmi power reading` output -> the node's power (the instantaneous reading)."""
    now = datetime.now(UTC)
    if status != 0:
        said = clean_line(
            (stderr or stdout).strip().splitlines()[-1] if (stderr or stdout).strip() else "", limit=200
        )
        return BmcPower(
            node, now, via="ipmi dcmi", error=f"ipmitool dcmi failed (exit {status}): {said}".rstrip(": ")
        )
    match = _DCMI_RE.search(stdout)
    watts = finite(match.group(1)) if match else None
    if watts is None or watts < 0:
        return BmcPower(
            node, now, via="ipmi dcmi", error="ipmitool dcmi printed no instantaneous power reading"
        )
    return BmcPower(node, now, watts, (ChassisPower("dcmi", watts, "dcmi"),), "ipmi dcmi")
