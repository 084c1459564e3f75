"""The inventory's top-level keys besides the file's own frame (`version`, `name`, `defaults`, `groups`,
`nodes`): each system's key (`prometheus`, `pdus`, `racks`, `slurm`, `kubernetes`, `fleet`, `monitoring`,
`tunnels`, and a plug-in's) is a `TopKey` registered here, as a section's node key is a `SectionSettings`
(settings.py). The loader iterates this registry: a system adds its top-level key without editing it.

A `TopKey` says how its value is read (converted, then cross-checked against the file's nodes), whether it
is read before the nodes are built (`fleet`: whether the file needs nodes at all), whether the value is
kept on the `Inventory` (its field of that name, or `Inventory.plugins` for a key that is not a field; read
with `inventory.settings(KEY)`) or only changes the nodes (`slurm`, `kubernetes`), and the node keys it
brings (`racks` brings a node's `rack`). Keys are read in registration order, which is also the order
their problems are reported in where two share a line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from console.model.inventory import (
    FleetSettings,
    MonitoringSettings,
    Node,
    PduSpec,
    PrometheusSettings,
    RackSpec,
)
from console.model.slurm import SlurmSettings

from .kubernetes import KubernetesSettings, apply_kubernetes
from .partial import INVALID, Builder, Partial
from .power import check_bmc, check_power, convert_named
from .rules import quote
from .settings import SectionSettings, register_settings
from .slurm import apply_slurm
from .tunnels import check_exporter_ports, convert_tunnels

Entry = tuple[int, Any] | None  # (line, YAML node) of a top-level key as the file has it; None: absent


@dataclass(slots=True)
class TopRead:
    """What a top-level key's read sees and may change.

    conv: the loader's converter (`value`, `complete`, `mapping`, `pairs`, `problem`).
    top: every top-level key of the file, (line, YAML node).
    names: every node name in the file (built or not), for cross-references.
    nodes: the nodes built so far (empty before them); a key that changes nodes replaces them.
    values: the keys read so far, by key.
    """

    conv: Any
    top: dict[str, tuple[int, Any]]
    names: frozenset[str] = frozenset()
    nodes: tuple[Node, ...] = ()
    values: dict[str, Any] = field(default_factory=dict)

    def problem(self, line: int | None, key: str, message: str) -> None:
        self.conv.problem(line, key, message)

    def line(self, key: str) -> int | None:
        entry = self.top.get(key)
        return entry[0] if entry is not None else None

    def settings(self, key: str, kind: type) -> Any:
        """`key: {...}` built into `kind`, every required key set; None when absent, null or invalid (its
        problems are reported)."""
        entry = self.top.get(key)
        if entry is None or entry[1].tag.endswith(":null"):
            return None
        line, vnode = entry
        partial = self.conv.complete(self.conv.value(vnode, kind | None, key, line), key, line)
        built = Builder().build(partial, None) if isinstance(partial, Partial) else None
        return built if isinstance(built, kind) else None


@dataclass(frozen=True, slots=True)
class TopKey:
    """One top-level key.

    key: the key at the top of the file.
    read: its value (reporting its problems through `TopRead.problem`); INVALID refuses the whole file.
    keep: the value is kept on the Inventory (its field `key`, or `Inventory.plugins`); False: the read
      only changes `TopRead.nodes`.
    before_nodes: read before the nodes are built; `nodes_optional(value)` then says whether the file may
      list no node (a fleet read from Prometheus).
    finish: a check once every key is read (a cross-check against a key registered after it).
    node_keys: node keys that come with it (`racks`: a node's `rack`), registered as node settings.
    """

    key: str
    read: Callable[[TopRead], Any]
    keep: bool = True
    before_nodes: bool = False
    nodes_optional: Callable[[Any], bool] | None = None
    finish: Callable[[TopRead], None] | None = None
    node_keys: tuple[SectionSettings, ...] = ()


TOP_KEYS: dict[str, TopKey] = {}


def register_top_key(key: TopKey) -> None:
    """Let the file's top level have `key.key` (registering a key again replaces it) and nodes (defaults,
    groups) the node keys it brings."""
    TOP_KEYS[key.key] = key
    for settings in key.node_keys:
        register_settings(settings)


def registered_top_keys() -> tuple[TopKey, ...]:
    return tuple(TOP_KEYS.values())


def _node_key(key: str, *, defaultable: bool = True) -> SectionSettings:
    """A key that is a `Node` field (its checks are in rules.CHECKS, keyed by (Node, key))."""
    return SectionSettings(key, get_type_hints(Node)[key], defaultable=defaultable)


# The node's own keys that `defaults` and `groups.NAME` may set (besides the sections' and the systems').
for _key in ("kind", "ssh", "refresh", "thresholds", "power_budget_w", "scratch"):
    register_settings(_node_key(_key))


def _prometheus(read: TopRead) -> Any:
    entry = read.top.get("prometheus")
    if entry is None:
        return None
    line, vnode = entry
    conv = read.conv
    partial = conv.complete(
        conv.value(vnode, PrometheusSettings | None, "prometheus", line), "prometheus", line
    )
    if not isinstance(partial, Partial):
        return partial  # None (null) or INVALID
    via = partial.values.get("via")
    if isinstance(via, str) and via not in read.names:
        conv.problem(line, "prometheus.via", f"{quote(via)} is not a node of this inventory")
    return Builder().build(partial, None)


def _racks(read: TopRead) -> tuple[RackSpec, ...]:
    racks = convert_named(read.conv, read.top.get("racks"), RackSpec, "racks")
    check_power(
        read.problem, read.values.get("pdus", ()), racks, {n.name: (None, n.rack) for n in read.nodes}
    )
    for node in read.nodes:
        check_bmc(read.problem, node.name, None, node.bmc)
    return racks


def _slurm(read: TopRead) -> None:
    top = read.settings("slurm", SlurmSettings)
    read.nodes = apply_slurm(read.problem, read.nodes, top, read.line("slurm"), read.names)


def _kubernetes(read: TopRead) -> None:
    top = read.settings("kubernetes", KubernetesSettings)
    read.nodes = apply_kubernetes(read.problem, read.nodes, top, read.line("kubernetes"), read.names)


def _tunnels(read: TopRead) -> Any:
    tunnels = convert_tunnels(read.conv, read.top.get("tunnels"), read.names)
    check_exporter_ports(read.problem, read.nodes)
    return tunnels


def _fleet_source(read: TopRead) -> None:
    fleet = read.values.get("fleet")
    if (
        isinstance(fleet, FleetSettings)
        and fleet.source == "prometheus"
        and read.values.get("prometheus") is None
    ):
        read.problem(
            read.line("fleet"), "fleet.source", "prometheus needs the prometheus: {url: ...} to read from"
        )


# The built-in systems' keys, in the order they are read.
for _top in (
    TopKey(
        "fleet",
        lambda read: read.settings("fleet", FleetSettings) or FleetSettings(),
        before_nodes=True,
        nodes_optional=lambda fleet: fleet.source == "prometheus",
        finish=_fleet_source,
    ),
    TopKey("monitoring", lambda read: read.settings("monitoring", MonitoringSettings), before_nodes=True),
    TopKey("prometheus", _prometheus),
    TopKey("pdus", lambda read: convert_named(read.conv, read.top.get("pdus"), PduSpec, "pdus")),
    TopKey("racks", _racks, node_keys=(_node_key("rack"),)),
    TopKey("slurm", _slurm, keep=False),
    TopKey("kubernetes", _kubernetes, keep=False),
    TopKey("tunnels", _tunnels),
):
    register_top_key(_top)

__all__ = ["INVALID", "Entry", "TopKey", "TopRead", "register_top_key", "registered_top_keys"]
