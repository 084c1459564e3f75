"""GPU history: the bounded rings, the plots' scale and labels, the strips' range, and the GPU tab's plots
following the GPU table's cursor (on the deterministic recorded fleet)."""

from __future__ import annotations

import math
import sys
import tracemalloc
from dataclasses import replace
from datetime import timedelta

from console.demo.fleet import AT, recorded_fleet
from console.history import MetricHistory
from console.model.node import NodeSnapshot
from screens.app import OpsConsoleApp
from widgets.gpu_tables import GpuPlots, GpuTable, plot_window, poll_every, process_cells
from widgets.plot import MetricPlot, MetricView, render_metric
from widgets.sparkline import spark_range


def rack_a1() -> tuple[NodeSnapshot, ...]:
    return recorded_fleet().past["rack-a1"]


def eight_gpus(snapshot: NodeSnapshot, node: str, step: int) -> NodeSnapshot:
    assert snapshot.gpu is not None
    gpus = tuple(replace(snapshot.gpu.gpus[0], index=index) for index in range(8))
    at = AT + timedelta(seconds=2 * step)
    return replace(snapshot, node=node, taken_at=at, gpu=replace(snapshot.gpu, gpus=gpus, taken_at=at))


def test_the_history_is_a_fixed_ring() -> None:
    base = rack_a1()[-1]
    history = MetricHistory(length=10)
    history.record(eight_gpus(base, "n", 0))
    size = history.nbytes()
    for step in range(1, 35):
        history.record(eight_gpus(base, "n", step))
    assert history.nbytes() == size  # nothing grows with time
    points = history.points("n", 7, "util")
    assert len(points) == 10
    times = [t for t, _ in points]
    assert times == sorted(times)  # oldest first across the ring's wrap
    assert times[-1] == (AT + timedelta(seconds=2 * 34)).timestamp()
    assert history.points("n", 8, "util") == ()  # no such GPU


def test_a_metric_the_board_does_not_report_leaves_no_point() -> None:
    base = rack_a1()[-1]
    assert base.gpu is not None
    silent = replace(base.gpu.gpus[0], power_draw_w=None)
    history = MetricHistory()
    history.record(replace(base, gpu=replace(base.gpu, gpus=(silent,))))
    assert history.gpu("rack-a1", 0, "power") == ()
    assert len(history.gpu("rack-a1", 0, "util")) == 1
    assert not any(math.isnan(v) for v in history.node("rack-a1"))


def test_a_new_set_of_boards_starts_a_new_ring() -> None:
    series = rack_a1()
    history = MetricHistory()
    for snapshot in series[:5]:
        history.record(snapshot)
    assert len(history.gpu("rack-a1", 3, "util")) == 5
    assert series[5].gpu is not None
    fewer = replace(series[5], gpu=replace(series[5].gpu, gpus=series[5].gpu.gpus[:3]))
    history.record(fewer)  # GPU 3 fell off the bus
    assert history.gpu("rack-a1", 3, "util") == ()
    assert len(history.gpu("rack-a1", 0, "util")) == 1


def test_a_node_of_8_gpus_costs_under_30_kb_however_long_it_runs() -> None:
    """50 nodes through a full ring and past it (the report scales this to 1,000 nodes: ~23 MB)."""
    base = rack_a1()[-1]
    history = MetricHistory()
    polls = [eight_gpus(base, "n", step) for step in range(300)]
    for polled in polls[:150]:  # warm-up: the interpreter's caches and free lists are not history
        history.record(polled)
    history.forget("n")
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        for polled in polls[:150]:
            for n in range(50):
                history.record(replace(polled, node=f"n{n}"))
        full, _ = tracemalloc.get_traced_memory()
        for polled in polls[150:]:
            for n in range(50):
                history.record(replace(polled, node=f"n{n}"))
        later, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert history.nbytes() == 50 * (150 * 8 + 9 * 4 * 150 * 4)
    ring = history._rings["n0"]
    per_node = sum(sys.getsizeof(part) for part in (ring, ring.times, ring.values, ring.indices))
    assert per_node < 25_000  # 22.8 kB of samples and their objects: ~23 MB for 1,000 nodes
    assert full - start < 50 * 30_000  # what the loop left allocated (the interpreter's free lists too)
    assert later - full < 50 * 100  # another ring's worth of polls adds nothing


