"""PromQL explorer: a query line with history and metric-name completion; the instant result as a table,
the range result as a graph over 5m/1h/6h/24h; the scrape targets and the alerts. Errors show in place.

Workers: `promql-query` (the instant and range queries of one run, side by side), `promql-names` (metric
names for completion, once), `promql-status` (targets and alerts, rescheduled after each answer while this
screen is shown and refresh is not paused).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Static, TabbedContent, TabPane

from console.collectors.prometheus import (
    AlertInfo,
    InstantResult,
    PrometheusError,
    RangeResult,
    TargetInfo,
)
from console.session import WINDOWS
from screens.base import ConsoleScreen
from widgets.plot import RangePlot
from widgets.prom_tables import AlertsTable, InstantTable, TargetsTable, short_label
from widgets.promql_input import HistoryInput, MetricSuggester

VIEWS = ("result", "graph", "targets", "alerts")
WINDOW_NAMES = tuple(WINDOWS)


def _problem(error: BaseException) -> str:
    if isinstance(error, PrometheusError):
        return str(error)
    return f"internal error: {type(error).__name__}: {error}"


@dataclass
class QueryAnswered(Message):
    query: str
    window: str
    instant: InstantResult | None
    range: RangeResult | None
    error: str | None


@dataclass
class StatusAnswered(Message):
    targets: tuple[TargetInfo, ...] | None
    alerts: tuple[AlertInfo, ...] | None
    error: str | None


@dataclass
class NamesAnswered(Message):
    names: tuple[str, ...]


class PromQLScreen(ConsoleScreen):
    CSS_PATH = "promql.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f2", "view('result')", "Table"),
        Binding("f3", "view('graph')", "Graph"),
        Binding("f4", "view('targets')", "Targets"),
        Binding("f5", "view('alerts')", "Alerts"),
        Binding("f6", "window", "Window"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.window = "1h"
        self.query_text: str | None = None
        self.suggester = MetricSuggester()
        self.result: QueryAnswered | None = None
        self.status: StatusAnswered | None = None
        self._status_timer: Timer | None = None
        self._status_waiting = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="promql-status")
        yield HistoryInput(
            placeholder="PromQL, e.g. DCGM_FI_DEV_GPU_UTIL   (Enter runs · ↑/↓ history · → completes)",
            id="promql-input",
            suggester=self.suggester,
        )
        yield Static(id="promql-error")
        with TabbedContent(initial="result", id="promql-views"):
            with TabPane("F2 Table", id="result"):
                yield InstantTable(id="instant-table")
            with TabPane("F3 Graph", id="graph"):
                yield RangePlot(id="range-plot")
            with TabPane("F4 Targets", id="targets"):
                yield TargetsTable(id="targets-table")
            with TabPane("F5 Alerts", id="alerts"):
                yield AlertsTable(id="alerts-table")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "PromQL explorer"
        box = self.query_one(HistoryInput)
        box.cursor_blink = self.console.cursor_blink
        box.set_history(self.session.query_history.load())
        box.focus()
        self.query_one("#promql-error", Static).display = False
        self.show_status()
        if self.session.prometheus is not None:
            self.load_names()

    # --- queries -------------------------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        query = event.value.strip()
        if not query:
            return
        self.query_one(HistoryInput).set_history(self.session.remember_query(query))
        self.run_query(query)

    @work(group="promql-query", exclusive=True, exit_on_error=False)
    async def run_query(self, query: str) -> None:
        self.query_text = query
        window = self.window
        instant, ranged = await asyncio.gather(
            self.session.query(query), self.session.query_range(query, window), return_exceptions=True
        )
        errors = [_problem(answer) for answer in (instant, ranged) if isinstance(answer, BaseException)]
        self.post_message(
            QueryAnswered(
                query,
                window,
                instant if isinstance(instant, InstantResult) else None,
                ranged if isinstance(ranged, RangeResult) else None,
                errors[0] if errors else None,
            )
        )

    def on_query_answered(self, message: QueryAnswered) -> None:
        self.result = message
        error = self.query_one("#promql-error", Static)
        error.display = message.error is not None
        error.update(Text(f"✖ {message.error}", style="bold red") if message.error else "")
        self.query_one(InstantTable).show(message.instant)
        start, end, _ = self.session.window(message.window)
        series = [(short_label(s.labels), s.points) for s in (message.range.series if message.range else ())]
        self.query_one(RangePlot).plot(series, start.timestamp(), end.timestamp())
        self.show_status()

    @work(group="promql-names", exclusive=True, exit_on_error=False)
    async def load_names(self) -> None:
        try:
            names = await self.session.metric_names()
        except PrometheusError:
            return  # completion is a convenience; the status line already says when Prometheus is away
        self.post_message(NamesAnswered(names))

    def on_names_answered(self, message: NamesAnswered) -> None:
        self.suggester.set_names(message.names)
        self.show_status()

    # --- targets and alerts, while shown -------------------------------------------------------------

    @work(group="promql-status", exclusive=True, exit_on_error=False)
    async def poll_status(self) -> None:
        self._status_waiting = False
        targets, alerts = await asyncio.gather(
            self.session.targets(), self.session.alerts(), return_exceptions=True
        )
        errors = [_problem(answer) for answer in (targets, alerts) if isinstance(answer, BaseException)]
        self.post_message(
            StatusAnswered(
                targets if isinstance(targets, tuple) else None,
                alerts if isinstance(alerts, tuple) else None,
                errors[0] if errors else None,
            )
        )

    def on_status_answered(self, message: StatusAnswered) -> None:
        self.status = message
        now = self.session.now()
        self.query_one(TargetsTable).show(message.targets or (), now)
        self.query_one(AlertsTable).show(message.alerts or (), now)
        self.show_status()
        self._status_timer = self.set_timer(self.console.base_interval, self._status_due)

    def _status_due(self) -> None:
        if self.is_current and not self.console.paused:
            self.poll_status()
        else:
            self._status_waiting = True

    def catch_up(self) -> None:
        if self.session.prometheus is not None and (self.status is None or self._status_waiting):
            self.poll_status()

    def refresh_now(self) -> None:
        if self.session.prometheus is not None:
            self.poll_status()
            if self.query_text:
                self.run_query(self.query_text)

    def show_status(self) -> None:
        settings = self.session.inventory.prometheus
        if settings is None:
            text = Text("✖ the inventory has no prometheus section: nothing to query", style="bold red")
            self.set_text("#promql-status", text)
            return
        where = settings.url + (f" via {settings.via}" if settings.via else "")
        parts = [Text(where, style="bold"), Text(f"window {self.window} (F6)")]
        if self.result is not None and self.result.error is None:
            count = len(self.result.instant.samples) if self.result.instant else 0
            parts.append(Text(f"{count} series"))
        status = self.status
        if status is not None and status.error:
            parts.append(Text(f"✖ {status.error}", style="bold red"))
        elif status is not None:
            down = sum(t.health == "down" for t in status.targets or ())
            firing = sum(a.state == "firing" for a in status.alerts or ())
            parts.append(
                Text(f"targets {len(status.targets or ())} ({down} down)", style="bold red" if down else "")
            )
            parts.append(Text(f"{firing} firing", style="bold red" if firing else ""))
        if self.suggester.names:
            parts.append(Text(f"{len(self.suggester.names)} metric names", style="dim"))
        if self.console.paused:
            parts.insert(0, Text("⏸ PAUSED", style="bold reverse"))
        self.set_text("#promql-status", Text("  ·  ").join(parts))

    # --- keys ----------------------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_view(self, view: str) -> None:
        self.query_one(TabbedContent).active = view

    def action_window(self) -> None:
        self.window = WINDOW_NAMES[(WINDOW_NAMES.index(self.window) + 1) % len(WINDOW_NAMES)]
        self.show_status()
        if self.query_text:
            self.run_query(self.query_text)
