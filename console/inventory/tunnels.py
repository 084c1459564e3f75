"""The inventory's `tunnels:` key (name -> node, remote, local_port, labels, scrape) and a node's
`gpus.exporter_port`; every problem reported at its line, as the loader reports its own.

    tunnels:
      gpu1-dcgm: {node: gpu1, remote: "127.0.0.1:9400", local_port: 19400, labels: {pod: a100-1}}

The implied tunnels (services, the GPU exporter) are not built here: `console.model.tunnels.planned_tunnels`
adds them to these, so `inventory check` shows only what the file says.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Collection
from typing import Any

from yaml.nodes import MappingNode, ScalarNode

from console.model.inventory import GpuExpectation, Node
from console.model.tunnels import TunnelSpec, exporter_port

from .partial import INVALID
from .rules import _HOST_RE, CHECKS, NODE_NAME_RE, _port, quote

Report = Callable[[int | None, str, str], None]
_LABEL_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # Prometheus's label name rule
_REMOTE_RE = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]+)):(?P<port>[0-9]{1,5})")
_FIELDS: dict[str, Any] = {"node": str, "remote": str, "local_port": int, "scrape": bool}

CHECKS.update({(GpuExpectation, "exporter_port"): _port})


def parse_remote(text: str) -> tuple[str, int] | str:
    """HOST:PORT (or [V6]:PORT) as seen from the node -> (host, port), or why it is not one."""
    match = _REMOTE_RE.fullmatch(text)
    if match is None:
        return "must be HOST:PORT as seen from the node, e.g. 127.0.0.1:9400 ([::1]:9400 for IPv6)"
    port = int(match["port"])
    if not 1 <= port <= 65535:
        return "port must be between 1 and 65535"
    host = match["v6"] or match["host"]
    if match["v6"]:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return f"{quote(host)} in brackets is not an IPv6 address"
    elif not _HOST_RE.fullmatch(host):
        return f"{quote(host)} is not a host name or address"
    return host, port


def _labels(conv: Any, vnode: Any, key: str, line: int) -> tuple[tuple[str, str], ...] | None:
    if not isinstance(vnode, MappingNode):
        conv.problem(line, key, "expected a mapping of label name to value")
        return None
    out: list[tuple[str, str]] = []
    ok = True
    for name, lline, value in conv.pairs(vnode, key):
        sub = f"{key}.{name}"
        if not _LABEL_RE.fullmatch(name) or name.startswith("__"):
            conv.problem(lline, sub, "a label name is [A-Za-z_][A-Za-z0-9_]* and never starts with __")
            ok = False
            continue
        if not isinstance(value, ScalarNode):
            conv.problem(lline, sub, "expected a string")
            ok = False
            continue
        text = conv.value(value, str, sub, lline)
        if text is INVALID:
            ok = False
            continue
        out.append((name, text))
    return tuple(out) if ok else None


def _entry(conv: Any, name: str, line: int, vnode: Any, names: Collection[str]) -> TunnelSpec | None:
    key = f"tunnels.{name}"
    if not NODE_NAME_RE.fullmatch(name):
        conv.problem(line, key, "tunnel names must start with a letter or digit and use only A-Za-z0-9_.-")
        return None
    if not isinstance(vnode, MappingNode):
        conv.problem(line, key, "expected a mapping with node, remote and local_port")
        return None
    values: dict[str, Any] = {}
    broken = False
    for field, fline, fnode in conv.pairs(vnode, key):
        sub = f"{key}.{field}"
        if field == "labels":
            values["labels"] = labels = _labels(conv, fnode, sub, fline)
            broken |= labels is None
        elif field not in _FIELDS:
            conv.problem(fline, sub, "unknown key")
            broken = True
        else:
            check = _port if field == "local_port" else None
            value = conv.value(fnode, _FIELDS[field], sub, fline, check)
            if field == "node" and value is not INVALID and value not in names:
                conv.problem(fline, sub, f"{quote(value)} is not a node of this inventory")
                value = INVALID
            if field == "remote" and value is not INVALID:
                parsed = parse_remote(value)
                if isinstance(parsed, str):
                    conv.problem(fline, sub, parsed)
                    value = INVALID
                else:
                    value = parsed
            values[field] = value
            broken |= value is INVALID
    for required in ("node", "remote"):
        if required not in values:
            conv.problem(line, f"{key}.{required}", "missing required key")
            broken = True
    if broken:
        return None
    host, port = values["remote"]
    return TunnelSpec(
        name,
        values["node"],
        host,
        port,
        local_port=values.get("local_port"),
        labels=values.get("labels") or (),
        scrape=values.get("scrape", True),
    )


def convert_tunnels(
    conv: Any, entry: tuple[int, Any] | None, names: Collection[str]
) -> tuple[TunnelSpec, ...]:
    """`tunnels: {NAME: {...}}` -> the specs; two tunnels on one local port are refused at the second."""
    if entry is None or (isinstance(entry[1], ScalarNode) and entry[1].tag.endswith(":null")):
        return ()
    line, vnode = entry
    if not isinstance(vnode, MappingNode):
        conv.problem(line, "tunnels", "expected a mapping of tunnel name to {node, remote, local_port}")
        return ()
    built: list[TunnelSpec] = []
    ports: dict[int, str] = {}
    for name, nline, node in conv.pairs(vnode, "tunnels"):
        spec = _entry(conv, name, nline, node, names)
        if spec is None:
            continue
        if spec.local_port is not None and spec.local_port in ports:
            first = ports[spec.local_port]
            conv.problem(
                nline, f"tunnels.{name}.local_port", f"{spec.local_port} is already tunnel {quote(first)}'s"
            )
            continue
        if spec.local_port is not None:
            ports[spec.local_port] = name
        built.append(spec)
    return tuple(built)


def check_exporter_ports(report: Report, nodes: tuple[Node, ...]) -> None:
    """`exporter_port` means the port of the exporter that `source: prometheus` reads through a tunnel."""
    for node in nodes:
        gpus = node.gpus
        if gpus is not None and gpus.exporter_port is not None and exporter_port(node) is None:
            report(
                None,
                f"nodes.{node.name}.gpus.exporter_port",
                "only with source: prometheus (the exporter the tunnel reaches)",
            )