def view(values: list[float], low: float = 0.0, high: float = 100.0) -> MetricView:
    return MetricView("Util", tuple((1000.0 + 2 * i, v) for i, v in enumerate(values)), low, high, "{:.0f}%")


def test_a_plot_says_its_value_extremes_scale_and_span() -> None:
    lines = render_metric(view([10, 90, 40]), 1000.0, 1060.0, 40, 8).plain.splitlines()
    assert lines[0] == "Util 40%  min 10%  max 90%"
    assert lines[1].startswith("    100┤")  # the fixed top, not the data's 90
    assert lines[-3].startswith("      0┤")
    assert lines[-1].split() == ["-1m", "-30s", "now"]
    assert len(lines) == 8


def test_a_fixed_scale_keeps_a_degree_from_looking_like_a_spike() -> None:
    text = render_metric(view([41, 42, 41, 42], 20.0, 100.0), 1000.0, 1008.0, 30, 8).plain
    plotted = text.splitlines()[1:6]
    rows_with_dots = [row for row in plotted if any("⠀" < c <= "⣿" for c in row[8:])]
    assert len(rows_with_dots) == 1  # 41-42 °C on 20-100 °C is one line of dots


def test_a_low_plot_keeps_its_scale_and_drops_the_time_axis() -> None:
    lines = render_metric(view([0, 100]), 1000.0, 1002.0, 30, 3).plain.splitlines()
    assert len(lines) == 3
    assert lines[1].startswith("    100┤")
    assert lines[2].startswith("      0┤")


def test_a_plot_with_no_points_says_so() -> None:
    assert render_metric(view([]), 0.0, 60.0, 40, 8).plain == "Util  no data yet"


def test_the_strip_says_its_range() -> None:
    assert spark_range([0, 50, 100], 12, 0, 100).plain == "   ▁▅█ 0–100"
    assert spark_range([41, 42], 12, 20, 100).plain == "    ▃▃ 41–42"
    assert spark_range([41, 42], 5, 20, 100).plain == "   ▃▃"  # no room for the range: the strip alone


def test_the_window_grows_with_the_history_up_to_what_it_holds() -> None:
    points = [(1000.0 + 2 * i, 0.0) for i in range(30)]
    assert plot_window(points, 1060.0, 300.0) == (1000.0, 1060.0)
    assert plot_window(points[-2:], 1060.0, 300.0) == (1000.0, 1060.0)  # at least a minute
    assert plot_window(points, 2000.0, 300.0) == (1700.0, 2000.0)  # at most the history's span
    assert poll_every(points) == 2.0


async def test_the_plots_follow_the_gpu_under_the_cursor() -> None:
    app = OpsConsoleApp(recorded_fleet().session(), cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.app.settled()
        app.open_node("rack-a1", tab="gpus")
        await pilot.app.settled()
        await pilot.pause()
        plots = app.screen.query_one(GpuPlots)
        title = str(plots.query_one(".plots-title").render())
        assert title.startswith("GPU 0 H100 80GB HBM3")
        assert "the last 1m, a point every 2s" in title
        util = plots.query_one("#plot-util", MetricPlot).view
        assert util is not None
        assert util.points[-1][1] == 100.0
        app.screen.query_one(GpuTable).focus()
        await pilot.press("down")
        await pilot.pause()
        assert str(plots.query_one(".plots-title").render()).startswith("GPU 1 ")
        util = plots.query_one("#plot-util", MetricPlot).view
        assert util is not None
        assert util.points[-1][1] == 0.0  # GPU 1 is idle at the last poll
        power = plots.query_one("#plot-power", MetricPlot).view
        assert power is not None
        assert power.high == 700.0  # the board's own power limit is the top of its scale


def test_the_process_row_shows_its_utilisation_beside_its_memory_and_container() -> None:
    gpu = rack_a1()[-1].gpu
    assert gpu is not None
    process = gpu.processes[0]
    cells = process_cells(process, gpu, None)
    assert cells["sm"].plain == "100%"
    assert cells["bandwidth"].plain == "33%"
    assert cells["memory"].plain == "21610 MiB"
    unknown = process_cells(replace(process, sm_pct=None, mem_bw_pct=None), gpu, None)
    assert unknown["sm"].plain == "–"
    assert unknown["bandwidth"].plain == "–"
