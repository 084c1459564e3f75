"""What a look at the screens found that a snapshot alone does not hold: a pilot test per defect."""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter

import pytest
from rich.style import Style
from textual._ansi_theme import MONOKAI

import widgets
from console.model.checks import Status
from console.model.gpu import GpuReading
from screens.checks import ChecksScreen
from tests.test_kubernetes_screen import WIDE, open_screen
from tests.test_kubernetes_screen import app as kubernetes_app
from tests.tui_pilot import make_app, settle
from widgets.gpu_tables import gpu_cells, metric_views
from widgets.k8s_tables import K8sNodeTable, K8sPodTable
from widgets.keyed_table import KeyedTable
from widgets.plot import PALETTE
from widgets.status import STATUS_STYLE


async def test_checks_summary_says_the_filter_within_80_columns_and_no_zero_counts() -> None:
    app, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        await pilot.press("f")  # problems only: most results are hidden, the line must say so
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen, ChecksScreen)
        summary = str(screen.query_one("#checks-summary").render())
        assert "showing: problems (f)" in summary[:80]
        assert "0 unkn" not in summary  # a zero count in red reads as trouble that is not there
        assert "✔" in summary  # ok is always counted
        assert summary.index("crit") < summary.index("warn") < summary.index(" ok")  # worst first


async def test_pod_gpus_stay_under_their_header_on_a_wide_screen() -> None:
    async with kubernetes_app().run_test(size=WIDE) as pilot:
        await open_screen(pilot)
        pods = pilot.app.screen.query_one(K8sPodTable)
        # the last column took the spare width before: "1" and "2" sat 60 cells right of "GPUs"
        assert pods.shown_widths["gpus"] <= len("GPUs")


def colour(style: str) -> str:
    """The colour a style's text is drawn in, as the app draws ANSI colours (its dark theme)."""
    color = Style.parse(style).color
    assert color is not None
    return color.get_truecolor(MONOKAI).hex


def test_gpu_plots_are_not_drawn_in_a_status_colour() -> None:
    # 'Memory 27%' was drawn in the critical red and 'Temp 60°C' in the warning orange on a healthy GPU
    alarms = {colour(STATUS_STYLE[Status.CRITICAL]), colour(STATUS_STYLE[Status.WARNING])}
    views = metric_views(GpuReading(0, "GPU-0", "NVIDIA H100 80GB HBM3"), lambda index, metric: [(0.0, 1.0)])
    assert [view.label for view in views] == ["Util", "Memory", "Temp", "Power"]
    assert not {colour(view.style) for view in views} & alarms


def test_the_plot_palette_tells_eight_series_apart() -> None:
    # red drew as magenta, bright_green as green: series 2 and 6, 3 and 8 looked the same
    assert len({colour(style) for style in PALETTE}) == len(PALETTE) == 8


def keyed_tables() -> list[type[KeyedTable]]:
    """Every table of the console (each a KeyedTable in widgets/)."""
    for module in pkgutil.iter_modules(widgets.__path__):
        importlib.import_module(f"widgets.{module.name}")
    tables: list[type[KeyedTable]] = []
    pending = list(KeyedTable.__subclasses__())
    while pending:
        table = pending.pop()
        tables.append(table)
        pending += table.__subclasses__()
    assert len(tables) > 10
    return tables


def test_every_column_past_the_first_says_what_it_holds() -> None:
    # the tunnels table had a column of 'scraped' under no header; a first column of '✖ crit' needs none
    for table in keyed_tables():
        unnamed = [column.key for column in table.COLUMNS[1:] if not column.label.strip()]
        assert not unnamed, f"{table.__name__}: {unnamed}"


def test_no_table_has_two_columns_of_one_name() -> None:
    # the Slurm nodes table had 'Node' twice: the node's name and the GPUs its own poll sees
    for table in keyed_tables():
        labels = Counter(column.label for column in table.COLUMNS if column.label.strip())
        assert not [label for label, count in labels.items() if count > 1], table.__name__


async def test_a_pools_ready_count_is_whole_at_80_columns() -> None:
    # '▾ inferno.circle=1 · 0…' hid how many of the pool's nodes are Ready behind a cut label column
    async with kubernetes_app().run_test(size=(80, 24)) as pilot:
        await open_screen(pilot)
        nodes = pilot.app.screen.query_one(K8sNodeTable)
        header = nodes.cells("pool|inferno.circle=1")["node"].plain
        assert header.endswith("0/1 Ready")
        assert nodes.shown_widths["node"] >= len(header)


def test_a_gpu_with_no_history_says_so_with_a_dash() -> None:
    # a node read from Prometheus keeps no history: its 'Util history' cells were blank, as if not drawn yet
    cells = gpu_cells(GpuReading(0, "GPU-0", "NVIDIA H100 80GB HBM3"), lambda index, metric: [])
    assert cells["util_trend"].plain == "–"


async def test_the_racks_line_counts_racks(monkeypatch: pytest.MonkeyPatch) -> None:
    # '3 racks · ✔ 2 · ▲ 2 · ✖ 2' counted rack and PDU results: six statuses for three racks
    from tests import test_power_screen as power

    monkeypatch.setattr("screens.racks.read_pdus", power.recorded_pdus)
    async with power.app().run_test(size=(80, 24)) as pilot:
        await power.racks(pilot)
        summary = str(pilot.app.screen.query_one("#racks-summary").render())
        assert summary.startswith("3 racks")
        assert "✖ 1 crit ▲ 1 warn ✔ 1 ok" in summary
