"""The PromQL explorer: Tab completion (metric names, label names, label values), the result type, and
Prometheus's text drawn as plain text. The recorded fleet for keys; the lab's REAL Prometheus for the label
lookups completion makes on its own and for what `sum(...)` and `scalar(...)` return."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.text import Text
from textual.events import Mount
from textual.pilot import Pilot
from textual.widgets import Input, Static
from textual.widgets._footer import FooterKey

import screens.app
from console.collectors.prometheus import (
    AlertInfo,
    InstantResult,
    RangeSeries,
    Sample,
    TargetInfo,
)
from console.demo.fleet import AT, recorded_fleet
from console.demo.sources import RecordedPrometheus
from console.inventory.model import Inventory, PrometheusSettings
from console.session import ConsoleSession, LivePrometheus
from screens.app import OpsConsoleApp
from screens.promql import PromQLScreen
from tests.lab.prometheus import PrometheusLab
from widgets.plot import RangePlot, render_plot
from widgets.prom_tables import AlertsTable, InstantTable, TargetsTable
from widgets.promql_input import Context, HistoryInput, PromQLCompleter, context_at, promql_string
from widgets.window_input import WindowInput

HOSTILE = "\x1b]52;c;cm0=\x07[/]x[@click=app.quit]y\x1b[2J\nforged"


class PromQLApp(OpsConsoleApp):
    """The console with only the PromQL explorer on top (no fleet screen, no node polls)."""

    CSS_PATH = str(Path(screens.app.__file__).with_name("console.tcss"))

    def on_mount(self, event: Mount) -> None:  # type: ignore[override]
        event.prevent_default()
        self.push_screen(PromQLScreen())


def recorded_app(prometheus: RecordedPrometheus | None = None) -> PromQLApp:
    fleet = recorded_fleet()
    session = fleet.session()
    if prometheus is not None:
        session.prometheus = prometheus
    return PromQLApp(session, cursor_blink=False, batch_window_s=0)


async def until(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.02)


def plain(app: PromQLApp, selector: str) -> str:
    rendered = app.screen.query_one(selector, Static).render()
    return rendered.plain if isinstance(rendered, Text) else str(rendered)


# --- what the cursor is completing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("DCGM_FI_DEV_G", Context("metric", 0, "DCGM_FI_DEV_G")),
        ("rate(node_cpu", Context("metric", 5, "node_cpu")),
        ("up{", Context("label", 3, "", "up", selector=True)),
        ('up{job="dcgm", inst', Context("label", 15, "inst", "up", selector=True)),
        ('up{job="dc', Context("value", 8, "dc", "up", "job")),
        ('up{job=~"dc', Context("value", 9, "dc", "up", "job")),
        ('{job="', Context("value", 6, "", None, "job")),
        ("sum by (ins) (up)", None),  # the cursor is at the end: after `)`, nothing to complete
        ("rate(up[5", None),  # a range duration
        ('up{job="dcgm"} + 1e', None),  # a number
        ('up{job="dcgm"', None),  # after the closing quote: the matcher is complete
    ],
)
def test_context_at_the_end(query: str, expected: Context | None) -> None:
    assert context_at(query, len(query)) == expected


def test_context_in_a_grouping_and_mid_query() -> None:
    query = "sum by (ins) (DCGM_FI_DEV_GPU_UTIL)"
    assert context_at(query, len("sum by (ins")) == Context("label", 8, "ins", "DCGM_FI_DEV_GPU_UTIL")
    query = 'DCGM_FI_DEV_GPU_UTIL{gpu="0"} > on(Host) DCGM_FI_DEV_GPU_TEMP'
    assert context_at(query, query.index("Host") + 4) == Context("label", 35, "Host", "DCGM_FI_DEV_GPU_UTIL")
    assert context_at('up{job="a", }', len('up{job="a", ')) == Context("label", 12, "", "up", selector=True)
    assert context_at('up{job="a" ', len('up{job="a" ')) is None  # a comma must come first


def test_completer_learns_series_and_filters_by_prefix() -> None:
    completer = PromQLCompleter()
    completer.set_names(["up", "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_GPU_TEMP", "bad\x1b[2J"])
    assert completer.candidates(Context("metric", 0, "DCGM_FI_DEV_GPU_")) == [
        "DCGM_FI_DEV_GPU_TEMP",
        "DCGM_FI_DEV_GPU_UTIL",
    ]
    assert "bad\\x1b[2J" in completer.names  # a hostile name is data, shown escaped
    up = Context("label", 3, "", "up", selector=True)
    assert not completer.knows(up)
    completer.learn([(("__name__", "up"), ("instance", "a:1"), ("job", "dcgm"))])
    completer.learn([(("instance", "b:2"), ("job", "dead"))], metric="up")
    assert completer.knows(up)
    assert completer.candidates(up) == ["instance", "job"]
    assert completer.candidates(Context("value", 8, "d", "up", "job")) == ["dcgm", "dead"]
    # a metric never seen: nothing known, so the screen is asked to fetch it (once)
    temp = Context("label", 21, "", "DCGM_FI_DEV_GPU_TEMP", selector=True)
    assert not completer.knows(temp)
    completer.asked.add(("DCGM_FI_DEV_GPU_TEMP", None))
    assert completer.knows(temp)
    assert completer.candidates(temp) == ["instance", "job"]  # falls back to any metric's labels


def test_label_values_are_escaped_for_the_query() -> None:
    assert promql_string('a"b\\c') == 'a\\"b\\\\c'
    assert promql_string("x\x1b[2J\ny") == "x\\x1b[2J\\ny"


# --- keys on the recorded fleet ------------------------------------------------------------------------


async def test_tab_completes_metric_names_with_a_list_and_cycles() -> None:
    app = recorded_app()
    async with app.run_test(size=(160, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, PromQLScreen)
        box = screen.query_one(HistoryInput)
        await until(pilot, lambda: len(screen.completer.names) == 11)
        await pilot.press(*"DCGM_FI_DEV_GPU_T", "tab")
        assert box.value == "DCGM_FI_DEV_GPU_TEMP"  # one candidate: inserted whole
        assert box.has_focus
        box.value = ""
        await pilot.press(*"DCGM_FI_D", "tab")
        await pilot.pause()
        assert box.value == "DCGM_FI_DEV_"  # several: their common prefix, and the list
        listing = plain(app, "#promql-candidates")
        assert listing.startswith("5 candidates (Tab/Shift+Tab):")
        assert "DCGM_FI_DEV_FB_USED" in listing
        assert "DCGM_FI_DEV_SM_CLOCK" in listing
        box.value = ""
        await pilot.press(*"DCGM_FI_DEV_GPU_", "tab")
        assert box.value == "DCGM_FI_DEV_GPU_"
        await pilot.press("tab")
        assert box.value == "DCGM_FI_DEV_GPU_TEMP"
        await pilot.press("tab")
        assert box.value == "DCGM_FI_DEV_GPU_UTIL"
        await pilot.press("tab")
        assert box.value == "DCGM_FI_DEV_GPU_TEMP"  # around the two
        await pilot.press("shift+tab")
        assert box.value == "DCGM_FI_DEV_GPU_UTIL"
        await pilot.press("escape")  # closes the list, stays on the screen
        await pilot.pause()
        assert not screen.query_one("#promql-candidates").display
        assert app.screen is screen
        await pilot.press("x")  # typing ends the cycle
        await pilot.press("tab")
        await pilot.pause()
        assert box.value == "DCGM_FI_DEV_GPU_UTILx"
        assert plain(app, "#promql-candidates") == "no metric name starts with 'DCGM_FI_DEV_GPU_UTILx'"
        box.value = ""
        await pilot.press("tab")  # nothing to complete: Tab moves the focus as everywhere else
        assert not box.has_focus


async def test_tab_completes_labels_and_values_from_fetched_series() -> None:
    app = recorded_app()
    async with app.run_test(size=(160, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, PromQLScreen)
        box = screen.query_one(HistoryInput)
        await pilot.press(*"DCGM_FI_DEV_GPU_TEMP", "enter")
        await until(pilot, lambda: screen.query_one(InstantTable).row_count > 0)
        box.value = ""
        await pilot.press(*"DCGM_FI_DEV_GPU_TEMP{Hos", "tab")
        assert box.value == 'DCGM_FI_DEV_GPU_TEMP{Hostname="'
        await pilot.press("tab")
        await pilot.pause()
        listing = plain(app, "#promql-candidates")
        assert "rack-a1" in listing
        await pilot.press(*"rack-a1", "tab")
        assert box.value == 'DCGM_FI_DEV_GPU_TEMP{Hostname="rack-a1"'
        await pilot.press(*", g", "tab")
        assert box.value == 'DCGM_FI_DEV_GPU_TEMP{Hostname="rack-a1", gpu="'
        await pilot.press("tab")
        await pilot.pause()
        assert plain(app, "#promql-candidates").startswith(
            "4 candidates"
        )  # the gpu values seen for this metric
        await pilot.press(*'0"}', "enter")
        await pilot.pause()
        assert not screen.query_one("#promql-candidates").display  # running the query closes the list
        await until(pilot, lambda: screen.query_one(InstantTable).row_count == 1)


async def test_completion_asks_the_label_api_not_queries() -> None:
    prometheus = recorded_fleet().session().prometheus
    assert isinstance(prometheus, RecordedPrometheus)
    app = recorded_app(prometheus)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, PromQLScreen)
        box = screen.query_one(HistoryInput)
        await until(pilot, lambda: len(screen.completer.names) == 11)
        # no query has run: the metric's labels are unknown, so completion asks for them
        await pilot.press(*"DCGM_FI_DEV_GPU_TEMP{Hos", "tab")
        await until(pilot, lambda: box.value == 'DCGM_FI_DEV_GPU_TEMP{Hostname="')
        await pilot.press("tab")
        await until(pilot, lambda: "rack-a1" in plain(app, "#promql-candidates"))
        box.value = ""
        await pilot.press(*'{job="', "tab")  # no metric: the label's values in every series
        await until(pilot, lambda: "candidates" in plain(app, "#promql-candidates"))
        assert "dcgm" in plain(app, "#promql-candidates")
    assert prometheus.lookups == [
        ("labels", "DCGM_FI_DEV_GPU_TEMP"),
        ("Hostname", "DCGM_FI_DEV_GPU_TEMP"),
        ("job", None),
    ]
    assert not any("topk" in query or "group by" in query for query in prometheus.queries)


async def test_completion_falls_back_to_queries_when_the_label_api_errors() -> None:
    at = 1_790_000_000.0
    up = InstantResult("up", "vector", (Sample((("instance", "a:1"), ("job", "dcgm")), 1.0, at),))
    grouped = InstantResult("g", "vector", (Sample((("job", "dcgm"),), 1.0, at),))
    prometheus = RecordedPrometheus(
        instant={"topk(50, up)": up, "group by (job) (gpu_up)": grouped},
        metric_names=("gpu_up", "up"),
        label_error="Prometheus at http://proxy answered HTTP 404: not found",
    )
    app = recorded_app(prometheus)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, PromQLScreen)
        box = screen.query_one(HistoryInput)
        await until(pilot, lambda: screen.completer.names == ("gpu_up", "up"))
        await pilot.press(*"up{jo", "tab")  # label names: a sample of the metric's series
        await until(pilot, lambda: box.value == 'up{job="')
        box.value = ""
        await pilot.press(*'gpu_up{job="', "tab")  # one label's values: grouped by it
        await until(pilot, lambda: box.value == 'gpu_up{job="dcgm"')
    assert prometheus.lookups == [("labels", "up"), ("job", "gpu_up")]
    assert prometheus.queries == ["topk(50, up)", "group by (job) (gpu_up)"]


async def test_result_type_and_hostile_labels_render_as_text() -> None:
    at = 1_790_000_000.0
    prometheus = RecordedPrometheus(
        instant={
            "sum(DCGM_FI_DEV_GPU_UTIL)": InstantResult("sum", "vector", (Sample((), 42.0, at),)),
            "scalar(sum(DCGM_FI_DEV_GPU_UTIL))": InstantResult("scalar", "scalar", (Sample((), 42.0, at),)),
            "hostile": InstantResult("hostile", "vector", (Sample((("job", HOSTILE),), 1.0, at),)),
        },
        targets=(TargetInfo("dcgm", HOSTILE, "down", HOSTILE, None, "http://x"),),
        alerts=(AlertInfo(HOSTILE, "firing", HOSTILE, (), HOSTILE, None, None),),
        metric_names=(HOSTILE,),
    )
    app = recorded_app(prometheus)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, PromQLScreen)
        box = screen.query_one(HistoryInput)
        table = screen.query_one(InstantTable)
        await pilot.press(*"sum(DCGM_FI_DEV_GPU_UTIL)", "enter")
        await until(pilot, lambda: table.row_count == 1)
        assert table.get_row_at(0)[0].plain == "{}"  # a series without labels, not "scalar"
        await until(pilot, lambda: "instant vector, 1 series" in plain(app, "#promql-status"))
        box.value = ""
        await pilot.press(*"scalar(sum(DCGM_FI_DEV_GPU_UTIL))", "enter")
        await until(pilot, lambda: "·  scalar  ·" in plain(app, "#promql-status"))
        assert table.get_row_at(0)[0].plain == "scalar"
        box.value = ""
        await pilot.press(*"hostile", "enter")
        await until(pilot, lambda: "instant vector, 1 series" in plain(app, "#promql-status"))
        await pilot.press("f4")
        await until(pilot, lambda: screen.query_one(TargetsTable).row_count == 1)
        await pilot.press("f5")
        await until(pilot, lambda: screen.query_one(AlertsTable).row_count == 1)
        cells = [table.get_row_at(0)[0]]
        cells += list(screen.query_one(TargetsTable).get_row_at(0))
        cells += list(screen.query_one(AlertsTable).get_row_at(0))
        texts = [cell.plain for cell in cells if isinstance(cell, Text)]
        for text in texts:
            assert not any(control in text for control in ("\x1b", "\x07", "\n")), text
        assert '{job="\\x1b]52;c;cm0=\\x07[/]x[@click=app.quit]y\\x1b[2J\\nforged"}' in texts
        assert texts.count("\\x1b]52;c;cm0=\\x07[/]x[@click=app.quit]y\\x1b[2J\\nforged") >= 4
        assert app.is_running


# --- the lab's real Prometheus -------------------------------------------------------------------------


class QueriesSeen(LivePrometheus):
    """The live Prometheus, noting the PromQL asked of it."""

    def __init__(self, settings: PrometheusSettings) -> None:
        super().__init__(settings, None)
        self.queries: list[str] = []

    async def query(self, promql: str) -> InstantResult:
        self.queries.append(promql)
        return await super().query(promql)


async def test_completion_and_result_types_on_the_real_prometheus(prometheus_lab: PrometheusLab) -> None:
    inventory = Inventory("lab", "lab", (), PrometheusSettings(prometheus_lab.url, timeout=5))
    session = ConsoleSession.live(inventory)
    seen = session.prometheus = QueriesSeen(PrometheusSettings(prometheus_lab.url, timeout=5))
    app = PromQLApp(session, cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, PromQLScreen)
        box = screen.query_one(HistoryInput)
        await until(pilot, lambda: "DCGM_FI_DEV_GPU_UTIL" in screen.completer.names, 15)
        # labels of a metric no query brought back yet: completion asks Prometheus itself
        await pilot.press(*"DCGM_FI_DEV_GPU_UTIL{Host", "tab")
        await until(pilot, lambda: box.value == 'DCGM_FI_DEV_GPU_UTIL{Hostname="', 15)
        await pilot.press("tab")
        await until(pilot, lambda: box.value == 'DCGM_FI_DEV_GPU_UTIL{Hostname="gpu1"', 15)
        box.value = ""
        await pilot.press(*'up{job="', "tab")
        await until(pilot, lambda: "3 candidates" in plain(app, "#promql-candidates"), 15)
        listing = plain(app, "#promql-candidates")
        assert all(job in listing for job in ("dcgm", "dead", "gpu-simulator"))
        # the result type as Prometheus gives it
        table = screen.query_one(InstantTable)
        box.value = ""
        await pilot.press(*"sum(up)", "enter")
        await until(pilot, lambda: "instant vector, 1 series" in plain(app, "#promql-status"), 15)
        assert table.get_row_at(0)[0].plain == "{}"
        box.value = ""
        await pilot.press(*"scalar(sum(up))", "enter")
        await until(pilot, lambda: "·  scalar  ·" in plain(app, "#promql-status"), 15)
        assert table.get_row_at(0)[0].plain == "scalar"
    # the labels came from Prometheus's label API: the only queries are the two typed
    assert seen.queries == ["sum(up)", "scalar(sum(up))"]


async def test_completion_asks_no_query_when_prometheus_is_unreachable(prometheus_lab: PrometheusLab) -> None:
    # Refused at once: the label API's failure is not one a PromQL query could get past.
    dead = PrometheusSettings(f"http://127.0.0.1:{prometheus_lab.dead_port}", timeout=5)
    session = ConsoleSession.live(Inventory("lab", "lab", (), dead))
    seen = session.prometheus = QueriesSeen(dead)
    app = PromQLApp(session, cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, PromQLScreen)
        await pilot.press(*"up{jo", "tab")
        await until(pilot, lambda: ("up", None) in screen.completer.asked, 15)
        await pilot.press("tab")
        await until(pilot, lambda: "no label name starts with 'jo'" in plain(app, "#promql-candidates"))
    assert seen.queries == []


def test_graph_of_a_window_that_does_not_end_now_shows_clock_times() -> None:
    start = datetime(2026, 11, 29, 16, 0, tzinfo=UTC).timestamp()
    series = [("gpu=0", [(start, 1.0), (start + 7200, 2.0)])]

    def axis(end: float, to_now: bool) -> list[str]:
        return render_plot(series, start, end, 60, 10, to_now=to_now).plain.split("\n")[-2].split()

    assert axis(start + 7200, to_now=False) == ["16:00", "17:00", "18:00"]
    assert axis(start + 2 * 86400, to_now=False) == ["11-29", "16:00", "11-30", "16:00", "12-01", "16:00"]
    assert axis(start + 7200, to_now=True) == ["-2h", "-1h", "now"]


def test_graph_legend_is_plain_text_and_nan_points_are_gaps() -> None:
    nan = float("nan")
    points = [(0.0, 1.0), (30.0, nan), (60.0, 2.0), (90.0, float("inf"))]
    drawn = render_plot([(HOSTILE, points), ("only NaN", [(0.0, nan)])], 0.0, 90.0, 100, 12).plain
    assert "\x1b" not in drawn
    assert "\x07" not in drawn
    legend = drawn.split("\n")[-1]
    assert "\\x1b]52;c;cm0=\\x07[/]x[@click=app.quit]y\\x1b[2J\\nforged" in legend  # one line, literal
    assert "only NaN" not in legend  # a series with no number to draw is not in the legend


# --- a window typed in words (F7) ----------------------------------------------------------------------


async def test_typed_window_runs_the_range_query_over_it() -> None:
    asked: list[tuple[datetime, datetime, float]] = []

    def ranges(start: datetime, end: datetime, step: float) -> tuple[RangeSeries, ...]:
        asked.append((start, end, step))
        return (RangeSeries((("job", "dcgm"),), ((start.timestamp(), 1.0), (end.timestamp(), 2.0))),)

    at = AT.timestamp()
    prometheus = RecordedPrometheus(
        instant={"up": InstantResult("up", "vector", (Sample((("job", "dcgm"),), 1.0, at),))},
        ranges={"up": ranges},
    )
    app = recorded_app(prometheus)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, PromQLScreen)
        box = screen.query_one(HistoryInput)
        footer_keys = {key.key: key.description for key in screen.query(FooterKey)}
        assert (footer_keys["f6"], footer_keys["f7"]) == ("Window", "From…")
        await pilot.press(*"up", "enter")
        await until(pilot, lambda: len(asked) == 1)
        assert asked[0] == (AT - timedelta(hours=1), AT, 30.0)  # the fixed 1h window
        form = screen.query_one(WindowInput)
        start_box = screen.query_one("#window-from", Input)
        await pilot.press("f7")
        assert form.is_open
        assert start_box.has_focus
        await pilot.press(*"in 2 hours", "enter")  # the future: refused in place, nothing asked
        await until(pilot, lambda: "is in the future" in plain(app, "#window-note"), 30)
        assert plain(app, "#window-note").startswith("✖ from: 2026-11-22 14:00 UTC is in the future")
        assert form.is_open
        assert (screen.typed, len(asked)) == (None, 1)
        start_box.value = ""
        await pilot.press(*"yesterday 18:00", "tab", *"2026-11-22 06:00", "enter")
        await until(pilot, lambda: len(asked) == 2, 30)
        start, end, step = asked[1]
        assert (start, end) == (datetime(2026, 11, 21, 18, 0, tzinfo=AT.tzinfo), AT - timedelta(hours=6))
        assert step == 360.0  # 12 hours in 120 points
        assert not form.is_open
        assert box.has_focus
        assert screen.query_text == "up"  # the form's Enter is not a query
        assert box.history[-1] == "up"
        await until(pilot, lambda: "2026-11-21 18:00 → 2026-11-22 06:00 UTC" in plain(app, "#promql-status"))
        assert "UTC, step 6m (F7 · F6 fixed)" in plain(app, "#promql-status")
        assert screen.result is not None
        assert screen.result.window == "typed"
        plot = screen.query_one(RangePlot)  # drawn over the typed window, its clock times on the axis
        assert (plot.start, plot.end, plot.to_now) == (start.timestamp(), end.timestamp(), False)
        await pilot.press("f6")  # back to the fixed window it replaced
        await until(pilot, lambda: len(asked) == 3)
        assert asked[2] == (AT - timedelta(hours=1), AT, 30.0)
        assert "window 1h (F6)" in plain(app, "#promql-status")
        await pilot.press("f7", "escape")  # Esc closes the form, stays on the screen
        assert not form.is_open
        assert app.screen is screen
