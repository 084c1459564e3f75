"""What a look at the screens found that a snapshot alone does not hold: a pilot test per defect."""

from __future__ import annotations

from screens.checks import ChecksScreen
from tests.test_kubernetes_screen import WIDE, open_screen
from tests.test_kubernetes_screen import app as kubernetes_app
from tests.tui_pilot import make_app, settle
from widgets.k8s_tables import K8sPodTable


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


async def test_pod_gpus_stay_under_their_header_on_a_wide_screen() -> None:
    async with kubernetes_app().run_test(size=WIDE) as pilot:
        await open_screen(pilot)
        pods = pilot.app.screen.query_one(K8sPodTable)
        # the last column took the spare width before: "1" and "2" sat 60 cells right of "GPUs"
        assert pods.shown_widths["gpus"] <= len("GPUs")
