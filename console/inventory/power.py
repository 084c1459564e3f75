"""The inventory's power keys: top-level `pdus:` and `racks:` (name -> settings), a node's `rack:` and `bmc:`.

Secrets never sit in the file: a BMC password or an SNMPv3 key written in clear is refused at its line and
the message names the `*_env` / `*_file` keys that take it. The PDU and rack value checks join the loader's
table (`rules.CHECKS`) when this module is imported; `bmc` is a section setting (`BMC`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from yaml.nodes import MappingNode

from console.model.inventory import BmcSettings, PduSpec, RackSpec, SnmpV3

from .partial import INVALID, Builder, Partial
from .rules import CHECKS, _check_host, _check_url, _port, positive, quote
from .settings import SectionSettings, register_settings

Report = Callable[[int | None, str, str], None]
_ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PROFILE_RE = re.compile(r"[a-z0-9][a-z0-9_.-]*")


def _secret(env: str, file: str) -> Callable[[Any], str | None]:
    def refuse(_value: Any) -> str:
        return f"a secret never sits in the inventory in clear: use {env} (an environment variable) or {file}"

    return refuse


def _env_name(value: str) -> str | None:
    return (
        None if _ENV_RE.fullmatch(value) else "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)"
    )


def _pct(value: float) -> str | None:
    return None if 0 < value <= 1000 else "must be a percentage above 0"


CHECKS.update(
    {
        (PduSpec, "host"): _check_host,
        (PduSpec, "port"): _port,
        (PduSpec, "timeout"): positive,
        (PduSpec, "community_env"): _env_name,
        (PduSpec, "profile"): lambda v: None if _PROFILE_RE.fullmatch(v) else "is not a profile name",
        (SnmpV3, "auth_key"): _secret("auth_key_env", "auth_key_file"),
        (SnmpV3, "priv_key"): _secret("priv_key_env", "priv_key_file"),
        (SnmpV3, "auth_key_env"): _env_name,
        (SnmpV3, "priv_key_env"): _env_name,
        (RackSpec, "budget_w"): positive,
        (RackSpec, "warn_pct"): _pct,
        (RackSpec, "crit_pct"): _pct,
    }
)


def _redfish_url(value: str) -> str | None:
    """A URL, without a user or password in it: those would be shown wherever the BMC is named."""
    problem = _check_url(value)
    if problem is None and "@" in urlsplit(value).netloc:
        return "must not hold a user or password: use username and password_env or password_file"
    return problem


# A node's `bmc:` is the power section's setting (console/sections/power.py names it); registered here, on
# the inventory's floor, so the inventory loads without the sections.
BMC = SectionSettings(
    "bmc",
    BmcSettings | None,
    {
        (BmcSettings, "redfish"): _redfish_url,
        (BmcSettings, "password"): _secret("password_env", "password_file"),
        (BmcSettings, "password_env"): _env_name,
        (BmcSettings, "timeout"): positive,
    },
)
register_settings(BMC)


def convert_named(conv: Any, entry: tuple[int, Any] | None, tp: type, key: str) -> tuple[Any, ...]:
    """`key: {NAME: {...}}` -> the built `tp`s, each with its name; every problem reported at its line."""
    if entry is None or entry[1].tag.endswith(":null"):
        return ()
    line, vnode = entry
    if not isinstance(vnode, MappingNode):
        conv.problem(line, key, "expected a mapping of name to settings")
        return ()
    allowed = [name for name in getattr(tp, "__dataclass_fields__", {}) if name != "name"]
    builder, built = Builder(), []
    for name, nline, node in conv.pairs(vnode, key):
        part = conv.mapping(node, tp, f"{key}.{name}", nline, allowed)
        if not isinstance(part, Partial):
            continue
        part.values["name"] = name
        part = conv.complete(part, f"{key}.{name}", nline)
        value = builder.build(part, None)
        if value is not INVALID:
            built.append((nline, value))
    return tuple(value for _, value in built)


def check_power(
    report: Report,
    pdus: tuple[PduSpec, ...],
    racks: tuple[RackSpec, ...],
    nodes: dict[str, tuple[int | None, str | None]],
) -> None:
    """Cross-references: a rack's PDUs exist, a node's rack exists, warn below crit, one way to a secret."""
    pdu_names = {pdu.name for pdu in pdus}
    rack_names = {rack.name for rack in racks}
    for pdu in pdus:
        ways = [w for w in (pdu.community, pdu.community_env, pdu.community_file) if w is not None]
        if len(ways) > 1:
            report(
                None,
                f"pdus.{pdu.name}",
                "give the community once: community, community_env or community_file",
            )
        if pdu.snmpv3 is not None and ways:
            report(None, f"pdus.{pdu.name}", "snmpv3 and a community exclude each other")
        if pdu.snmpv3 is None and not ways:
            report(
                None,
                f"pdus.{pdu.name}",
                "needs a community (community, community_env, community_file) or snmpv3",
            )
    for rack in racks:
        for name in rack.pdus:
            if name not in pdu_names:
                report(
                    None, f"racks.{rack.name}.pdus", f"{quote(name)} is not a PDU of this inventory (pdus:)"
                )
        if rack.warn_pct >= rack.crit_pct:
            report(
                None,
                f"racks.{rack.name}",
                f"warn_pct ({rack.warn_pct:g}) must be below crit_pct ({rack.crit_pct:g})",
            )
    for node, (line, member_of) in nodes.items():
        if member_of is not None and member_of not in rack_names:
            report(line, f"nodes.{node}.rack", f"{quote(member_of)} is not a rack of this inventory (racks:)")


def check_bmc(report: Report, node: str, line: int | None, bmc: BmcSettings | None) -> None:
    if bmc is None:
        return
    key = f"nodes.{node}.bmc"
    if (bmc.redfish is None) == (bmc.ipmi is None):
        report(line, key, "give one of redfish: URL or ipmi: dcmi")
    if bmc.password_env is not None and bmc.password_file is not None:
        report(line, key, "give the password once: password_env or password_file")
