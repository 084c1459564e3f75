"""Racks: per rack, its PDUs' watts against the budget, the sum of its nodes' BMC watts and of their GPU watts
(the difference is what the rest of the hosts draw), the headroom; under it each PDU and each node.

The app polls the racks' nodes while this screen shows (their BMC and GPU sections come with the polls); the
PDUs are read by this screen's own worker, over SNMP from the workstation, rescheduled while it is shown.
Levels come from the power checks (console.checks.power_rules), the same rules `--check` runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from console.checks.power_rules import evaluate_racks, rack_levels, rack_powers
from console.collectors.pdu import read_pdus
from console.model.checks import CheckResult, Status
from console.model.inventory import PduSpec
from console.model.node import NodeSnapshot
from console.model.power import PduReading, RackPower
from screens.base import ConsoleScreen
from widgets.rack_tables import RackTable, node_key, pdu_key, rack_key, watts
from widgets.status import status_text
from widgets.trouble import tally_text

if TYPE_CHECKING:
    from screens.app import OpsConsoleApp

PduReader = Callable[..., Awaitable[Mapping[str, PduReading]]]


@dataclass
class PdusRead(Message):
    """The racks' PDUs were read; these are their readings by inventory name."""

    readings: Mapping[str, PduReading]


class RacksScreen(ConsoleScreen):
    CSS_PATH = "racks.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open", "Open node"),
    ]

    def __init__(self, *, reader: PduReader | None = None) -> None:
        super().__init__()
        self.reader: PduReader = reader or read_pdus
        self.readings: Mapping[str, PduReading] = {}
        self.racks: tuple[RackPower, ...] = ()
        self.results: tuple[CheckResult, ...] = ()
        self._waiting = True
        self._read_once = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="racks-summary")
        yield RackTable(id="rack-table")
        yield Static(id="racks-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "power per rack: PDUs against the budget, BMC and GPU watts"
        self.query_one(RackTable).focus()

    @property
    def pdus(self) -> tuple[PduSpec, ...]:
        wanted = {name for rack in self.ops_app.inventory.racks for name in rack.pdus}
        return tuple(pdu for pdu in self.ops_app.inventory.pdus if pdu.name in wanted)

    def polled_nodes(self) -> Iterable[str]:
        racks = {rack.name for rack in self.ops_app.inventory.racks}
        return [name for name, node in self.ops_app.nodes.items() if node.rack in racks]

    def show_snapshot(self, snapshot: NodeSnapshot) -> None:
        self._show()

    def show_snapshots(self, snapshots: Sequence[NodeSnapshot]) -> None:
        self._show()  # every rack is summed again: once per frame, not once per answer

    def catch_up(self) -> None:
        self._show()
        if self._waiting:
            self.poll_pdus()

    def refresh_now(self) -> None:
        self.poll_pdus()

    def show_status(self) -> None:
        self._show()

    @work(group="racks-pdus", exclusive=True, exit_on_error=False)
    async def poll_pdus(self) -> None:
        self._waiting = False
        if self.pdus:
            self.post_message(PdusRead(await self.reader(self.pdus)))

    def on_pdus_read(self, message: PdusRead) -> None:
        self.readings = message.readings
        self._read_once = True
        self._show()
        self.set_timer(self.ops_app.base_interval, self._pdus_due)

    def _pdus_due(self) -> None:
        if self.is_current and not self.ops_app.paused:
            self.poll_pdus()
        else:
            self._waiting = True

    def _show(self) -> None:
        inventory = self.ops_app.inventory
        latest = self.session.latest
        self.racks = rack_powers(inventory, self.readings, latest)
        self.results = evaluate_racks(inventory, self.readings, latest)
        self.query_one(RackTable).show(self.racks, rack_levels(self.results))
        self.set_text("#racks-summary", self._summary())
        self._show_detail()

    def _summary(self) -> Text:
        if not self.racks:
            return Text("no racks in this inventory (racks:, pdus:, a node's rack:)", style="dim")
        parts = [Text(f"{len(self.racks)} rack{'s' if len(self.racks) != 1 else ''}", style="bold")]
        budget = sum(rack.budget_w or 0.0 for rack in self.racks)
        drawn = [rack.pdu_watts for rack in self.racks]
        if all(value is not None for value in drawn):
            parts.append(
                Text(f"PDUs {watts(sum(v for v in drawn if v is not None)).plain} of {watts(budget).plain}")
            )
        # the racks by their level, as the fleet counts nodes ('✖ 1 crit ▲ 1 warn ✔ 1 ok'): bare counts of
        # every rack and PDU result ('✔ 2 ▲ 2 ✖ 2' beside '3 racks') did not add up to the racks
        levels = rack_levels(self.results)
        tally = tally_text([levels.get((rack.rack, None)) for rack in self.racks])
        if tally:
            parts.append(tally)
        if not self._read_once:
            parts.append(Text("reading the PDUs…", style="dim"))
        if self.ops_app.paused:
            parts.insert(0, Text("⏸ PAUSED", style="bold reverse"))
        return Text("  ·  ").join(parts)

    def _show_detail(self) -> None:
        key = self.query_one(RackTable).cursor_key or ""
        self.set_text("#racks-detail", self._detail(key))

    def _detail(self, key: str) -> Text:
        for rack in self.racks:
            if key == rack_key(rack.rack):
                return self._result_text(rack.rack, None)
            for reading in rack.pdus:
                if key == pdu_key(rack.rack, reading.pdu):
                    return self._result_text(rack.rack, reading.pdu)
            for node in rack.nodes:
                if key == node_key(rack.rack, node.node):
                    checks = [
                        r
                        for r in self.session.checks(self.ops_app.nodes[node.node])
                        if r.check == "power.bmc"
                    ]
                    if checks:
                        return Text.assemble(
                            status_text(checks[0].status), f" {node.node}: {checks[0].summary}"
                        )
                    return Text(f"{node.node}: no BMC reading yet", style="dim")
        return Text("no row selected", style="dim")

    def _result_text(self, rack: str, target: str | None) -> Text:
        for result in self.results:
            if result.node == rack and result.target == target:
                label = rack + (f" [{target}]" if target else "")
                return Text.assemble(_status(result.status), label, f": {result.summary}")
        return Text(rack, style="dim")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        key = self.query_one(RackTable).cursor_key or ""
        if key.startswith("node|"):
            name = key.split("|", 2)[2]
            if name in self.ops_app.nodes:
                self.ops_app.open_node(name)

    def action_back(self) -> None:
        self.app.pop_screen()


def _status(status: Status) -> Text:
    # The space ends the status's run: SVG viewers drop a run's leading spaces.
    text = status_text(status)
    text.append(" ")
    return text


def open_racks(app: OpsConsoleApp) -> None:
    """The rack view over the fleet screen (`P` there, and the palette)."""
    app.action_open_fleet()
    app.push_screen(RacksScreen())
