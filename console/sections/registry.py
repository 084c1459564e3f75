"""The section registry: one `Section` per NodeSnapshot field a poll fills, in check-result order.

A section declares, in one object, its inventory keys, whether a node wants it, how to read it (on demand:
`collect`; over a long-lived stream: `stream`, see console/sections/stream.py), what it says when that read
times out, the check rules that judge it, the read-only commands its reads run and its fleet-table columns.
The loader, the snapshot source (`console.poll.on_demand_collectors`, `console.streams.source`), the checks
runner (`console.checks.rules`), the fleet table and the read-only allow-list (`console.transport.readonly`)
iterate it; none of them names a section. Registering pushes the section's commands down into the
allow-list and its settings into `console.inventory.settings`: neither floor imports what stands on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from console.inventory.settings import SectionSettings, register_settings
from console.model.checks import CheckResult
from console.model.columns import Cells, ColumnSpec, NodeTab
from console.model.inventory import Node
from console.model.node import NodeSnapshot
from console.sections.stream import Stream
from console.transport.base import Transport
from console.transport.readonly import Argv, Text, register_read_only

Planned = Sequence[tuple[str, str | None]]  # (check id, target) pairs
ReadOnlyRule = str | Argv | Text

# NodeSnapshot's fields a section may fill; the others say who, when and how the node was reached.
SNAPSHOT_FIELDS = frozenset(field.name for field in dataclasses.fields(NodeSnapshot)) - {
    "node",
    "taken_at",
    "reachable",
    "error",
    "connect_s",
    "connected_at",
    "prom",  # a node read from the fleet's Prometheus series (console/fleet_from_prometheus.py)
}


@dataclass(frozen=True, slots=True)
class Section:
    """One section of a node's snapshot, as a plug-in.

    name: the NodeSnapshot field it fills.
    wanted: whether this node's inventory asks for it (no collector runs, no rule is evaluated otherwise).
    planned: the (check id, target) pairs it will report, known before anything runs; called for every node.
    evaluate: its check results from the whole snapshot (a rule may read another section, as the bind audit
      reads Docker's published ports); called only for a wanted node that was reached.
    collect: the on-demand collector, run on every poll of a wanted node (never raises for node trouble);
      None when a stream fills the section.
    read_only_commands: what its reads run, as the read-only wrapper must allow them (exact text, Argv, Text).
    stream: how a long-lived stream keeps it current (console/sections/stream.py); None: `collect` reads it.
    timed_out: its snapshot when its read missed the poll's deadline, from the node and the reason ("timed
      out after 5s"); None: the section reads as not read (its rules say "no data").
    settings: its inventory keys under a node (console/inventory/settings.py: type, checks), read by the
      loader once the section is registered; a built-in's live on the inventory's floor.
    columns, cells: its fleet-table columns and one answered node's values in them (console/model/columns.py
      says how to declare them; console/sections/columns.py gathers them in registration order).
    tab: its tab on the node screen (console/model/columns.NodeTab; gathered by columns.node_tabs).
    without_node: a read that needs no connection to the node (a BMC over Redfish, from the workstation), run
      also when the node cannot be reached; it returns the section's value, or None where this node's
      settings need the node (its rules are then skipped with the node's). None: the section has no such read.
    """

    name: str
    wanted: Callable[[Node], bool]
    planned: Callable[[Node], Planned]
    evaluate: Callable[[Node, NodeSnapshot], Sequence[CheckResult]]
    collect: Callable[[Transport, Node], Awaitable[Any]] | None = None
    read_only_commands: tuple[ReadOnlyRule, ...] = ()
    stream: Stream | None = None
    timed_out: Callable[[Node, str], Any] | None = None
    settings: tuple[SectionSettings, ...] = ()
    columns: tuple[ColumnSpec, ...] = ()
    cells: Cells | None = None
    tab: NodeTab | None = None
    without_node: Callable[[Node], Awaitable[Any]] | None = None


SECTIONS: dict[str, Section] = {}


def register(section: Section) -> None:
    """Add a section after the ones registered before it (registering a name again replaces it in place)
    and allow its read-only commands."""
    if section.name not in SNAPSHOT_FIELDS:
        fields = ", ".join(sorted(SNAPSHOT_FIELDS))
        raise ValueError(f"{section.name!r} is not a NodeSnapshot section ({fields})")
    if section.collect is not None and section.stream is not None:
        raise ValueError(f"section {section.name!r}: a collector or a stream, not both")
    for rule in section.read_only_commands:
        register_read_only(rule)
    for settings in section.settings:
        register_settings(settings)
    SECTIONS[section.name] = section


def registered() -> tuple[Section, ...]:
    """The sections in registration order: the order of a node's check results."""
    return tuple(SECTIONS.values())


def timed_out(name: str, node: Node, seconds: float) -> Any:
    """What section `name` says when its read did not answer within `seconds`: its own placeholder
    (the rest of the node untouched), or None (not read) for a section that declares none."""
    section = SECTIONS.get(name)
    if section is None or section.timed_out is None:
        return None
    return section.timed_out(node, f"timed out after {seconds:.3g}s")
