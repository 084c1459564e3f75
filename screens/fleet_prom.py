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
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from textual import work
from textual.message import Message

from console.model.inventory import Node
from console.model.prom_fleet import PromFleetSnapshot

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
        for snapshot in merge.snapshots:
            screen.session.record(snapshot)
        if screen.is_current and (merge.added or merge.snapshots):
            table = screen.table
            with screen.app.batch_update():
                table.add_nodes(merge.added)
                nodes = self.merged_nodes()
                for snapshot in merge.snapshots:
                    table.show(screen.view(nodes[snapshot.node]), rearrange=False, header=False)
                table.regroup()  # the headers and the order, once for the whole read
            screen.show_status()
        elif merge.added:
            screen.table.add_nodes(merge.added)  # drawn by catch_up when the screen is back
        screen.set_timer(screen.ops_app.base_interval, self._prom_fleet_due)

    def _prom_fleet_due(self) -> None:
        screen = cast("FleetScreen", self)
        if screen.is_current and not screen.ops_app.paused:
            screen.read_prom_fleet()
        else:
            self._prom_fleet_waiting = True

    def prom_fleet_catch_up(self) -> None:
        screen = cast("FleetScreen", self)
        if self._prom_fleet_waiting:
            screen.read_prom_fleet()
