"""The log view's screen states, keys and hostile lines, on a scripted stand-in for the log stream.

`ScriptedLogs` replaces the session's `stream_logs` (console/actions/logs.py's events: LogStatus, LogLine):
each open is recorded with its LogQuery and yields exactly what the test puts, when it puts it, so every
state the screen shows (connecting, following with no output yet, restarted and reconnected, ended) is
reached deterministically. The real stream against the real dockerd is in tests/test_log_screen_lab.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult
from textual.events import Mount
from textual.pilot import Pilot
from textual.widgets import Static

import screens.app
from console.actions import ActionError
from console.actions.logs import LogLine, LogQuery, LogStatus
from console.demo.fleet import recorded_fleet
from console.inventory.model import Node
from screens.app import OpsConsoleApp
from screens.logs import LogScreen
from widgets.log_view import LogView

HOSTILE = (
    "\x1b]0;pwned\x07title",  # OSC 0: retitle the window
    "\x1b]52;c;cm0gLXJmIH4=\x07clip",  # OSC 52: write the clipboard
    "before\x1b[2Jafter",  # CSI 2J: wipe the screen
    "bell\x07",
    "[/]x[@click=app.quit]y",  # markup: must show literally, never parse (or crash)
    "one\ntwo",  # a newline inside one record: two lines, neither forged into the status
)
_END = object()


class ScriptedLogs:
    """`session.stream_logs`: each call is one stream; `put` feeds the newest one (`_END` ends it)."""

    def __init__(self) -> None:
        self.queries: list[LogQuery] = []
        self.queues: list[asyncio.Queue[object]] = []
        self.closed = 0

    def __call__(self, node: Node, container: str, query: LogQuery) -> AsyncIterator[object]:
        self.queries.append(query)
        queue: asyncio.Queue[object] = asyncio.Queue()
        self.queues.append(queue)

        async def stream() -> AsyncIterator[object]:
            try:
                while True:
                    item = await queue.get()
                    if item is _END:
                        return
                    if isinstance(item, Exception):
                        raise item
                    yield item
            finally:
                self.closed += 1

        return stream()

    def put(self, *items: object) -> None:
        for item in items:
            self.queues[-1].put_nowait(item)


class LogsApp(OpsConsoleApp):
    """The console with only the log screen on top (no fleet screen, no polls it would start)."""

    CSS_PATH = str(Path(screens.app.__file__).with_name("console.tcss"))

    def __init__(self, logs: ScriptedLogs, **screen_options: object) -> None:
        fleet = recorded_fleet()
        session = fleet.session()
        session.stream_logs = logs  # type: ignore[method-assign,assignment]
        super().__init__(session, cursor_blink=False, batch_window_s=0)
        self.node = fleet.inventory.nodes[0]
        self.screen_options = screen_options

    def on_mount(self, event: Mount) -> None:  # type: ignore[override]
        event.prevent_default()  # not the fleet screen
        self.push_screen(LogScreen(self.node, "comfyui", **screen_options_of(self)))


def screen_options_of(app: LogsApp) -> dict[str, int]:
    return {key: int(value) for key, value in app.screen_options.items()}  # type: ignore[call-overload]


async def until(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.01)


def status(app: App[None]) -> str:
    rendered = app.screen.query_one("#log-status", Static).render()
    return rendered.plain if isinstance(rendered, Text) else str(rendered)


def drawn(view: LogView) -> list[str]:
    """The rows the view renders on screen (its strips: what goes to the terminal), as plain text."""
    return view.visible_text()


def connecting() -> LogStatus:
    return LogStatus("connecting", "connecting to gpu1…")


def following(no_output: bool = True) -> LogStatus:
    return LogStatus("following", "following last 100 lines" + (", no output yet" if no_output else ""))


async def test_a_quiet_container_says_following_not_connecting() -> None:
    logs = ScriptedLogs()
    app = LogsApp(logs)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: len(logs.queues) == 1)
        assert "connecting to gpu1…" in status(app)
        logs.put(connecting(), following())
        await until(pilot, lambda: "following, no output yet" in status(app))
        assert "0 lines" in status(app)
        logs.put(LogLine("first words"))
        await until(pilot, lambda: "1 lines" in status(app))
        assert "no output yet" not in status(app)
        assert "● following" in status(app)
        assert logs.queries == [LogQuery(tail=100, since=None, follow=True)]


async def test_progress_bars_hostile_lines_and_markup_render_as_plain_text() -> None:
    logs = ScriptedLogs()
    app = LogsApp(logs)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: len(logs.queues) == 1)
        # the backend cleans lines; the view cleans again, so a backend that did not is still safe
        logs.put(following(), *(LogLine(line) for line in HOSTILE), LogLine("10%\r50%\r100% done"))
        view = app.screen.query_one(LogView)
        await until(pilot, lambda: len(view.lines_kept) == 8)
        await pilot.pause()
        shown = drawn(view)
        text = "\n".join(shown)
        assert len(shown) == 8
        for control in ("\x1b", "\x07", "\r"):
            assert control not in text
        assert "\\x1b]0;pwned\\x07title" in text  # visible, not acted on
        assert "before\\x1b[2Jafter" in text
        assert "[/]x[@click=app.quit]y" in text  # markup shown as written
        assert [line.rstrip() for line in shown[5:7]] == ["one", "two"]
        assert shown[7].rstrip() == "100% done"  # a \r progress bar is its last redraw, one line
        assert app.is_running  # the markup did not crash anything
        # the search box echoes into the status: cleaned there too
        await pilot.press("slash", "[", "/", "]")
        await pilot.pause()
        assert 'search "[/]": 1 matching' in status(app)


async def test_bounded_lines_say_how_many_were_dropped() -> None:
    logs = ScriptedLogs()
    app = LogsApp(logs, max_lines=50)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: len(logs.queues) == 1)
        logs.put(following(), *(LogLine(f"line {n}") for n in range(130)))
        view = app.screen.query_one(LogView)
        await until(pilot, lambda: view.dropped == 80)
        await pilot.pause()
        assert list(view.lines_kept) == [f"line {n}" for n in range(80, 130)]
        assert view.virtual_size.height == 50  # what can be scrolled to is bounded too
        assert drawn(view)[-1] == "line 129"  # following the end
        assert "50 lines (last 50 kept, 80 older dropped)" in status(app)


async def test_restart_reconnects_and_says_so() -> None:
    logs = ScriptedLogs()
    app = LogsApp(logs)
    async with app.run_test(size=(140, 30)) as pilot:
        await until(pilot, lambda: len(logs.queues) == 1)
        logs.put(following(), LogLine("before the restart"))
        await until(pilot, lambda: "1 lines" in status(app))
        logs.put(LogStatus("waiting", "comfyui is exited: waiting for it to start again"))
        await until(pilot, lambda: "↻ comfyui is exited: waiting for it to start again" in status(app))
        logs.put(LogStatus("reconnecting", "comfyui is running: reconnecting"))
        await until(pilot, lambda: "↻ comfyui is running: reconnecting" in status(app))
        logs.put(following(no_output=False), LogLine("after the restart"))
        await until(pilot, lambda: "container restarted, reconnected at 12:00:00" in status(app))
        view = app.screen.query_one(LogView)
        await until(pilot, lambda: len(view.lines_kept) == 2)
        assert list(view.lines_kept) == ["before the restart", "after the restart"]
        assert len(logs.queries) == 1  # the backend reconnected: one stream, no new tail


async def test_stream_end_and_errors_are_shown_and_r_reconnects() -> None:
    logs = ScriptedLogs()
    app = LogsApp(logs)
    async with app.run_test(size=(140, 30)) as pilot:
        await until(pilot, lambda: len(logs.queues) == 1)
        logs.put(following(), LogStatus("ended", "comfyui was removed"), _END)
        await until(pilot, lambda: "■ comfyui was removed · r reconnects" in status(app))
        await pilot.press("r")
        await until(pilot, lambda: len(logs.queues) == 2)
        assert "connecting to gpu1…" in status(app)
        logs.put(ActionError("gpu1: logs of comfyui: no container 'comfyui'\x1b[2J"))
        await until(pilot, lambda: "✖" in status(app))
        assert "✖ gpu1: logs of comfyui: no container 'comfyui'\\x1b[2J · r retries" in status(app)


async def test_timestamps_toggle_with_t() -> None:
    logs = ScriptedLogs()
    app = LogsApp(logs)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: len(logs.queues) == 1)
        when = datetime(2026, 11, 22, 11, 59, 58, 123456, tzinfo=UTC)
        logs.put(following(), LogLine("stamped", time=when), LogLine("unstamped"))
        view = app.screen.query_one(LogView)
        await until(pilot, lambda: len(view.lines_kept) == 2)
        await pilot.pause()
        assert [line.rstrip() for line in drawn(view)] == ["stamped", "unstamped"]
        await pilot.press("t")
        await pilot.pause()
        assert [line.rstrip() for line in drawn(view)] == [
            "2026-11-22T11:59:58.123Z stamped",
            "–                        unstamped",
        ]
        assert "timestamps UTC (t)" in status(app)
        await pilot.press("t")
        await pilot.pause()
        assert drawn(view)[0].rstrip() == "stamped"


async def test_tail_and_since_choices_reopen_the_stream() -> None:
    logs = ScriptedLogs()
    app = LogsApp(logs)
    async with app.run_test(size=(140, 30)) as pilot:
        await until(pilot, lambda: len(logs.queues) == 1)
        logs.put(following(), LogLine("old stream"))
        view = app.screen.query_one(LogView)
        await until(pilot, lambda: len(view.lines_kept) == 1)
        assert "tail 100 (n) · since any time (s)" in status(app)
        await pilot.press("n")
        await until(pilot, lambda: len(logs.queues) == 2)
        assert list(view.lines_kept) == []  # a new read from the start
        await pilot.press("n", "s", "s", "s", "s")
        await until(pilot, lambda: len(logs.queries) == 7)
        assert [(q.tail, q.since) for q in logs.queries] == [
            (100, None),
            (1000, None),
            (None, None),
            (None, 600.0),
            (None, 3600.0),
            (None, 86400.0),
            (None, None),
        ]
        await pilot.press("s", "s")
        await until(pilot, lambda: len(logs.queries) == 9)
        assert "tail all (n) · since 1h (s)" in status(app)
        await until(pilot, lambda: logs.closed == 8)  # every replaced stream was closed
        logs.queues[0].put_nowait(LogLine("late line of a closed stream"))
        await pilot.pause(0.05)
        assert "late line of a closed stream" not in view.lines_kept


class ViewApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LogView(max_lines=10)


async def test_the_view_cleans_and_bounds_on_its_own() -> None:
    async with ViewApp().run_test(size=(80, 20)) as pilot:
        view = pilot.app.query_one(LogView)
        view.add_lines(HOSTILE)
        view.add_lines(f"n{n}" for n in range(5))
        await pilot.pause()
        assert len(view.lines_kept) == 10
        assert view.dropped == 2
        text = "\n".join(drawn(view))
        assert "\x1b" not in text
        assert "\x07" not in text
        assert "before\\x1b[2Jafter" in text  # the oldest two (OSC 0, OSC 52) were dropped
