"""The rack view's table: per rack its PDUs' watts against the budget, its nodes' BMC and GPU watts, the rest
of the hosts and the headroom; under it each PDU and each node. Render only: the figures come summed
(console.model.power.RackPower) and the levels judged (the power checks), keyed (rack, PDU or None).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.text import Text

from console.model.checks import Status
from console.model.power import NodePower, PduReading, RackPower
from widgets.keyed_table import Column, KeyedTable
from widgets.status import DASH, level_style, status_text

Levels = Mapping[tuple[str, str | None], Status]


def watts(value: float | None, style: str = "") -> Text:
    return DASH if value is None else Text(f"{value:,.0f} W", style=style, justify="right")


def _pct(value: float | None, style: str = "") -> Text:
    return DASH if value is None else Text(f"{value:.0f}%", style=style, justify="right")


def rack_key(rack: str) -> str:
    return f"rack|{rack}"


def pdu_key(rack: str, pdu: str) -> str:
    return f"pdu|{rack}|{pdu}"


def node_key(rack: str, node: str) -> str:
    return f"node|{rack}|{node}"


def _status(level: Status | None) -> Text:
    return status_text(level) if level is not None else Text("")


def rack_cells(rack: RackPower, level: Status | None) -> dict[str, Text]:
    style = level_style(level)
    return {
        "status": _status(level),
        "name": Text(rack.rack, style="bold"),
        "budget": watts(rack.budget_w),
        "pdu": watts(rack.pdu_watts, style),
        "pct": _pct(rack.pdu_pct, style),
        "bmc": watts(rack.bmc_watts),
        "gpu": watts(rack.gpu_watts),
        "rest": watts(rack.rest_watts),
        "headroom": watts(rack.headroom_w, style),
        "note": Text(f"{len(rack.nodes)} node{'s' if len(rack.nodes) != 1 else ''}", style="dim"),
    }


def pdu_cells(rack: RackPower, reading: PduReading, level: Status | None) -> dict[str, Text]:
    style = level_style(level)
    pct = None
    if reading.watts is not None and rack.budget_w:
        pct = 100.0 * reading.watts / rack.budget_w
    if reading.error is not None:
        note = Text(reading.error, style="bold magenta")
    else:
        phases = "  ".join(
            f"L{phase.number} {'–' if phase.amps is None else f'{phase.amps:g} A'}"
            for phase in reading.phases
        )
        note = Text(" · ".join(part for part in (reading.name or "", phases) if part), style="dim")
    return {
        "status": _status(level),
        "name": Text(f"  PDU {reading.pdu}"),
        "budget": Text(""),
        "pdu": watts(reading.watts, style),
        "pct": _pct(pct, style),
        "bmc": Text(""),
        "gpu": Text(""),
        "rest": Text(""),
        "headroom": Text(""),
        "note": note,
    }


def node_cells(node: NodePower) -> dict[str, Text]:
    rest = None if node.bmc_watts is None or node.gpu_watts is None else node.bmc_watts - node.gpu_watts
    if not node.has_bmc:
        note = Text("no BMC in the inventory", style="dim")
    elif node.bmc_error is not None:
        note = Text(node.bmc_error, style="bold magenta")
    else:
        note = Text("")
    return {
        "status": _status(Status.UNKNOWN) if node.has_bmc and node.bmc_watts is None else Text(""),
        "name": Text(f"  {node.node}"),
        "budget": Text(""),
        "pdu": Text(""),
        "pct": Text(""),
        "bmc": watts(node.bmc_watts),
        "gpu": watts(node.gpu_watts),
        "rest": watts(rest),
        "headroom": Text(""),
        "note": note,
    }


class RackTable(KeyedTable):
    """A rack's row, then its PDUs, then its nodes; keyed rack|…, pdu|rack|…, node|rack|…."""

    COLUMNS: tuple[Column, ...] = (
        Column("status", "", 6, 0, keep=True),
        Column("name", "Rack / PDU / node", 18, 0, keep=True),
        Column("budget", "Budget", 8, 2),
        Column("pdu", "PDU", 8, 0),
        Column("pct", "Use", 4, 0),
        Column("bmc", "BMC", 8, 0),
        Column("gpu", "GPUs", 8, 0),
        Column("rest", "Rest", 8, 3),
        Column("headroom", "Headroom", 8, 1),
        Column("note", "Detail", 10, 4, flex=True),
    )

    def show(self, racks: Iterable[RackPower], levels: Levels) -> None:
        rows: dict[str, dict[str, Text]] = {}
        for rack in racks:
            rows[rack_key(rack.rack)] = rack_cells(rack, levels.get((rack.rack, None)))
            for reading in rack.pdus:
                rows[pdu_key(rack.rack, reading.pdu)] = pdu_cells(
                    rack, reading, levels.get((rack.rack, reading.pdu))
                )
            for node in rack.nodes:
                rows[node_key(rack.rack, node.node)] = node_cells(node)
        self.sync(rows)
