"""PromQL explorer: a query line with history and Tab completion; the instant result as a table, the range
result as a graph over 5m/1h/6h/24h (F6) or a window typed in words (F7: "from 2 hours ago to now", read by
console/timewindow.py); the scrape targets and the alerts. Errors show in place.

Completion (widgets/promql_input.py) knows the metric names (fetched once), and the label names and values
of every series a query brought back. For a metric it has not seen it asks Prometheus's label API here
(`label_names(metric)`, `label_values(label, metric)`), each asked once per screen. Where that API answers
with an error (an old Prometheus, a proxy that only passes queries) it falls back to instant queries:
`topk(50, metric)` for the labels, `group by (label) (metric)` for one label's values.

Workers: `promql-query` (the instant and range queries of one run, side by side), `promql-names` (metric
names for completion, once), `promql-labels` (labels for completion), `promql-status` (targets and alerts,
rescheduled after each answer while this screen is shown and refresh is not paused), `promql-window` (a
typed window read in a thread: dateparser takes seconds to import the first time).
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

from console.collectors.prometheus import PrometheusError, PrometheusUnreachable
from console.model.prometheus import AlertInfo, InstantResult, RangeResult, TargetInfo
from console.session import RANGE_POINTS, WINDOWS
from console.text import clean_line
from console.timewindow import TimeWindow, WindowError, parse_window, preload
from screens.base import ConsoleScreen
from widgets.plot import RangePlot
from widgets.prom_tables import AlertsTable, InstantTable, TargetsTable, result_kind, short_label
from widgets.promql_input import Context, HistoryInput, MetricSuggester, PromQLCompleter, context_at
from widgets.window_input import WindowInput

LABEL_SAMPLE = 50  # series of a metric read to learn its label names
CANDIDATES_SHOWN = 12  # completion candidates listed at once (the rest are counted)

VIEWS = ("result", "graph", "targets", "alerts")
WINDOW_NAMES = tuple(WINDOWS)


def _problem(error: BaseException) -> str:
    if isinstance(error, PrometheusError):
        return clean_line(str(error))
    return clean_line(f"internal error: {type(error).__name__}: {error}")


@dataclass
class QueryAnswered(Message):
    query: str
    window: str  # its name (5m…24h), or "typed"
    instant: InstantResult | None
    range: RangeResult | None
    error: str | None
    span: TimeWindow | None = None  # the window the range query asked for (None: not asked)


@dataclass
class WindowRead(Message):
    typed: tuple[str, str]  # (from, to) as typed
    window: TimeWindow | None
    error: str | None


@dataclass
class StatusAnswered(Message):
    targets: tuple[TargetInfo, ...] | None
    alerts: tuple[AlertInfo, ...] | None
    error: str | None


@dataclass
class NamesAnswered(Message):
    names: tuple[str, ...]


@dataclass
class LabelsAnswered(Message):
    context: Context
    series: tuple[tuple[tuple[str, str], ...], ...] = ()  # the fallback: the labels of the series found
    found: tuple[str, ...] = ()  # from the label API: the label names, or the one label's values


class PromQLScreen(ConsoleScreen):
    CSS_PATH = "promql.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f2", "view('result')", "Table"),
        Binding("f3", "view('graph')", "Graph"),
        Binding("f4", "view('targets')", "Targets"),
        Binding("f5", "view('alerts')", "Alerts"),
        Binding("f6", "window", "Window"),
        Binding("f7", "typed_window", "From…"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.window = "1h"
        self.typed: tuple[str, str] | None = None  # (from, to) in words, instead of `window`
        self.typed_span: TimeWindow | None = None  # the typed window as last read
        self.query_text: str | None = None
        self.suggester = MetricSuggester()
        self.completer = PromQLCompleter()
        self.result: QueryAnswered | None = None
        self.status: StatusAnswered | None = None
        self._status_timer: Timer | None = None
        self._status_waiting = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="promql-status")
        yield HistoryInput(
            placeholder="PromQL, e.g. DCGM_FI_DEV_GPU_UTIL   (Enter runs · ↑/↓ history · Tab completes)",
            id="promql-input",
            suggester=self.suggester,
            completer=self.completer,
        )
        yield Static(id="promql-candidates")
        yield WindowInput(id="promql-window")
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
        box.cursor_blink = self.ops_app.cursor_blink
        box.set_history(self.session.query_history.load())
        box.focus()
        self.query_one("#promql-error", Static).display = False
        self.query_one("#promql-candidates", Static).display = False
        self.show_status()
        if self.session.prometheus is not None:
            self.load_names()

    # --- queries -------------------------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#promql-candidates", Static).display = False
        query = event.value.strip()
        if not query:
            return
        self.query_one(HistoryInput).set_history(self.session.remember_query(query))
        self.run_query(query)

    @work(group="promql-query", exclusive=True, exit_on_error=False)
    async def run_query(self, query: str) -> None:
        self.query_text = query
        name = self.window if self.typed is None else "typed"
        try:
            span = await self._span()
        except WindowError as exc:  # a typed window read again at this run's "now"
            self.post_message(QueryAnswered(query, name, None, None, clean_line(str(exc))))
            return
        instant, ranged = await asyncio.gather(
            self.session.query(query), self.session.query_range(query, span), return_exceptions=True
        )
        errors = [_problem(answer) for answer in (instant, ranged) if isinstance(answer, BaseException)]
        self.post_message(
            QueryAnswered(
                query,
                name,
                instant if isinstance(instant, InstantResult) else None,
                ranged if isinstance(ranged, RangeResult) else None,
                errors[0] if errors else None,
                span,
            )
        )

    async def _span(self) -> TimeWindow:
        """This run's window: the named one up to now, or the typed words read again ("2 hours ago" moves
        with each run; "2026-12-05 14:00" does not)."""
        if self.typed is None:
            return TimeWindow(*self.session.window(self.window))
        start, end = self.typed
        return await asyncio.to_thread(parse_window, start, end, now=self.session.now(), points=RANGE_POINTS)

    def on_query_answered(self, message: QueryAnswered) -> None:
        self.result = message
        error = self.query_one("#promql-error", Static)
        error.display = message.error is not None
        error.update(Text(f"✖ {message.error}", style="bold red") if message.error else "")
        self.query_one(InstantTable).show(message.instant)
        if message.instant is not None:
            self.completer.learn(sample.labels for sample in message.instant.samples)
        if message.range is not None:
            self.completer.learn(series.labels for series in message.range.series)
        span = message.span or TimeWindow(*self.session.window(self.window))
        if message.span is not None and message.window == "typed":
            self.typed_span = message.span
        series = [(short_label(s.labels), s.points) for s in (message.range.series if message.range else ())]
        self.query_one(RangePlot).plot(
            series, span.start.timestamp(), span.end.timestamp(), to_now=span.to_now
        )
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
        self.completer.set_names(message.names)
        self.show_status()

    # --- Tab completion ------------------------------------------------------------------------------

    def on_history_input_candidates(self, message: HistoryInput.Candidates) -> None:
        box = self.query_one("#promql-candidates", Static)
        if not message.candidates:
            box.display = bool(message.note)
            box.update(Text(message.note, style="dim"))
            return
        shown = message.candidates[:CANDIDATES_SHOWN]
        if message.selected is not None and message.selected >= CANDIDATES_SHOWN:
            first = message.selected - CANDIDATES_SHOWN + 1
            shown = message.candidates[first : first + CANDIDATES_SHOWN]
        text = Text(f"{len(message.candidates)} candidates (Tab/Shift+Tab):  ", style="dim")
        for candidate in shown:
            picked = message.selected is not None and candidate == message.candidates[message.selected]
            text.append(clean_line(candidate), style="bold reverse" if picked else "bold")
            text.append("  ")
        if len(message.candidates) > len(shown):
            text.append(f"… +{len(message.candidates) - len(shown)} more", style="dim")
        box.update(text)
        box.display = True

    def on_history_input_labels_wanted(self, message: HistoryInput.LabelsWanted) -> None:
        if self.session.prometheus is not None:
            self.fetch_labels(message.context)

    @work(group="promql-labels", exclusive=True, exit_on_error=False)
    async def fetch_labels(self, context: Context) -> None:
        metric = context.metric
        try:
            if context.kind == "value" and context.label:
                found = await self.session.label_values(context.label, metric)
            else:
                found = await self.session.label_names(metric)
        except PrometheusUnreachable:
            self.post_message(LabelsAnswered(context))  # no answer at all: a query would not get one either
            return
        except PrometheusError:
            pass  # the label API refused (an old Prometheus, a proxy): ask with plain queries below
        else:
            self.post_message(LabelsAnswered(context, found=found))
            return
        self.post_message(LabelsAnswered(context, await self._labels_by_query(context)))

    async def _labels_by_query(self, context: Context) -> tuple[tuple[tuple[str, str], ...], ...]:
        """The fallback: a sample of the metric's series (labels), or one label's values grouped."""
        metric = context.metric
        if context.kind == "value" and context.label:
            selector = metric or f'{{{context.label}!=""}}'
            promql = f"group by ({context.label}) ({selector})"
        elif metric:
            promql = f"topk({LABEL_SAMPLE}, {metric})"
        else:
            promql = f'topk({LABEL_SAMPLE}, {{__name__=~".+"}})'
        try:
            answer = await self.session.query(promql)
        except PrometheusError:
            return ()  # completion is a convenience: an empty list says it found nothing
        return tuple(sample.labels for sample in answer.samples)

    def on_labels_answered(self, message: LabelsAnswered) -> None:
        context = message.context
        self.completer.asked.add((context.metric, context.label if context.kind == "value" else None))
        if context.kind == "value":
            self.completer.learn_values(context.metric, context.label or "", message.found)
        else:
            self.completer.learn_names(context.metric, message.found)
        self.completer.learn(message.series, context.metric)
        box = self.query_one(HistoryInput)
        if box.has_focus and context_at(box.value, box.cursor_position) == context:
            box.action_complete()  # the Tab that asked, answered, and the cursor is still where it was

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
        self._status_timer = self.set_timer(self.ops_app.base_interval, self._status_due)

    def _status_due(self) -> None:
        if self.is_current and not self.ops_app.paused:
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
        window = f"window {self.window} (F6)"
        if self.typed is not None and self.typed_span is not None:
            window = f"window {self.typed_span.describe()} (F7 · F6 fixed)"
        parts = [Text(where, style="bold"), Text(window)]
        if self.result is not None and self.result.error is None and self.result.instant is not None:
            parts.append(Text(result_kind(self.result.instant)))
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
        if self.ops_app.paused:
            parts.insert(0, Text("⏸ PAUSED", style="bold reverse"))
        self.set_text("#promql-status", Text("  ·  ").join(parts))

    # --- keys ----------------------------------------------------------------------------------------

    def action_back(self) -> None:
        """Esc: close the completion list first, if it is shown, then the window form; else back."""
        candidates = self.query_one("#promql-candidates", Static)
        if candidates.display:
            candidates.display = False
            return
        form = self.query_one(WindowInput)
        if form.is_open:
            form.close()
            self.query_one(HistoryInput).focus()
            return
        self.app.pop_screen()

    def action_view(self, view: str) -> None:
        self.query_one(TabbedContent).active = view

    def action_window(self) -> None:
        """F6: the next fixed window; from a typed window, back to the fixed one it replaced."""
        if self.typed is None:
            self.window = WINDOW_NAMES[(WINDOW_NAMES.index(self.window) + 1) % len(WINDOW_NAMES)]
        self.typed = self.typed_span = None
        self.show_status()
        if self.query_text:
            self.run_query(self.query_text)

    # --- a window typed in words -----------------------------------------------------------------------

    def action_typed_window(self) -> None:
        """F7: open (or close) the `from … to …` form under the query line."""
        form = self.query_one(WindowInput)
        if form.is_open:
            form.close()
            self.query_one(HistoryInput).focus()
            return
        form.open()
        self.load_parser()

    @work(group="promql-window-parser", exclusive=True, exit_on_error=False, thread=True)
    def load_parser(self) -> None:
        preload()  # dateparser's first import takes seconds: done while the operator types

    def on_window_input_typed(self, message: WindowInput.Typed) -> None:
        self.read_window(message.start, message.end)

    @work(group="promql-window", exclusive=True, exit_on_error=False)
    async def read_window(self, start: str, end: str) -> None:
        try:
            window = await asyncio.to_thread(
                parse_window, start, end, now=self.session.now(), points=RANGE_POINTS
            )
        except WindowError as exc:
            self.post_message(WindowRead((start, end), None, str(exc)))
            return
        self.post_message(WindowRead((start, end), window, None))

    def on_window_read(self, message: WindowRead) -> None:
        form = self.query_one(WindowInput)
        if message.window is None:
            form.refuse(clean_line(message.error or "not a window"))
            return
        self.typed, self.typed_span = message.typed, message.window
        form.close()
        self.query_one(HistoryInput).focus()
        self.show_status()
        if self.query_text:
            self.run_query(self.query_text)
