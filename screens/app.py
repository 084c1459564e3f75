"""The Textual app: holds the session, owns the per-node poll tasks, and opens the screens.

Polls: one asyncio task per node in flight, rescheduled `interval` seconds after each
answer; never two polls of one node in flight. Only the nodes the active screen displays are polled: a node
whose turn comes while it is not shown (or while refresh is paused) waits, and is polled as soon as a
screen showing it is back. A poll that runs long is reported to the screen every SLOW_AFTER_S seconds, so a
slow or hung node shows that in place while the rest keeps moving. One timer (TICK_S) starts the polls
whose turn came and reports the slow ones: a timer per node (each an asyncio task) costs more than the
polls themselves on a 1,000-node fleet.

Answers are shown once per frame (FRAME_S; `batch_window_s` sets it, 0 shows each answer at once): every
answer that arrives within a frame, the latest per node, reaches the active screen in one
`show_snapshots` call inside one `batch_update`, so they cost one repaint. Only the active screen is
handed snapshots: a screen underneath does no work while hidden and redraws from the session's latest
snapshots when it is shown again (`catch_up`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.theme import Theme
from textual.timer import Timer

from console.actions import ActionError, ActionResult
from console.model.checks import CheckResult
from console.model.inventory import Inventory, Node
from console.model.node import NodeSnapshot
from console.session import ConsoleSession, state_dir
from screens.base import ConsoleScreen
from screens.commands import ConsoleCommands
from screens.heap import HeapKeeper
from screens.messages import ActionDone, NodePolled
from screens.slices import in_slices
from screens.svg import tidy_svg
from widgets.safe import ControlFilter, line, title

INTERVALS = (1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0)
SLOW_AFTER_S = 5.0
# One frame of the console's data: answers arriving within it are shown together, in one repaint. Long
# enough that a fleet answering all the time repaints a few times a second, not once per answer; short
# enough to be invisible at any refresh interval (the fastest is 1 s).
FRAME_S = 0.1
TICK_S = 0.1  # how often the one poll timer looks for nodes whose turn came (a poll starts up to this late)
SCREENSHOT_DEADLINE_S = 30.0
CLOSER_TIMEOUT_S = 2.0
SCREENSHOT_SETTLE_S = 0.3
SETTLE_ROUNDS = 10  # settled(): how many times a new poll or worker may start while it waits
_INTERVAL = Binding.Group("Interval", compact=True)


class OpsConsoleApp(App[None]):
    CSS_PATH = "console.tcss"
    TITLE = "opsconsole"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS = [
        Binding("p", "toggle_pause", "Pause"),
        Binding("r", "refresh_now", "Refresh"),
        Binding("plus", "interval(1)", "slower", key_display="+", group=_INTERVAL, show=False),
        Binding("minus", "interval(-1)", "faster", key_display="-", group=_INTERVAL, show=False),
        Binding("question_mark", "toggle_keys", "Keys", key_display="?"),
        Binding("ctrl+t", "change_theme", "Theme", show=False),
        Binding("ctrl+s", "screenshot_now", "Screenshot", show=False),
        Binding("q", "quit", "Quit", show=False),
        Binding("ctrl+q", "quit", "Quit", show=False),
    ]

    def __init__(
        self,
        session: ConsoleSession,
        *,
        node_names: Sequence[str] = (),
        screenshot: str | None = None,
        cursor_blink: bool = True,
        batch_window_s: float | None = None,
    ) -> None:
        super().__init__()
        self.session = session
        self.inventory: Inventory = session.inventory
        selected = [node for node in session.inventory.nodes if not node_names or node.name in node_names]
        self.nodes: dict[str, Node] = {node.name: node for node in selected}
        self.paused = False
        self.interval_override: float | None = None
        self.cursor_blink = cursor_blink
        self.batch_window_s = batch_window_s
        self._pending: dict[str, NodeSnapshot] = {}  # answers not shown yet: the latest per node
        self._frame_timer: Timer | None = None
        self.screenshot_path = screenshot
        self._screenshot_taken = False
        # What screens opened beside the session and must close before it (the tunnels' listeners).
        self.closers: list[Callable[[], Awaitable[None]]] = []
        self._in_flight: dict[str, float] = {}  # node -> when its poll started
        self._poll_tasks: dict[str, asyncio.Task[None]] = {}  # node -> its poll in flight
        self._unanswered: set[str] = set(self.nodes)  # nodes with no answer yet: the heap settles after
        self.heap = HeapKeeper()
        self._due_at: dict[str, float] = {}  # node -> when its next poll is due (monotonic)
        self._slow_at: dict[str, float] = {}  # node in flight -> when to report it slow (again)
        self._wanted: tuple[ConsoleScreen | None, frozenset[str]] | None = None
        self._waiting: set[str] = set(self.nodes)
        self.action_log: list[tuple[str, Text]] = []  # (node, line): actions asked and their results
        self.fleet_results: tuple[CheckResult, ...] | None = None  # the fleet's Prometheus checks, last asked
        # The last guard for remote text: no control character any widget renders reaches the terminal.
        self._filters.append(ControlFilter())

    # --- start and stop ------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.title = title(f"opsconsole — {self.inventory.name}")
        saved = self.session.theme
        if saved and saved in self.available_themes:
            self.theme = saved
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        from screens.fleet import FleetScreen

        self.heap.start()
        self.push_screen(FleetScreen())
        self.set_interval(TICK_S, self._tick, name="polls")
        if self.screenshot_path:
            self.set_timer(SCREENSHOT_DEADLINE_S, self._cli_screenshot)

    def _remember_theme(self, theme: Theme) -> None:
        self.session.remember_theme(theme.name)

    async def on_unmount(self) -> None:
        polls = list(self._poll_tasks.values())
        for task in polls:
            task.cancel()
        if polls:
            await asyncio.wait(polls, timeout=CLOSER_TIMEOUT_S)
        self.heap.release()
        for close in self.closers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(close(), CLOSER_TIMEOUT_S)
        await self.session.close()

    # --- polls ---------------------------------------------------------------------------------------

    def active_screen(self) -> ConsoleScreen | None:
        """The top screen that is not a modal (a confirm dialog or the palette does not change what shows)."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, ModalScreen):
                continue
            return screen if isinstance(screen, ConsoleScreen) else None
        return None

    def wanted(self) -> frozenset[str]:
        """The nodes the active screen shows (kept until the screen changes or the next tick: asked once
        per answer, it would cost a pass over the fleet per answer)."""
        screen = self.active_screen()
        if self._wanted is None or self._wanted[0] is not screen:
            names = screen.polled_nodes() if screen is not None else ()
            self._wanted = (screen, frozenset(name for name in names if name in self.nodes))
        return self._wanted[1]

    def interval_for(self, node: Node) -> float:
        return self.interval_override or node.refresh

    @property
    def base_interval(self) -> float:
        return self.interval_override or min((node.refresh for node in self.nodes.values()), default=5.0)

    def in_flight(self, name: str) -> bool:
        return name in self._in_flight

    def wake_polls(self) -> None:
        """Poll every shown node whose turn came while it was not shown (or refresh was paused)."""
        if self.paused:
            return
        for name in sorted(self._waiting & self.wanted()):
            self.poll_node(name)

    def poll_node(self, name: str, *, force: bool = False) -> None:
        """Start a poll unless one is in flight: never two polls of one node at once."""
        if name in self._in_flight or name not in self.nodes:
            return
        self._due_at.pop(name, None)
        self._waiting.discard(name)
        started = time.monotonic()
        self._in_flight[name] = started
        self._slow_at[name] = started + SLOW_AFTER_S
        # A plain task, not a Textual worker: a worker per poll (its state messages, its manager's
        # bookkeeping) cost a fifth of the console's CPU on a 300-node fleet. `settled()` waits for them.
        task = asyncio.create_task(self._poll_once(self.nodes[name], force), name=f"poll {name}")
        self._poll_tasks[name] = task
        task.add_done_callback(functools.partial(self._poll_ended, name))

    def _poll_ended(self, name: str, task: asyncio.Task[None]) -> None:
        if self._poll_tasks.get(name) is task:
            del self._poll_tasks[name]
        if not task.cancelled() and (error := task.exception()) is not None:
            self.log.error(f"poll of {name} failed: {error!r}")  # session.poll never raises: a console bug

    def cancel_poll(self, name: str) -> None:
        """Cancel the node's poll in flight, if any (a cancelled poll records nothing)."""
        task = self._poll_tasks.get(name)
        if task is not None:
            task.cancel()

    async def settled(self) -> None:
        """Wait until no poll is in flight and the app's workers have finished (what the pilot tests and
        the demo's screenshots wait for); a poll or worker started meanwhile is waited for too."""
        for _ in range(SETTLE_ROUNDS):
            if self._poll_tasks:
                await asyncio.wait(list(self._poll_tasks.values()))
            await self.workers.wait_for_complete()
            if not self._poll_tasks:
                return

    async def _poll_once(self, node: Node, force: bool) -> None:
        try:
            snapshot = await self.session.poll(node, force=force)
        finally:
            self._in_flight.pop(node.name, None)
            self._slow_at.pop(node.name, None)
        # Handed over as data, not as a message: a message per poll cost more than drawing its row. The
        # frame timer draws it (no widget is touched from here).
        self._answered(snapshot, draw_now=False)

    def _closing_down(self) -> bool:
        return self._exit or not self.is_running

    def _tick(self) -> None:
        """Start the polls whose turn came; tell the screen about polls running long (every SLOW_AFTER_S)."""
        if self._closing_down():
            return
        now = time.monotonic()
        self._wanted = None  # a screen may change what it shows: look again once per tick
        for name in [name for name, at in self._due_at.items() if at <= now]:
            del self._due_at[name]
            self._due(name)
        for name in [name for name, at in self._slow_at.items() if at <= now]:
            self._slow_at[name] += SLOW_AFTER_S
            screen = self.active_screen()
            if screen is not None:
                screen.show_slow(name, now - self._in_flight[name])

    def on_node_polled(self, message: NodePolled) -> None:
        self._answered(message.snapshot, draw_now=True)

    def _answered(self, snapshot: NodeSnapshot, *, draw_now: bool) -> None:
        """A poll's answer joins the frame's pending ones (the latest per node); the frame timer shows them.
        Without a frame (batch_window_s 0) it is shown now, or at the next turn of the loop from a poll."""
        name = snapshot.node
        if name not in self.nodes or self._closing_down():
            return
        self._schedule(name)
        self._pending[name] = snapshot
        if self._unanswered:
            self._unanswered.discard(name)
            if not self._unanswered:
                self.set_timer(2 * FRAME_S, self._first_round_drawn, name="first-round")
        frame = FRAME_S if self.batch_window_s is None else self.batch_window_s
        if frame <= 0:
            if draw_now:
                self._show_pending()
            else:
                self.call_later(self._show_pending)
        elif self._frame_timer is None:
            self._frame_timer = self.set_timer(frame, self._show_pending, name="show-snapshots")

    def _show_pending(self) -> None:
        """The frame is over: hand the active screen the answers for the nodes it shows, in one update.
        A frame's work is cut into slices of SLICE_S: past that, what is left waits for the next turn of the
        event loop, so a key pressed meanwhile moves the cursor before the rest of a large fleet is drawn."""
        self._frame_timer = None
        if self._closing_down():  # its screens are being taken apart
            self._pending.clear()
            return
        screen = self.active_screen()
        if screen is not None:
            shown = self.wanted()
            snapshots = [snapshot for name, snapshot in self._pending.items() if name in shown]
            self._pending.clear()
            with self.batch_update():
                done = in_slices(snapshots, screen.show_snapshots)
            if done < len(snapshots):  # newer answers that came meanwhile replace these
                self._pending = {s.node: s for s in snapshots[done:]} | self._pending
                self._frame_timer = self.set_timer(0.001, self._show_pending, name="show-snapshots")
        else:
            self._pending.clear()
        if self.screenshot_path and all(
            n in self.session.latest and n not in self._in_flight for n in self.wanted()
        ):
            self.set_timer(SCREENSHOT_SETTLE_S, self._cli_screenshot)  # let the footer and last rows paint

    def _first_round_drawn(self) -> None:
        """Every node answered once and its row is drawn: the long-lived heap is settled."""
        if self._pending:  # the last answers are still being handed over in slices
            self.set_timer(2 * FRAME_S, self._first_round_drawn, name="first-round")
            return
        self.heap.settled()

    def _schedule(self, name: str) -> None:
        if self.paused or name not in self.wanted():
            self._waiting.add(name)
            return
        self._due_at[name] = time.monotonic() + self.interval_for(self.nodes[name])

    def _due(self, name: str) -> None:
        if self.paused or name not in self.wanted():
            self._waiting.add(name)
            return
        self.poll_node(name)

    # --- actions -------------------------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if self.paused:
            self._waiting.update(self._due_at)
            self._due_at.clear()
        self._tell_screens()
        self.notify("refresh paused: p resumes" if self.paused else "refresh resumed", timeout=2)
        screen = self.active_screen()
        if not self.paused and screen is not None:
            screen.catch_up()  # screens with polls of their own (Prometheus) pick them up again
        self.wake_polls()

    def action_refresh_now(self) -> None:
        for name in sorted(self.wanted()):
            self.poll_node(name, force=True)
        screen = self.active_screen()
        if screen is not None:
            screen.refresh_now()

    def action_interval(self, direction: int) -> None:
        current = self.base_interval
        if direction > 0:
            chosen = next((step for step in INTERVALS if step > current), INTERVALS[-1])
        else:
            chosen = next((step for step in reversed(INTERVALS) if step < current), INTERVALS[0])
        self.interval_override = chosen
        retimed = time.monotonic() + chosen
        for name in self._due_at:  # retime what is waiting for its turn
            self._due_at[name] = retimed
        self._tell_screens()
        self.notify(f"refresh every {chosen:g}s", timeout=2)

    def _tell_screens(self) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, ConsoleScreen):
                screen.show_status()

    def action_toggle_keys(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def restart_container(self, node: Node, container: str, *, confirmed: bool) -> None:
        """After the confirm dialog: restart in an app worker (leaving the screen does not cancel it)."""
        stamp = f"{self.session.now():%H:%M:%S}"
        if not confirmed:
            self._log_action(node.name, line(f"{stamp}  restart {container}: cancelled, nothing done", "dim"))
            return
        self._log_action(node.name, line(f"{stamp}  restart {container}: requested…", "yellow"))
        self.run_worker(
            self._restart(node, container),
            name=f"restart {container} on {node.name}",
            group=f"action-{node.name}-{container}",
            exclusive=True,
            exit_on_error=False,
        )

    async def _restart(self, node: Node, container: str) -> None:
        try:
            result = await self.session.restart_container(node, container, confirmed=True)
        except ActionError as exc:
            result = ActionResult(node.name, "docker.restart", container, "", False, str(exc))
        self.post_message(ActionDone(result))

    def on_action_done(self, message: ActionDone) -> None:
        result = message.result
        stamp = f"{self.session.now():%H:%M:%S}"
        verdict = "✔ ok" if result.ok else "✖ FAILED"
        # The target and the detail come from the node (a container name, Docker's error): text, never markup.
        style = "green" if result.ok else "bold red"
        logged = f"{stamp}  restart {result.target}: {verdict}: {result.detail}"
        self._log_action(result.node, line(logged, style))
        said = line(f"{result.target} on {result.node}: {verdict}: {result.detail}").plain
        self.notify(said, severity="information" if result.ok else "error", timeout=6, markup=False)
        for screen in self.screen_stack:
            if isinstance(screen, ConsoleScreen):
                screen.show_action(result)
        self.poll_node(result.node, force=True)  # show the container's new state at once

    def _log_action(self, node: str, line: Text) -> None:
        self.action_log.append((node, line))
        del self.action_log[:-100]

    def open_node(self, name: str, tab: str | None = None) -> None:
        """The node's screen: an inventory node's, or the Prometheus view of a node only its series name
        (no SSH: `tab` does not apply)."""
        from screens.node import NodeScreen

        if name in self.nodes:
            self._pop_to_fleet()
            self.push_screen(NodeScreen(self.nodes[name], tab=tab))
        elif (found := self.discovered_nodes().get(name)) is not None:
            from screens.prom_node import PromNodeScreen

            self._pop_to_fleet()
            self.push_screen(PromNodeScreen(found))

    def discovered_nodes(self) -> dict[str, Node]:
        """The nodes read from Prometheus (`fleet: {source: prometheus}`) that the inventory does not list."""
        fleet = self.session.prom_fleet
        return fleet.nodes if fleet is not None else {}

    def action_open_promql(self) -> None:
        from screens.promql import PromQLScreen

        self._pop_to_fleet()
        self.push_screen(PromQLScreen())

    def action_open_checks(self) -> None:
        self.open_checks()

    def open_checks(self, *, status_filter: str = "all", scope: str = "all") -> None:
        """The checks screen; `scope="prometheus"`: only the fleet's Prometheus results (alerts, targets)."""
        from screens.checks import ChecksScreen

        self._pop_to_fleet()
        self.push_screen(ChecksScreen(status_filter=status_filter, scope=scope))

    def action_open_fleet(self) -> None:
        self._pop_to_fleet()

    def _pop_to_fleet(self) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()

    # --- screenshots ---------------------------------------------------------------------------------

    def save_screenshot_to(self, path: str | Path) -> str:
        """Save an SVG of the current screen at `path` (for `--screenshot PATH` and bug reports)."""
        target = Path(path).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        saved = self.save_screenshot(filename=target.name, path=str(target.parent))
        Path(saved).write_text(tidy_svg(Path(saved).read_text(encoding="utf-8")), encoding="utf-8")
        return saved

    def action_screenshot_now(self) -> None:
        screen = type(self.screen).__name__.removesuffix("Screen").lower() or "screen"
        stamp = datetime.now().astimezone().strftime("%Y%m%dT%H%M%S")
        saved = self.save_screenshot_to(state_dir() / "screenshots" / f"opsconsole-{screen}-{stamp}.svg")
        self.notify(f"screenshot saved: {saved}", timeout=6, markup=False)

    def _cli_screenshot(self) -> None:
        if self._screenshot_taken or not self.screenshot_path:
            return
        self._screenshot_taken = True
        self.save_screenshot_to(self.screenshot_path)
        self.exit()

    def get_system_commands(self, screen: Screen[object]):  # type: ignore[no-untyped-def]
        yield from super().get_system_commands(screen)
        yield SystemCommand("Pause or resume refresh", "p: stop or restart polling", self.action_toggle_pause)
        yield SystemCommand("Refresh now", "r: poll the shown nodes now", self.action_refresh_now)


def run_app(
    inventory: Inventory,
    *,
    node_names: Sequence[str] = (),
    screenshot: str | None = None,
    size: tuple[int, int] = (160, 48),
) -> int:
    """Run the console on the live fleet; with `screenshot`, headless: save an SVG of the fleet once every
    node answered (or after SCREENSHOT_DEADLINE_S) and exit."""
    nodes = [node for node in inventory.nodes if not node_names or node.name in node_names]
    app = OpsConsoleApp(ConsoleSession.live(inventory, nodes), node_names=node_names, screenshot=screenshot)
    if screenshot:
        app.run(headless=True, size=size)
    else:
        app.run()
    return app.return_code or 0
