"""Node data never drives the operator's terminal: every screen of a fleet whose nodes send escape sequences,
BEL, markup and newlines in every field (tests/hostile_fleet.py) shows them as visible text.

The values reach the screens raw, as from a collector that skipped console/text.py. Each screen is checked
with the app's last-line control filter removed, so what is asserted is that the screens themselves build
plain Text with the controls made visible; the filter is tested on its own below.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.pilot import Pilot
from textual.widgets import Static
from textual.widgets._toast import Toast

from screens.app import OpsConsoleApp
from screens.checks import ChecksScreen
from screens.confirm import ConfirmScreen
from tests.hostile_fleet import CONTAINER, hostile_fleet
from widgets.safe import ControlFilter, safe_text

WIDE = (160, 48)
RAW = ("\x1b", "\x07", "\x9b", "\x9d")
VISIBLE = "\\x1b]0;pwned"  # what the operator sees instead of a retitled window


def app_without_guard() -> OpsConsoleApp:
    app = OpsConsoleApp(hostile_fleet().session(), cursor_blink=False, batch_window_s=0)
    app._filters = [f for f in app._filters if not isinstance(f, ControlFilter)]
    return app


async def settle(pilot: Pilot[None]) -> None:
    await pilot.app.settled()
    await pilot.pause()
    await pilot.pause()


async def fleet(pilot: Pilot[None]) -> None:
    await settle(pilot)


def tab(name: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def open_tab(pilot: Pilot[None]) -> None:
        await settle(pilot)
        pilot.app.open_node("evil", tab=name)  # type: ignore[attr-defined]
        await settle(pilot)

    return open_tab


async def checks(pilot: Pilot[None]) -> None:
    await settle(pilot)
    await pilot.press("c")
    await settle(pilot)


async def prometheus(pilot: Pilot[None]) -> None:
    await settle(pilot)
    await pilot.press("a")
    await settle(pilot)
    assert isinstance(pilot.app.screen, ChecksScreen)
    assert pilot.app.screen.scope == "prometheus"


async def confirm(pilot: Pilot[None]) -> None:
    await tab("containers")(pilot)
    await pilot.press("R")
    await pilot.pause()
    assert isinstance(pilot.app.screen, ConfirmScreen)


async def down(pilot: Pilot[None]) -> None:
    await settle(pilot)
    pilot.app.open_node("gone", tab="gpus")  # type: ignore[attr-defined]
    await settle(pilot)


SCREENS = {
    "fleet": fleet,
    "node-gpus": tab("gpus"),
    "node-containers": tab("containers"),
    "node-mounts": tab("mounts"),
    "node-services": tab("services"),
    "node-checks": tab("checks"),
    "node-down": down,
    "checks": checks,
    "checks-prometheus": prometheus,
    "confirm-restart": confirm,
}


@pytest.mark.parametrize("screen", list(SCREENS))
async def test_hostile_text_is_shown_never_obeyed(screen: str) -> None:
    app = app_without_guard()
    async with app.run_test(size=WIDE) as pilot:
        await SCREENS[screen](pilot)
        svg = app.export_screenshot()
        titles = [app.title, app.sub_title, app.screen.title or "", app.screen.sub_title or ""]
    for raw in RAW:
        assert raw not in svg, f"{raw!r} reached the terminal on {screen}"
        assert not any(raw in title for title in titles)
    assert VISIBLE in svg  # the node's text is there, readable, not silently dropped
    assert "[@click=app.quit]" not in svg or "[@click=app.quit]y" in svg  # shown literally, never an action
    assert "[bold&#160;red]z" in svg or "[bold&#160;r" in svg or "…" in svg  # markup stays text (or is cut)


async def test_markup_in_a_container_name_is_text_in_table_and_dialog() -> None:
    app = app_without_guard()
    async with app.run_test(size=WIDE) as pilot:
        await confirm(pilot)
        svg = app.export_screenshot()
    assert "[/]x[@click=app.quit]y" in svg  # the name as written, in the dialog's question and the table


async def test_a_failing_restart_with_markup_in_its_detail_is_reported_not_crashed() -> None:
    fleet_data = hostile_fleet()
    app = OpsConsoleApp(fleet_data.session(), cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await tab("containers")(pilot)
        await pilot.press("R")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert fleet_data.actions.restarts == [("evil", CONTAINER)]
        await pilot.pause(0.1)
        notes = list(app._notifications)
        toasts = list(app.screen.query(Toast))
        shown = " ".join(str(toast.render()) for toast in toasts)
        log = str(app.screen.query_one("#action-log", Static).render())
        svg = app.export_screenshot()
    assert [note.markup for note in notes] == [False]
    assert toasts  # the toast was drawn (a MarkupError would have ended the app here)
    assert "✖ FAILED" in shown
    assert "[@click=app.quit]" in shown  # the detail as text: Textual did not parse it as markup
    assert "\x1b" not in shown
    assert "\\x1b]0;pwned" in log
    assert "\x1b" not in svg


def test_safe_text_keeps_styles_and_shows_controls() -> None:
    text = Text.assemble(("ok ", "green"), ("\x1b[2Jgone", "bold red"), " \x9bend")
    safe = safe_text(text)
    assert safe.plain == "ok \\x1b[2Jgone \\x9bend"
    assert [(safe.plain[s.start : s.end], str(s.style)) for s in safe.spans] == [
        ("ok ", "green"),
        ("\\x1b[2Jgone", "bold red"),
    ]
    assert safe_text(Text("a\nb"), multiline=True).plain == "a\nb"
    assert safe_text(Text("a\nb")).plain == "a\\nb"
    clean = Text("nothing to do")
    assert safe_text(clean) is clean


def test_the_control_filter_drops_every_terminal_control_and_moves_nothing() -> None:
    segments = [Segment("ab\x1b]0;t\x07c", Style(bold=True)), Segment("\x9b2J\x1b[2Jd")]
    out = ControlFilter().apply(segments, Color(0, 0, 0))
    assert [segment.text for segment in out] == ["ab]0;tc", "2J[2Jd"]
    assert out[0].style == Style(bold=True)
    assert sum(segment.cell_length for segment in out) == sum(segment.cell_length for segment in segments)
    plain = [Segment("fine")]
    assert ControlFilter().apply(plain, Color(0, 0, 0)) is plain
