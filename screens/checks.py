"""Checks: every check result across the fleet (the same rules `--check` runs), filterable by status.

Node results come from each node's latest snapshot (the app polls every node while this screen shows);
the fleet's Prometheus checks are asked by this screen's own worker, rescheduled while it is shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from console.model.checks import CheckResult, Status
from console.model.node import NodeSnapshot
from screens.base import ConsoleScreen
from screens.messages import FleetChecksAnswered
from widgets.checks_table import FILTERS, FleetChecksTable, detail_text
from widgets.status import SEVERITY_ORDER, STATUS_WORD, plural, status_text

SCOPES = {"all": "checks across the fleet", "prometheus": "the fleet's Prometheus: alerts and targets"}


class ChecksScreen(ConsoleScreen):
    CSS_PATH = "checks.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f", "filter", "Filter status"),
        Binding("a", "scope", "Prometheus only"),
        Binding("enter", "open", "Open node"),
    ]

    def __init__(self, *, status_filter: str = "all", scope: str = "all") -> None:
        super().__init__()
        self.status_filter = status_filter if status_filter in FILTERS else "all"
        self.scope = scope if scope in SCOPES else "all"
        self.fleet_results: tuple[CheckResult, ...] = ()
        self.shown: dict[str, CheckResult] = {}
        self._fleet_waiting = True

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="checks-summary")
        yield FleetChecksTable(id="fleet-checks")
        yield Static(id="checks-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = SCOPES[self.scope]
        self.fleet_results = self.ops_app.fleet_results or ()
        self.query_one(FleetChecksTable).focus()

    def polled_nodes(self) -> Iterable[str]:
        return self.ops_app.nodes

    def all_results(self) -> list[CheckResult]:
        if self.scope == "prometheus":
            return list(self.fleet_results)
        # and the nodes read from Prometheus, judged from their series
        nodes = [*self.ops_app.nodes.values(), *self.ops_app.discovered_nodes().values()]
        results = [result for node in nodes for result in self.session.checks(node)]
        return results + list(self.fleet_results)

    def show_snapshot(self, snapshot: NodeSnapshot) -> None:
        self._show()

    def show_snapshots(self, snapshots: Sequence[NodeSnapshot]) -> None:
        self._show()  # it gathers every node's results: once per frame, not once per answer

    def catch_up(self) -> None:
        self._show()
        if self._fleet_waiting:
            self.poll_fleet()

    def refresh_now(self) -> None:
        self.poll_fleet()

    @work(group="checks-fleet", exclusive=True, exit_on_error=False)
    async def poll_fleet(self) -> None:
        self._fleet_waiting = False
        self.post_message(FleetChecksAnswered(await self.session.fleet_checks()))

    def on_fleet_checks_answered(self, message: FleetChecksAnswered) -> None:
        self.fleet_results = self.ops_app.fleet_results = message.results
        self._show()
        if self.session.prometheus is not None:
            self.set_timer(self.ops_app.base_interval, self._fleet_due)

    def _fleet_due(self) -> None:
        if self.is_current and not self.ops_app.paused:
            self.poll_fleet()
        else:
            self._fleet_waiting = True

    def _show(self) -> None:
        results = self.all_results()
        allowed = FILTERS[self.status_filter]
        self.shown = self.query_one(FleetChecksTable).show(r for r in results if r.status in allowed)
        counts = {status: sum(r.status is status for r in results) for status in Status}
        # what is shown first (at 80 columns the counts run off the line); then, worst first as the fleet's
        # tally, only the statuses some result is at (ok always): a '? 0 unkn' in red reads as trouble
        parts: list[Text] = [Text(plural(len(results), "result"), style="bold")]
        parts.append(Text(f"showing: {self.status_filter} (f)"))
        parts += [
            status_text(status, f"{counts[status]} {STATUS_WORD[status]}")
            for status in (*SEVERITY_ORDER, Status.SKIPPED)
            if counts[status] or status is Status.OK
        ]
        if self.scope == "prometheus":
            parts.append(Text("Prometheus only (a)", style="bold"))
        if self.ops_app.paused:
            parts.insert(0, Text("⏸ PAUSED", style="bold reverse"))
        self.set_text("#checks-summary", Text("  ·  ").join(parts))
        self._show_detail()

    def _show_detail(self) -> None:
        key = self.query_one(FleetChecksTable).cursor_key
        self.set_text("#checks-detail", detail_text(self.shown.get(key or "")))

    def show_status(self) -> None:
        self._show()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_filter(self) -> None:
        names = list(FILTERS)
        self.status_filter = names[(names.index(self.status_filter) + 1) % len(names)]
        self._show()

    def action_scope(self) -> None:
        """a: only the fleet's Prometheus results (firing alerts, down targets), or everything again."""
        self.scope = "all" if self.scope == "prometheus" else "prometheus"
        self.sub_title = SCOPES[self.scope]
        self._show()

    def action_open(self) -> None:
        result = self.shown.get(self.query_one(FleetChecksTable).cursor_key or "")
        if result is not None and result.node in self.ops_app.nodes:
            self.ops_app.open_node(result.node, tab="checks")
        elif result is not None and (node := self.ops_app.discovered_nodes().get(result.node)) is not None:
            from screens.prom_node import PromNodeScreen

            self.app.push_screen(PromNodeScreen(node))

    def action_back(self) -> None:
        self.app.pop_screen()
