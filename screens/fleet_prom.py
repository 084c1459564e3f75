"""The fleet screen's rows for the nodes read from Prometheus (`fleet: {source: prometheus}`).

One worker reads the whole fleet per refresh (`ConsoleSession.prom_fleet`: PromFleetReader underneath,
which asks Prometheus at most once per scrape interval), never a poll per node. A read's result comes back
as a message; `PromFleet.merge` says which nodes are new (rows added) and which snapshots changed (a read
that is the one already shown changes nothing: no row is touched). Nodes the series stop naming stay, as
"gone". The rows then go through the same path as an SSH node's: the session's verdict, the sections'
cells, `FleetTable.show`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from textual import work
from textual.message import Message
from textual.timer import Timer

from console.model.inventory import Node
from console.model.prom_fleet import PromFleetSnapshot
from screens.slices import in_slices

if TYPE_CHECKING:
    from screens.fleet import FleetScreen


@dataclass
class PromFleetRead(Message):
    """A read of the fleet from Prometheus came back (perhaps the last one again)."""

    snapshot: PromFleetSnapshot


class PromFleetRows:
    """Mixed into FleetScreen (which provides session, table, view, show_status)."""

    _prom_nodes: dict[str, Node] | None = None  # the inventory's nodes then the discovered ones
    _prom_fleet_waiting = False
    _prom_slicer: Timer | None = None  # the next slice of rows, while some are due
    _prom_grew = False  # nodes were added since the rows were last all in
    _prom_first: str | None = None  # the first node of a table that was empty: the cursor goes there

    def __init__(self) -> None:
        super().__init__()
        self._prom_due: dict[str, None] = {}  # the nodes whose rows wait to be handed to the table, in order

    def merged_nodes(self) -> dict[str, Node]:
        screen = cast("FleetScreen", self)
        return self._prom_nodes if self._prom_nodes is not None else screen.ops_app.nodes

    def discovered(self, name: str) -> Node | None:
        screen = cast("FleetScreen", self)
        fleet = screen.session.prom_fleet
        return fleet.nodes.get(name) if fleet is not None else None

    @work(group="fleet-from-prometheus", exclusive=True, exit_on_error=False)
    async def read_prom_fleet(self) -> None:
        screen = cast("FleetScreen", self)
        fleet = screen.session.prom_fleet
        if fleet is None:
            return
        self._prom_fleet_waiting = False
        try:
            snapshot = await fleet.read()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not stop the refresh: the rows say it, the next read retries
            snapshot = PromFleetSnapshot(screen.session.now(), "", error=f"internal error: {exc}")
        screen.post_message(PromFleetRead(snapshot))

    def on_prom_fleet_read(self, message: PromFleetRead) -> None:
        screen = cast("FleetScreen", self)
        fleet = screen.session.prom_fleet
        if fleet is None:
            return
        merge = fleet.merge(message.snapshot)
        if merge.added:
            self._prom_nodes = {**screen.ops_app.nodes, **fleet.nodes}
            self._prom_grew = True
            if screen.table.enrol(merge.added):
                self._prom_first = merge.added[0].name
        for snapshot in merge.snapshots:
            screen.session.record(snapshot)
        # rows drawn by catch_up when the screen is back
        self._prom_due.update(dict.fromkeys(node.name for node in merge.added))
        self._prom_due.update(dict.fromkeys(snapshot.node for snapshot in merge.snapshots))
        if self._prom_due and screen.is_current and self._prom_slicer is None:
            self._prom_rows()
        screen.set_timer(screen.ops_app.base_interval, self._prom_fleet_due)

    def _prom_rows(self) -> None:
        """Hand the rows due to the table in slices (screens/slices.py), the rest at the next turn of
        the event loop: a key pressed meanwhile is handled between slices, not after 2,000 rows. The rows are
        drawn from the session's latest snapshots, so a read that comes meanwhile only adds to what is due.
        Once all are in, the headers and the order, once for the whole read."""
        self._prom_slicer = None
        screen = cast("FleetScreen", self)
        if not screen.is_current:
            return  # catch_up draws every row when the screen is back
        table, nodes = screen.table, self.merged_nodes()

        def hand(names: Sequence[str]) -> None:
            for name in names:
                table.show(screen.view(nodes[name]), rearrange=False, header=False, place=False)
                screen.node_status(nodes[name])  # judged here, not all at once by show_status at the end

        due = list(self._prom_due)
        with screen.app.batch_update():
            done = in_slices(due, hand)
        for name in due[:done]:
            del self._prom_due[name]
        if self._prom_due:
            self._prom_slicer = screen.set_timer(0.001, self._prom_rows, name="prom-fleet-rows")
            return
        with screen.app.batch_update():
            table.regroup()
            if self._prom_first is not None:
                table.restore_cursor(self._prom_first)  # a table that was empty: on its first node
                self._prom_first = None
        screen.show_status()
        if self._prom_grew:
            self._prom_grew = False
            screen.ops_app.heap.settled()  # the new rows are hundreds of thousands of long-lived objects

    def _prom_fleet_due(self) -> None:
        screen = cast("FleetScreen", self)
        if screen.is_current and not screen.ops_app.paused:
            screen.read_prom_fleet()
        else:
            self._prom_fleet_waiting = True

    def prom_fleet_catch_up(self) -> None:
        """The screen is back: catch_up draws every row, those still due included."""
        screen = cast("FleetScreen", self)
        self._prom_due.clear()
        if self._prom_first is not None:
            first, self._prom_first = self._prom_first, None
            screen.call_later(screen.table.restore_cursor, first)  # after catch_up's regroup
        if self._prom_fleet_waiting:
            screen.read_prom_fleet()
